import { and, eq, sql } from 'drizzle-orm';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { serviceDeps } from '../api/deps';
import { type PrincipalRow, principals } from '../db/schema';
import type { AppEnv } from '../env';
import { requestContext } from '../http/authenticate';
import { secretsEqual } from '../lib/timing-safe';
import { setUserActive } from '../tokens/principal-admin';

// A SCIM 2.0 subset (RFC 7643/7644) so an identity provider can deprovision users automatically: list (with
// `userName eq "…"`), get, and PATCH `active`. Deactivating a user here stops their personal tokens exactly as
// the admin API does. Authenticated with SCIM_BEARER_TOKEN; errors use SCIM's own error schema (RFC 7644 §3.12).

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SCIM_JSON = { 'Content-Type': 'application/scim+json', 'Cache-Control': 'no-store' };

function scimError(c: Context, status: 400 | 401 | 404 | 415, detail: string, scimType?: string) {
  const headers: Record<string, string> = { ...SCIM_JSON };
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="pat-gateway-scim"';
  return c.body(
    JSON.stringify({
      schemas: [ERROR_SCHEMA],
      status: String(status),
      detail,
      ...(scimType ? { scimType } : {}),
    }),
    status,
    headers,
  );
}

function toScimUser(row: PrincipalRow, baseUrl: string) {
  return {
    schemas: [USER_SCHEMA],
    id: row.id,
    userName: row.subject,
    ...(row.name ? { name: { formatted: row.name }, displayName: row.name } : {}),
    ...(row.email ? { emails: [{ value: row.email, primary: true }] } : {}),
    active: row.active,
    meta: {
      resourceType: 'User',
      created: new Date(row.createdAt).toISOString(),
      lastModified: new Date(row.updatedAt).toISOString(),
      location: `${baseUrl}/scim/v2/Users/${row.id}`,
    },
  };
}

/** A PatchOp message (RFC 7644 §3.5.2), as far as this subset reads it; anything else is a 400, never a 500. */
const PatchOp = z.object({
  schemas: z.array(z.unknown()).refine((schemas) => schemas.includes(PATCH_SCHEMA)),
  Operations: z.array(
    z.object({ op: z.string(), path: z.string().optional(), value: z.unknown().optional() }),
  ),
});

/** `active` from a PatchOp: `{op: replace, path: active, value: false}` or `{op: replace, value: {active: false}}`. */
function activeFromPatch(body: unknown): boolean | null {
  const parsed = PatchOp.safeParse(body);
  if (!parsed.success) return null;
  let active: boolean | null = null;
  for (const op of parsed.data.Operations) {
    if (!['replace', 'add'].includes(op.op.toLowerCase())) return null;
    const value =
      op.path === undefined
        ? typeof op.value === 'object' && op.value !== null
          ? (op.value as { active?: unknown }).active
          : undefined
        : op.path.toLowerCase() === 'active'
          ? op.value
          : undefined;
    // Some providers send "False" as a string. (Compared, not looked up: `constructor` is in every object.)
    const text = typeof value === 'string' ? value.toLowerCase() : undefined;
    const flag =
      typeof value === 'boolean' ? value : text === 'true' ? true : text === 'false' ? false : undefined;
    if (flag === undefined) return null;
    active = flag;
  }
  return active;
}

export function scimRoutes(): Hono<AppEnv> {
  const scim = new Hono<AppEnv>();

  scim.use('*', async function scimAuth(c, next) {
    const expected = c.get('config').scimToken;
    const presented = /^Bearer +(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (!expected || !presented || !(await secretsEqual(presented, expected))) {
      return scimError(c, 401, 'A valid SCIM bearer credential is required.');
    }
    c.set('audit', requestContext(c, { id: null, kind: 'system' }));
    await next();
  });

  const base = (c: Context) => new URL(c.req.url).origin;
  const findUser = (c: Context<AppEnv>, id: string) =>
    c.get('db').select().from(principals).where(eq(principals.id, id)).get();

  scim.get('/Users', async (c) => {
    const filter = c.req.query('filter');
    const startIndex = Math.max(1, Number.parseInt(c.req.query('startIndex') ?? '1', 10) || 1);
    const count = Math.min(200, Math.max(0, Number.parseInt(c.req.query('count') ?? '100', 10) || 0));
    let rows: PrincipalRow[];
    if (filter) {
      const match = /^userName eq "([^"]{1,255})"$/i.exec(filter.trim());
      if (!match) return scimError(c, 400, 'Only `userName eq "…"` filters are supported.', 'invalidFilter');
      // userName is not case-exact (RFC 7643 §4.1.1): `ALICE` finds alice, so a provider can deprovision her.
      rows = await c
        .get('db')
        .select()
        .from(principals)
        .where(and(eq(principals.kind, 'user'), sql`lower(${principals.subject}) = lower(${match[1]!})`))
        .orderBy(principals.id)
        .all();
    } else {
      rows = await c
        .get('db')
        .select()
        .from(principals)
        .where(eq(principals.kind, 'user'))
        .orderBy(principals.id)
        .all();
    }
    const page = rows.slice(startIndex - 1, startIndex - 1 + count);
    return c.body(
      JSON.stringify({
        schemas: [LIST_SCHEMA],
        totalResults: rows.length,
        startIndex,
        itemsPerPage: page.length,
        Resources: page.map((r) => toScimUser(r, base(c))),
      }),
      200,
      SCIM_JSON,
    );
  });

  scim.get('/Users/:id', async (c) => {
    const row = await findUser(c, c.req.param('id'));
    if (row?.kind !== 'user') return scimError(c, 404, 'No such user.');
    return c.body(JSON.stringify(toScimUser(row, base(c))), 200, SCIM_JSON);
  });

  scim.patch('/Users/:id', async (c) => {
    const type = (c.req.header('content-type') ?? '').toLowerCase();
    if (!type.startsWith('application/scim+json') && !type.startsWith('application/json')) {
      return scimError(c, 415, 'Send application/scim+json.');
    }
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return scimError(c, 400, 'The body is not valid JSON.', 'invalidSyntax');
    }
    const active = activeFromPatch(body);
    if (active === null)
      return scimError(c, 400, 'Only PatchOp operations that set `active` are supported.', 'invalidValue');
    const row = await findUser(c, c.req.param('id'));
    if (row?.kind !== 'user') return scimError(c, 404, 'No such user.');
    await setUserActive(serviceDeps(c), row.id, active, 'scim');
    const updated = (await findUser(c, row.id))!;
    return c.body(JSON.stringify(toScimUser(updated, base(c))), 200, SCIM_JSON);
  });

  scim.all('*', (c) => scimError(c, 404, 'Not supported by this SCIM subset.'));
  return scim;
}
