import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { type PrincipalRow, principals } from '../../db/schema';
import type { AppEnv } from '../../env';
import { conflict, notFound } from '../../errors';
import { managementAuth } from '../../http/authenticate';
import type { ServiceDeps } from '../../tokens/access';
import {
  createServiceAccount,
  listPrincipals,
  loadPrincipal,
  setUserActive,
  updateServiceAccount,
} from '../../tokens/principal-admin';
import { listTokens, SORTS } from '../../tokens/repository';
import { createToken } from '../../tokens/service';
import { NO_STORE, serviceDeps } from '../deps';
import { CREATED_HEADERS, createdHeaders } from '../etag';
import {
  CreatedToken,
  cursorSchema,
  descriptionSchema,
  errorResponses,
  LOCATION_HEADER,
  limitSchema,
  nameSchema,
  searchSchema,
  TokenPage,
  toTokenResource,
} from '../schemas';
import { CreateTokenBody } from '../tokens-create';
import { Principal, requireAdmin, toPrincipalResource } from './common';

// Service accounts and their tokens (seed 004: "Admin only", tokens tied to a service user, visible to all
// admins), and user deactivation (seed 002: a user who leaves loses their personal tokens).

const admin = [managementAuth(), requireAdmin];
const idParam = z.object({
  id: z
    .string()
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' } }),
});
const PrincipalPage = z
  .object({ data: z.array(Principal), next_cursor: z.string().nullable() })
  .openapi('PrincipalPage');
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
const body = <T extends z.ZodType>(schema: T) => ({ body: { required: true, ...json(schema) } });

const ServiceAccountBody = z
  .object({
    name: nameSchema.openapi({
      description:
        'Required. 1–100 characters, as token names; unique among service accounts (case-insensitive).',
    }),
    description: descriptionSchema.optional(),
    role: z.enum(['admin', 'member']).default('member'),
  })
  .strict()
  .openapi('CreateServiceAccountRequest');
const ServiceAccountPatch = z
  .object({
    name: nameSchema.optional().openapi({
      description:
        'A new name: 1–100 characters, as token names; unique among service accounts (case-insensitive).',
    }),
    description: descriptionSchema.optional(),
    role: z.enum(['admin', 'member']).optional(),
  })
  .strict()
  .openapi('UpdateServiceAccountRequest');
const PrincipalQuery = z
  .object({
    q: searchSchema.optional(),
    active: z.enum(['true', 'false']).optional(),
    limit: limitSchema,
    cursor: cursorSchema,
  })
  .strict();

const routes = {
  listServiceAccounts: createRoute({
    method: 'get',
    path: '/admin/service-accounts',
    tags: ['Admin'],
    summary: 'List service accounts',
    middleware: admin,
    request: { query: PrincipalQuery },
    responses: { 200: { description: 'A page.', ...json(PrincipalPage) }, ...errorResponses(400, 401, 403) },
  }),
  createServiceAccount: createRoute({
    method: 'post',
    path: '/admin/service-accounts',
    tags: ['Admin'],
    summary: 'Create a service account',
    middleware: admin,
    request: body(ServiceAccountBody),
    responses: {
      201: { description: 'Created.', headers: LOCATION_HEADER, ...json(Principal) },
      ...errorResponses(401, 403, 409, 415, 422),
    },
  }),
  getServiceAccount: createRoute({
    method: 'get',
    path: '/admin/service-accounts/{id}',
    tags: ['Admin'],
    summary: 'Get a service account',
    middleware: admin,
    request: { params: idParam },
    responses: { 200: { description: 'The account.', ...json(Principal) }, ...errorResponses(401, 403, 404) },
  }),
  updateServiceAccount: createRoute({
    method: 'patch',
    path: '/admin/service-accounts/{id}',
    tags: ['Admin'],
    summary: 'Edit a service account',
    description: 'A lowered role applies to its tokens on their next use.',
    middleware: admin,
    request: { params: idParam, ...body(ServiceAccountPatch) },
    responses: {
      200: { description: 'Updated.', ...json(Principal) },
      ...errorResponses(401, 403, 404, 409, 415, 422),
    },
  }),
  listServiceTokens: createRoute({
    method: 'get',
    path: '/admin/service-accounts/{id}/tokens',
    tags: ['Admin'],
    summary: "A service account's tokens",
    middleware: admin,
    request: {
      params: idParam,
      query: z
        .object({ sort: z.enum(SORTS).default('-created_at'), limit: limitSchema, cursor: cursorSchema })
        .strict(),
    },
    responses: { 200: { description: 'A page.', ...json(TokenPage) }, ...errorResponses(400, 401, 403, 404) },
  }),
  createServiceToken: createRoute({
    method: 'post',
    path: '/admin/service-accounts/{id}/tokens',
    tags: ['Admin'],
    summary: 'Create a service token',
    description: 'The secret is in this response only.',
    middleware: admin,
    request: { params: idParam, ...body(CreateTokenBody) },
    responses: {
      201: { description: 'Created.', headers: CREATED_HEADERS, ...json(CreatedToken) },
      ...errorResponses(401, 403, 404, 409, 415, 422),
    },
  }),
  listUsers: createRoute({
    method: 'get',
    path: '/admin/users',
    tags: ['Admin'],
    summary: 'List users',
    middleware: admin,
    request: { query: PrincipalQuery },
    responses: { 200: { description: 'A page.', ...json(PrincipalPage) }, ...errorResponses(400, 401, 403) },
  }),
  deactivateUser: createRoute({
    method: 'post',
    path: '/admin/users/{id}/deactivate',
    tags: ['Admin'],
    summary: 'Deactivate a user',
    description:
      'Their personal tokens stop working (not revoked); service tokens are unaffected. An admin cannot deactivate themselves (409 `cannot_deactivate_self`).',
    middleware: admin,
    request: { params: idParam },
    responses: {
      200: { description: 'The user.', ...json(Principal) },
      ...errorResponses(401, 403, 404, 409),
    },
  }),
  reactivateUser: createRoute({
    method: 'post',
    path: '/admin/users/{id}/reactivate',
    tags: ['Admin'],
    summary: 'Reactivate a user',
    description:
      'Brings back their tokens that were not revoked or expired meanwhile. A user the identity provider deleted over SCIM comes back only by being provisioned again (409 `user_deleted`).',
    middleware: admin,
    request: { params: idParam },
    responses: {
      200: { description: 'The user.', ...json(Principal) },
      ...errorResponses(401, 403, 404, 409),
    },
  }),
};

export function registerAdminPrincipals(app: OpenAPIHono<AppEnv>) {
  for (const [route, kind] of [
    [routes.listServiceAccounts, 'service_account'],
    [routes.listUsers, 'user'],
  ] as const) {
    app.openapi(route, async (c) => {
      const q = c.req.valid('query');
      const active = q.active === undefined ? undefined : q.active === 'true';
      const page = await listPrincipals(serviceDeps(c), {
        kind,
        search: q.q,
        active,
        limit: q.limit,
        cursor: q.cursor,
      });
      return c.json(
        { data: page.data.map(toPrincipalResource), next_cursor: page.nextCursor },
        200,
        NO_STORE,
      );
    });
  }

  app.openapi(routes.createServiceAccount, async (c) => {
    const row = await createServiceAccount(serviceDeps(c), c.req.valid('json'));
    return c.json(toPrincipalResource(row), 201, {
      ...NO_STORE,
      Location: `/api/v1/admin/service-accounts/${row.id}`,
    });
  });
  app.openapi(routes.getServiceAccount, async (c) => {
    const deps = serviceDeps(c);
    const account = await loadPrincipal(deps, c.req.valid('param').id, 'service_account');
    return c.json(toPrincipalResource(await rowOf(deps, account.id)), 200, NO_STORE);
  });
  app.openapi(routes.updateServiceAccount, async (c) => {
    const deps = serviceDeps(c);
    const account = await updateServiceAccount(deps, c.req.valid('param').id, c.req.valid('json'));
    return c.json(toPrincipalResource(await rowOf(deps, account.id)), 200, NO_STORE);
  });
  app.openapi(routes.listServiceTokens, async (c) => {
    const deps = serviceDeps(c);
    const account = await loadPrincipal(deps, c.req.valid('param').id, 'service_account');
    const q = c.req.valid('query');
    const page = await listTokens(
      deps.db,
      { ownerId: account.id, sort: q.sort, limit: q.limit, cursor: q.cursor },
      deps.now,
    );
    return c.json(
      { data: page.data.map((r) => toTokenResource(r, deps.now)), next_cursor: page.nextCursor },
      200,
      NO_STORE,
    );
  });
  app.openapi(routes.createServiceToken, async (c) => {
    const deps = serviceDeps(c);
    const account = await loadPrincipal(deps, c.req.valid('param').id, 'service_account');
    const { token, row } = await createToken(deps, c.get('caller').principal, account, c.req.valid('json'));
    return c.json({ ...toTokenResource(row, deps.now), token }, 201, createdHeaders(row));
  });
  for (const [route, active] of [
    [routes.deactivateUser, false],
    [routes.reactivateUser, true],
  ] as const) {
    app.openapi(route, async (c) => {
      const deps = serviceDeps(c);
      const { id } = c.req.valid('param');
      // Deactivated, an admin could not even undo it: another admin (or the identity provider over SCIM) must.
      if (!active && id === c.get('caller').principal.id)
        throw conflict(
          'cannot_deactivate_self',
          'You cannot deactivate your own account; ask another admin.',
        );
      const user = await setUserActive(deps, id, active);
      return c.json(toPrincipalResource(await rowOf(deps, user.id)), 200, NO_STORE);
    });
  }
}

/** The principal's row, for rendering after a change. */
async function rowOf(deps: ServiceDeps, id: string): Promise<PrincipalRow> {
  const row = await deps.db.select().from(principals).where(eq(principals.id, id)).get();
  if (!row) throw notFound('principal');
  return row;
}
