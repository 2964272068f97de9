import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { updateToken } from '../tokens/service';
import { NO_STORE, serviceDeps } from './deps';
import {
  descriptionSchema,
  errorResponses,
  expiresAtSchema,
  expiresInDaysSchema,
  nameSchema,
  TokenIdParam,
  TokenResource,
  toTokenResource,
} from './schemas';

export const UpdateTokenBody = z
  .object({
    name: nameSchema.optional().openapi({
      description:
        'A new name: 1–100 characters after trimming and Unicode NFC normalization, single line, not only invisible characters; unique among the owner’s tokens (case-insensitive).',
    }),
    description: descriptionSchema.optional(),
    expires_at: expiresAtSchema.optional(),
    expires_in_days: expiresInDaysSchema.optional(),
  })
  .strict()
  .openapi('UpdateTokenRequest');

const route = createRoute({
  method: 'patch',
  path: '/tokens/{id}',
  tags: ['Tokens'],
  summary: 'Edit a token',
  description:
    'Changes the name, description or expiration — expired tokens included (seed 001). Changing the expiration is refused when the policy makes it immutable (seed 002). If another request changed the token meanwhile (revoke, restore, rotate, edit), nothing is written: 409 `token_changed`.',
  middleware: [managementAuth()] as const,
  request: {
    params: TokenIdParam,
    body: { required: true, content: { 'application/json': { schema: UpdateTokenBody } } },
  },
  responses: {
    200: { description: 'The updated token.', content: { 'application/json': { schema: TokenResource } } },
    ...errorResponses(400, 401, 403, 404, 409, 415, 422, 503),
  },
});

export function registerUpdateToken(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const deps = serviceDeps(c);
    const row = await updateToken(
      deps,
      c.get('caller').principal,
      c.req.valid('param').id,
      c.req.valid('json'),
    );
    return c.json(toTokenResource(row, deps.now), 200, NO_STORE);
  });
}
