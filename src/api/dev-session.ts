import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { signDevJwt } from '../auth/jwt';
import type { AppEnv } from '../env';
import { AppError } from '../errors';
import { NO_STORE } from './deps';
import { errorResponses, nameSchema } from './schemas';

// Local development only (ENVIRONMENT=development and DEV_SESSIONS=true; production config refuses the latter):
// a JWT for any user and role, signed with the local HS256 secret, so nobody needs an identity provider to try it.

const DevSessionBody = z
  .object({
    user: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'letters, digits and . _ @ -, at most 64')
      .openapi({ example: 'alice' }),
    role: z.enum(['admin', 'member']).default('member'),
    name: nameSchema.optional(),
    email: z.email().max(200).optional(),
  })
  .strict()
  .openapi('DevSessionRequest');

/** Outside development the endpoint does not exist, whatever the body: checked before the body is validated. */
const developmentOnly: MiddlewareHandler<AppEnv> = async function developmentOnly(c, next) {
  const config = c.get('config');
  if (config.environment !== 'development' || !config.devSessions) {
    throw new AppError(404, 'not_found', 'Not found', { detail: 'No such endpoint.' });
  }
  await next();
};

const route = createRoute({
  method: 'post',
  path: '/dev/session',
  tags: ['Development'],
  summary: 'Get a development identity (local only)',
  security: [],
  middleware: developmentOnly,
  description:
    'Returns a management JWT for any user and role. Answers 404 unless the deployment is in development mode.',
  request: { body: { required: true, content: { 'application/json': { schema: DevSessionBody } } } },
  responses: {
    200: {
      description: 'A JWT valid for 12 hours.',
      content: {
        'application/json': {
          schema: z.object({ token: z.string(), expires_at: z.string(), user: z.string(), role: z.string() }),
        },
      },
    },
    ...errorResponses(404, 415, 422),
  },
});

export function registerDevSession(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const config = c.get('config');
    const body = c.req.valid('json');
    const { token, expiresAt } = await signDevJwt(config.auth, {
      subject: body.user,
      role: body.role,
      name: body.name ?? body.user,
      email: body.email ?? null,
    });
    return c.json(
      { token, expires_at: new Date(expiresAt).toISOString(), user: body.user, role: body.role },
      200,
      NO_STORE,
    );
  });
}
