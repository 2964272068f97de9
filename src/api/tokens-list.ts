import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { listTokens } from '../tokens/repository';
import { NO_STORE } from './deps';
import { errorResponses, ListTokensQuery, TokenPage, toTokenResource } from './schemas';

const route = createRoute({
  method: 'get',
  path: '/tokens',
  tags: ['Tokens'],
  summary: 'List your tokens',
  description: 'Your tokens, newest first by default; filter by status, search by name, keyset pagination.',
  middleware: [managementAuth()] as const,
  request: { query: ListTokensQuery },
  responses: {
    200: { description: 'A page of tokens.', content: { 'application/json': { schema: TokenPage } } },
    ...errorResponses(400, 401, 403, 503),
  },
});

export function registerListTokens(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const q = c.req.valid('query');
    const now = Date.now();
    const page = await listTokens(
      c.get('db'),
      {
        ownerId: c.get('caller').principal.id,
        status: q.status,
        search: q.q,
        expiringWithinDays: q.expiring_within_days,
        sort: q.sort,
        limit: q.limit,
        cursor: q.cursor,
      },
      now,
    );
    return c.json(
      { data: page.data.map((row) => toTokenResource(row, now)), next_cursor: page.nextCursor },
      200,
      NO_STORE,
    );
  });
}
