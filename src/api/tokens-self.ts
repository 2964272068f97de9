import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { AppError } from '../errors';
import { managementAuth } from '../http/authenticate';
import { loadToken } from '../tokens/access';
import { revokeToken } from '../tokens/service';
import { serviceDeps } from './deps';
import { ETAG_HEADER, tokenHeaders } from './etag';
import { errorResponses, TokenResource, toTokenResource } from './schemas';

// The calling PAT itself (GitLab's /personal_access_tokens/self): inspect it, or revoke it (for example from a
// CI job that suspects a leak). Only a PAT can call these, and holding it is the authority: a service token can
// see and revoke itself although its service account's role has no rights on service tokens.

function selfTokenId(c: Context<AppEnv>): string {
  const { tokenId } = c.get('caller');
  if (!tokenId) {
    throw new AppError(400, 'pat_required', 'PAT required', {
      detail: 'Call this with the personal access token itself.',
    });
  }
  return tokenId;
}

const getRoute = createRoute({
  method: 'get',
  path: '/tokens/self',
  tags: ['Tokens'],
  summary: 'The token making this request',
  middleware: [managementAuth({ allowPat: true })] as const,
  responses: {
    200: {
      description: 'The calling token.',
      headers: ETAG_HEADER,
      content: { 'application/json': { schema: TokenResource } },
    },
    ...errorResponses(400, 401, 429, 503),
  },
});

const revokeRoute = createRoute({
  method: 'post',
  path: '/tokens/self/revoke',
  tags: ['Tokens'],
  summary: 'Revoke the token making this request',
  middleware: [managementAuth({ allowPat: true })] as const,
  responses: {
    200: {
      description: 'The token, now revoked.',
      headers: ETAG_HEADER,
      content: { 'application/json': { schema: TokenResource } },
    },
    ...errorResponses(400, 401, 429, 503),
  },
});

export function registerSelfRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(getRoute, async (c) => {
    const deps = serviceDeps(c);
    const row = (await loadToken(deps, c.get('caller').principal, selfTokenId(c), 'view', true)).row;
    return c.json(toTokenResource(row, deps.now), 200, tokenHeaders(row));
  });
  app.openapi(revokeRoute, async (c) => {
    const deps = serviceDeps(c);
    const row = await revokeToken(deps, c.get('caller').principal, selfTokenId(c), true);
    return c.json(toTokenResource(row, deps.now), 200, tokenHeaders(row));
  });
}
