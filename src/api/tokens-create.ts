import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { createToken } from '../tokens/service';
import { serviceDeps } from './deps';
import { CREATED_HEADERS, createdHeaders } from './etag';
import {
  CreatedToken,
  descriptionSchema,
  errorResponses,
  expiresAtSchema,
  expiresInDaysSchema,
  nameSchema,
  toTokenResource,
} from './schemas';

export const CreateTokenBody = z
  .object({
    name: nameSchema.openapi({
      description:
        'Required. 1–100 characters after trimming and Unicode NFC normalization, single line, not only invisible characters; unique among the owner’s tokens (case-insensitive).',
    }),
    description: descriptionSchema.optional(),
    expires_at: expiresAtSchema.optional(),
    expires_in_days: expiresInDaysSchema.optional(),
    scopes: z
      .array(z.string().max(64))
      .max(50)
      .optional()
      .openapi({ description: 'Defaults to every scope your role allows.', example: ['read'] }),
  })
  .strict()
  .openapi('CreateTokenRequest');

const route = createRoute({
  method: 'post',
  path: '/tokens',
  tags: ['Tokens'],
  summary: 'Create a token',
  description:
    'Creates a personal access token. The secret is in this response only (`Cache-Control: no-store`).',
  middleware: [managementAuth()] as const,
  request: { body: { required: true, content: { 'application/json': { schema: CreateTokenBody } } } },
  responses: {
    201: {
      headers: CREATED_HEADERS,
      description: 'Created. Store `token` now: it is never shown again.',
      content: { 'application/json': { schema: CreatedToken } },
    },
    ...errorResponses(400, 401, 403, 409, 415, 422, 503),
  },
});

export function registerCreateToken(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const deps = serviceDeps(c);
    const { principal } = c.get('caller');
    const { token, row } = await createToken(deps, principal, principal, c.req.valid('json'));
    return c.json({ ...toTokenResource(row, deps.now), token }, 201, createdHeaders(row));
  });
}
