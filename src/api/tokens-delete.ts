import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { deleteToken } from '../tokens/service';
import { serviceDeps } from './deps';
import { IfMatchHeader, ifMatch } from './etag';
import { errorResponses, TokenIdParam } from './schemas';

const route = createRoute({
  method: 'delete',
  path: '/tokens/{id}',
  tags: ['Tokens'],
  summary: 'Delete a token permanently',
  description:
    'Permanently deletes the token; it cannot be restored (seed 001). With `delete_requires_inactive` in the policy, an active token must be revoked first (409 `token_active`, seed 004). If another request changed the token meanwhile, nothing is deleted: 409 `token_changed`; with `If-Match`, 412 `precondition_failed` if anyone changed it since you read it.',
  middleware: [managementAuth()] as const,
  request: { params: TokenIdParam, headers: IfMatchHeader },
  responses: { 204: { description: 'Deleted.' }, ...errorResponses(400, 401, 403, 404, 409, 412, 503) },
});

export function registerDeleteToken(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    await deleteToken(serviceDeps(c), c.get('caller').principal, c.req.valid('param').id, ifMatch(c));
    return c.body(null, 204, { 'Cache-Control': 'no-store' });
  });
}
