import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { AppError } from '../errors';
import { requestContext } from '../http/authenticate';
import { limiterFor } from '../lib/rate-limit';
import { revokeLeaked } from '../tokens/revocation';
import { NO_STORE, serviceDeps } from './deps';
import { errorResponses } from './schemas';

// Leak response, as GitHub's POST /credentials/revoke: anyone who finds tokens (a secret scanner, a person) can
// report up to 1000 at once without authenticating. The answer is always 202 and never says which were valid;
// the lookups and revocations run after the response, so timing says nothing either.

export const LEAK_LIMIT = { binding: 'LEAK_REPORT_LIMITER', limit: 10, periodSeconds: 60 };

const Body = z
  .object({
    credentials: z
      .array(z.string().max(255))
      .min(1)
      .max(1000)
      .openapi({ description: 'Token strings, at most 1000.' }),
  })
  .strict()
  .openapi('CredentialRevocationRequest');

const route = createRoute({
  method: 'post',
  path: '/credentials/revoke',
  tags: ['Leak response'],
  summary: 'Report leaked tokens (unauthenticated)',
  description: `Revokes every reported token that exists (reason \`leaked\`, audited). Always 202; rate limited to ${LEAK_LIMIT.limit} reports per ${LEAK_LIMIT.periodSeconds} s per client IP.`,
  security: [],
  request: { body: { required: true, content: { 'application/json': { schema: Body } } } },
  responses: {
    202: {
      description: 'Accepted.',
      content: { 'application/json': { schema: z.object({ message: z.string() }) } },
    },
    ...errorResponses(400, 415, 422, 429),
  },
});

export function registerCredentialRevocation(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const limiter = limiterFor(c.env, LEAK_LIMIT.binding, LEAK_LIMIT.limit, LEAK_LIMIT.periodSeconds);
    const ip = c.req.header('cf-connecting-ip') ?? 'unknown';
    if (!(await limiter.allow(`leak:${ip}`, Date.now()))) {
      throw new AppError(429, 'rate_limited', 'Too many requests', {
        detail: 'Too many leak reports from this address; try again later.',
        headers: { 'Retry-After': String(limiter.retryAfterSeconds) },
      });
    }
    const { credentials } = c.req.valid('json');
    c.set('audit', requestContext(c, { id: null, kind: 'anonymous' }));
    const deps = serviceDeps(c);
    c.executionCtx.waitUntil(
      revokeLeaked(deps, credentials).catch((error: unknown) =>
        console.error(JSON.stringify({ event: 'leak_revocation_failed', error: String(error) })),
      ),
    );
    return c.json({ message: 'Accepted. Any valid tokens among them are being revoked.' }, 202, NO_STORE);
  });
}
