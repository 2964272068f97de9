import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../../env';
import { notFound } from '../../errors';
import { managementAuth } from '../../http/authenticate';
import { hashToken } from '../../tokens/hash';
import { findToken, findTokenStateByHash, findTokens, listTokens, SORTS } from '../../tokens/repository';
import { revokeMany } from '../../tokens/revocation';
import { deleteToken, restoreToken, revokeToken } from '../../tokens/service';
import { NO_STORE, serviceDeps } from '../deps';
import { ETAG_HEADER, IfMatchHeader, ifMatch, tokenHeaders } from '../etag';
import { cursorSchema, errorResponses, limitSchema, searchSchema } from '../schemas';
import { AdminToken, dateParam, requireAdmin, withOwners } from './common';

// The token inventory across owners (seed 004: admins see service tokens and the metadata — never the secret —
// of users' personal tokens), lookup by value and bulk revocation. Single-token revoke/restore/delete for admins
// are the ordinary /tokens/{id} operations; the permission matrix lets admins act on any token there.

/**
 * Each revoked token costs up to two KV writes (the tombstone and its resync), and a Worker invocation may make
 * about 1,000 KV operations: 400 ids per call stays safely inside that.
 */
const BULK_MAX = 400;

const InventoryQuery = z
  .object({
    owner_id: z.string().max(64).optional(),
    type: z.enum(['personal', 'service']).optional(),
    status: z.enum(['active', 'expired', 'revoked']).optional(),
    q: searchSchema.optional(),
    expiring_before: dateParam.openapi({ description: 'Tokens expiring before this date.' }),
    last_used_before: dateParam.openapi({
      description: 'Tokens last used (or never used) before this date.',
    }),
    sort: z.enum(SORTS).default('-created_at'),
    limit: limitSchema,
    cursor: cursorSchema,
  })
  .strict();

const listRoute = createRoute({
  method: 'get',
  path: '/admin/tokens',
  tags: ['Admin'],
  summary: 'All tokens, across owners',
  middleware: [managementAuth(), requireAdmin] as const,
  request: { query: InventoryQuery },
  responses: {
    200: {
      description: 'A page of tokens with their owners.',
      content: {
        'application/json': {
          schema: z.object({ data: z.array(AdminToken), next_cursor: z.string().nullable() }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 503),
  },
});

const lookupRoute = createRoute({
  method: 'post',
  path: '/admin/tokens/lookup',
  tags: ['Admin'],
  summary: 'Find a token by its value',
  description: 'For incident response: the token is hashed and looked up, never stored or logged.',
  middleware: [managementAuth(), requireAdmin] as const,
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: z.object({ token: z.string().min(1).max(255) }).strict() } },
    },
  },
  responses: {
    200: {
      description: 'The token.',
      headers: ETAG_HEADER,
      content: { 'application/json': { schema: AdminToken } },
    },
    ...errorResponses(401, 403, 404, 415, 422, 503),
  },
});

const bulkRoute = createRoute({
  method: 'post',
  path: '/admin/tokens/bulk-revoke',
  tags: ['Admin'],
  summary: 'Revoke many tokens',
  middleware: [managementAuth(), requireAdmin] as const,
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.object({ ids: z.array(z.string().max(64)).min(1).max(BULK_MAX) }).strict(),
        },
      },
    },
  },
  responses: {
    200: {
      description: 'Which ids were revoked now; the others were already revoked or do not exist.',
      content: {
        'application/json': {
          schema: z.object({ revoked: z.array(z.string()), skipped: z.array(z.string()) }),
        },
      },
    },
    ...errorResponses(401, 403, 415, 422, 503),
  },
});

const idParam = z.object({
  id: z
    .string()
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' } }),
});
/** Revoke and restore; a restore honours If-Match (a revocation must always work, so it takes none). */
const actionRoute = (path: string, summary: string, conditional: boolean) =>
  createRoute({
    method: 'post',
    path,
    tags: ['Admin'],
    summary,
    middleware: [managementAuth(), requireAdmin] as const,
    request: { params: idParam, headers: conditional ? IfMatchHeader : z.object({}) },
    responses: {
      200: {
        description: 'The token.',
        headers: ETAG_HEADER,
        content: { 'application/json': { schema: AdminToken } },
      },
      ...errorResponses(401, 403, 404, 409, ...(conditional ? [412] : []), 503),
    },
  });
const deleteRoute = createRoute({
  method: 'delete',
  path: '/admin/tokens/{id}',
  tags: ['Admin'],
  summary: 'Delete any token',
  middleware: [managementAuth(), requireAdmin] as const,
  request: { params: idParam, headers: IfMatchHeader },
  responses: { 204: { description: 'Deleted.' }, ...errorResponses(401, 403, 404, 409, 412, 503) },
});

export function registerAdminTokens(app: OpenAPIHono<AppEnv>) {
  app.openapi(listRoute, async (c) => {
    const q = c.req.valid('query');
    const now = Date.now();
    const page = await listTokens(
      c.get('db'),
      {
        ownerId: q.owner_id,
        type: q.type,
        status: q.status,
        search: q.q,
        expiresBefore: q.expiring_before,
        lastUsedBefore: q.last_used_before,
        sort: q.sort,
        limit: q.limit,
        cursor: q.cursor,
      },
      now,
    );
    return c.json(
      { data: await withOwners(c.get('db'), page.data, now), next_cursor: page.nextCursor },
      200,
      NO_STORE,
    );
  });

  app.openapi(lookupRoute, async (c) => {
    const deps = serviceDeps(c);
    const { config } = deps;
    const { token } = c.req.valid('json');
    const candidates = await Promise.all(
      [config.peppers.current, ...config.peppers.previous].map((p) => hashToken(token, p)),
    );
    const state = await findTokenStateByHash(deps.db, candidates);
    const row = state ? await findToken(deps.db, state.id) : undefined;
    if (!row) throw notFound();
    const [resource] = await withOwners(deps.db, [row], deps.now);
    return c.json(resource!, 200, tokenHeaders(row));
  });

  app.openapi(bulkRoute, async (c) => {
    const deps = serviceDeps(c);
    const ids = [...new Set(c.req.valid('json').ids)];
    const rows = await findTokens(deps.db, ids);
    const live = rows.filter((r) => r.revokedAt === null);
    // As a single revoke: the admin's own tokens are revoked as their owner's (restorable by them, even once they
    // are no longer an admin), everyone else's for reason `admin`.
    const me = c.get('caller').principal.id;
    const revoked = [
      ...(await revokeMany(
        deps,
        live.filter((r) => r.ownerId === me),
        'user',
      )),
      ...(await revokeMany(
        deps,
        live.filter((r) => r.ownerId !== me),
        'admin',
      )),
    ];
    const done = new Set(revoked.map((r) => r.id));
    return c.json({ revoked: [...done], skipped: ids.filter((id) => !done.has(id)) }, 200, NO_STORE);
  });

  // Aliases of /tokens/{id}/revoke|restore and DELETE /tokens/{id}, answering with the owner attached.
  for (const action of ['revoke', 'restore'] as const) {
    const summary = action === 'revoke' ? 'Revoke any token' : 'Restore any token';
    app.openapi(actionRoute(`/admin/tokens/{id}/${action}`, summary, action === 'restore'), async (c) => {
      const deps = serviceDeps(c);
      const { principal } = c.get('caller');
      const id = c.req.valid('param').id;
      const row =
        action === 'revoke'
          ? await revokeToken(deps, principal, id)
          : await restoreToken(deps, principal, id, ifMatch(c));
      const [resource] = await withOwners(deps.db, [row], deps.now);
      return c.json(resource!, 200, tokenHeaders(row));
    });
  }
  app.openapi(deleteRoute, async (c) => {
    await deleteToken(serviceDeps(c), c.get('caller').principal, c.req.valid('param').id, ifMatch(c));
    return c.body(null, 204, NO_STORE);
  });
}
