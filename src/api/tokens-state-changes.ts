import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { restoreToken, revokeToken } from '../tokens/service';
import { serviceDeps } from './deps';
import { ETAG_HEADER, IfMatchHeader, ifMatch, tokenHeaders } from './etag';
import { errorResponses, TokenIdParam, TokenResource, toTokenResource } from './schemas';

// Revoke and restore: the two status flips, each a POST on the token (seed 003's Revoke and Restore buttons).

const revokeRoute = createRoute({
  method: 'post',
  path: '/tokens/{id}/revoke',
  tags: ['Tokens'],
  summary: 'Revoke a token',
  description:
    'The token stops working at once in this isolate and within the KV propagation bound (about 60 s) everywhere else. It can be restored later.',
  middleware: [managementAuth()] as const,
  request: { params: TokenIdParam },
  responses: {
    200: {
      description: 'The revoked token.',
      headers: ETAG_HEADER,
      content: { 'application/json': { schema: TokenResource } },
    },
    ...errorResponses(400, 401, 403, 404, 409, 503),
  },
});

const restoreRoute = createRoute({
  method: 'post',
  path: '/tokens/{id}/restore',
  tags: ['Tokens'],
  summary: 'Restore a revoked token',
  description:
    'Makes a token revoked by its owner or an admin usable again if it has not expired (seed 003). Tokens revoked by rotation or a leak report cannot be restored. With `If-Match`, only if nobody changed the token since (412 otherwise).',
  middleware: [managementAuth()] as const,
  request: { params: TokenIdParam, headers: IfMatchHeader },
  responses: {
    200: {
      description: 'The restored token.',
      headers: ETAG_HEADER,
      content: { 'application/json': { schema: TokenResource } },
    },
    ...errorResponses(400, 401, 403, 404, 409, 412, 503),
  },
});

export function registerRevokeRestore(app: OpenAPIHono<AppEnv>) {
  app.openapi(revokeRoute, async (c) => {
    const deps = serviceDeps(c);
    const row = await revokeToken(deps, c.get('caller').principal, c.req.valid('param').id);
    return c.json(toTokenResource(row, deps.now), 200, tokenHeaders(row));
  });
  app.openapi(restoreRoute, async (c) => {
    const deps = serviceDeps(c);
    const row = await restoreToken(deps, c.get('caller').principal, c.req.valid('param').id, ifMatch(c));
    return c.json(toTokenResource(row, deps.now), 200, tokenHeaders(row));
  });
}
