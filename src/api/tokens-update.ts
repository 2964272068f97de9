import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { updateToken } from '../tokens/service';
import { serviceDeps } from './deps';
import { ETAG_HEADER, IfMatchHeader, ifMatch, tokenHeaders } from './etag';
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
    'Changes the name, description or expiration — expired tokens included (seed 001). Changing the expiration is refused when the policy makes it immutable (seed 002). If another request changed the token meanwhile (revoke, restore, rotate, edit), nothing is written: 409 `token_changed`. With `If-Match` (the token’s ETag as you read it), it is changed only if nobody changed it since: 412 `precondition_failed` otherwise.',
  middleware: [managementAuth()] as const,
  request: {
    params: TokenIdParam,
    headers: IfMatchHeader,
    body: { required: true, content: { 'application/json': { schema: UpdateTokenBody } } },
  },
  responses: {
    200: {
      description: 'The updated token.',
      headers: ETAG_HEADER,
      content: { 'application/json': { schema: TokenResource } },
    },
    ...errorResponses(400, 401, 403, 404, 409, 412, 415, 422, 503),
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
      ifMatch(c),
    );
    return c.json(toTokenResource(row, deps.now), 200, tokenHeaders(row));
  });
}
