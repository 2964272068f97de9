import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { rotateToken } from '../tokens/service';
import { serviceDeps } from './deps';
import { CREATED_HEADERS, createdHeaders, IfMatchHeader, ifMatch } from './etag';
import {
  CreatedToken,
  errorResponses,
  expiresAtSchema,
  expiresInDaysSchema,
  TokenIdParam,
  toTokenResource,
} from './schemas';

const RotateTokenBody = z
  .object({ expires_at: expiresAtSchema.optional(), expires_in_days: expiresInDaysSchema.optional() })
  .strict()
  .openapi('RotateTokenRequest');

/**
 * The body is optional, and many clients send an empty one labelled application/json: that counts as no body
 * rather than malformed JSON. The request the validator sees then carries no Content-Type, so it validates `{}`.
 */
const emptyBodyIsNone: MiddlewareHandler<AppEnv> = async (c, next) => {
  const raw = c.req.raw;
  if (raw.headers.has('content-type') && (await c.req.text()).trim() === '') {
    const headers = new Headers(raw.headers);
    headers.delete('content-type');
    c.req.raw = new Request(raw.url, { method: raw.method, headers });
  }
  await next();
};

const route = createRoute({
  method: 'post',
  path: '/tokens/{id}/rotate',
  tags: ['Tokens'],
  summary: 'Rotate a token',
  description:
    'Issues a new secret with the same name, description and scopes; the old token is revoked (reason `rotated`) and the new one links to it through `rotated_from_id`. The body is optional. With `If-Match`, only if nobody changed the token since (412 otherwise); a change that lands while the rotation runs is a 409 `token_changed`.',
  middleware: [managementAuth(), emptyBodyIsNone] as const,
  request: {
    params: TokenIdParam,
    headers: IfMatchHeader,
    body: { required: false, content: { 'application/json': { schema: RotateTokenBody } } },
  },
  responses: {
    201: {
      headers: CREATED_HEADERS,
      description: 'The new token, with its secret shown once.',
      content: { 'application/json': { schema: CreatedToken } },
    },
    ...errorResponses(400, 401, 403, 404, 409, 412, 415, 422, 503),
  },
});

export function registerRotateToken(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const deps = serviceDeps(c);
    const { token, row } = await rotateToken(
      deps,
      c.get('caller').principal,
      c.req.valid('param').id,
      c.req.valid('json') ?? {},
      ifMatch(c),
    );
    return c.json({ ...toTokenResource(row, deps.now), token }, 201, createdHeaders(row));
  });
}
