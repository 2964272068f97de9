import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { loadToken } from '../tokens/access';
import { serviceDeps } from './deps';
import { ETAG_HEADER, tokenHeaders } from './etag';
import { errorResponses, TokenIdParam, TokenResource, toTokenResource } from './schemas';

const route = createRoute({
  method: 'get',
  path: '/tokens/{id}',
  tags: ['Tokens'],
  summary: 'Get one of your tokens',
  description: "Another user's token answers 404, exactly like a missing one (admins may read any token).",
  middleware: [managementAuth()] as const,
  request: { params: TokenIdParam },
  responses: {
    200: {
      description: 'The token (never its secret).',
      headers: ETAG_HEADER,
      content: { 'application/json': { schema: TokenResource } },
    },
    ...errorResponses(400, 401, 403, 404, 503),
  },
});

export function registerGetToken(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const deps = serviceDeps(c);
    const { row } = await loadToken(deps, c.get('caller').principal, c.req.valid('param').id, 'view');
    return c.json(toTokenResource(row, deps.now), 200, tokenHeaders(row));
  });
}
