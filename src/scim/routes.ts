import { and, eq, isNull, type SQL, sql } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { serviceDeps } from '../api/deps';
import { displayText, isUsableSubject, roleFromValues } from '../auth/jwt';
import { subjectMatches } from '../auth/principals';
import type { Role } from '../config';
import { type PrincipalRow, principals } from '../db/schema';
import type { AppEnv } from '../env';
import { AppError } from '../errors';
import { requestContext } from '../http/authenticate';
import { secretsEqual } from '../lib/timing-safe';
import { deleteUser, provisionUser, updateUser } from '../tokens/principal-admin';

// A SCIM 2.0 subset (RFC 7643/7644) so an identity provider can provision and deprovision users and change their
// role: list (`userName eq "…"` finds a user; `emails` and `externalId` filters find nobody, so the provider goes on
// to POST), get, POST a User, PATCH `active` and `roles` (Entra ID's single app role too), PUT a User with them,
// DELETE a User. Deactivating a user here stops their personal tokens exactly as the admin API does; lowering the
// role narrows them on their next use; deleting also revokes them for good.
// Authenticated with SCIM_BEARER_TOKEN; errors use SCIM's own error schema (RFC 7644 §3.12).

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SCIM_JSON = { 'Content-Type': 'application/scim+json', 'Cache-Control': 'no-store' };

function scimError(
  c: Context,
  status: 400 | 401 | 404 | 405 | 409 | 415,
  detail: string,
  scimType?: string,
  extraHeaders: Record<string, string> = {},
) {
  const headers: Record<string, string> = { ...SCIM_JSON, ...extraHeaders };
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

function toScimUser(row: PrincipalRow, adminValues: string[], baseUrl: string) {
  return {
    schemas: [USER_SCHEMA],
    id: row.id,
    userName: row.subject,
    ...(row.name ? { name: { formatted: row.name }, displayName: row.name } : {}),
    ...(row.email ? { emails: [{ value: row.email, primary: true }] } : {}),
    active: row.active,
    // The role as the gateway knows it: an admin holds the first of AUTH_ADMIN_VALUES, a member no role value.
    roles: row.role === 'admin' ? [{ value: adminValues[0] }] : [],
    meta: {
      resourceType: 'User',
      created: new Date(row.createdAt).toISOString(),
      lastModified: new Date(row.updatedAt).toISOString(),
      location: `${baseUrl}/scim/v2/Users/${row.id}`,
    },
  };
}

function listOf(resources: unknown[]) {
  return {
    schemas: [LIST_SCHEMA],
    totalResults: resources.length,
    startIndex: 1,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

const unsupported = { supported: false };
function serviceProviderConfig(baseUrl: string) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { ...unsupported, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: 200 },
    changePassword: unsupported,
    sort: unsupported,
    etag: unsupported,
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'The SCIM_BEARER_TOKEN secret, as `Authorization: Bearer …`.',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/scim/v2/ServiceProviderConfig` },
  };
}

function userResourceType(baseUrl: string) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    id: 'User',
    name: 'User',
    endpoint: '/Users',
    schema: USER_SCHEMA,
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/scim/v2/ResourceTypes/User` },
  };
}

const attribute = (name: string, type: string, extra: Record<string, unknown> = {}) => ({
  name,
  type,
  multiValued: false,
  required: false,
  caseExact: false,
  mutability: 'readWrite',
  returned: 'default',
  uniqueness: 'none',
  ...extra,
});

/** The attributes this subset reads or returns; the others of RFC 7643 §4.1 are accepted and ignored. */
const USER_SCHEMA_RESOURCE = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
  id: USER_SCHEMA,
  name: 'User',
  description: 'A user; userName is the subject of their JWTs.',
  attributes: [
    attribute('userName', 'string', { required: true, mutability: 'immutable', uniqueness: 'server' }),
    attribute('displayName', 'string', { mutability: 'readOnly' }),
    attribute('active', 'boolean'),
    attribute('roles', 'complex', {
      multiValued: true,
      subAttributes: [attribute('value', 'string')],
    }),
  ],
};

/** The User schema as a resource (RFC 7643 §7), with where to read it alone. */
const userSchema = (baseUrl: string) => ({
  ...USER_SCHEMA_RESOURCE,
  meta: { resourceType: 'Schema', location: `${baseUrl}/scim/v2/Schemas/${USER_SCHEMA}` },
});

/** A User resource in a PUT (RFC 7644 §3.5.1), as far as this subset reads it. */
const PutUser = z.object({
  schemas: z.array(z.unknown()).refine((schemas) => schemas.includes(USER_SCHEMA)),
  userName: z.string(),
  active: z.unknown().optional(),
  roles: z.unknown().optional(),
});

/** A PatchOp message (RFC 7644 §3.5.2), as far as this subset reads it; anything else is a 400, never a 500. */
const PatchOp = z.object({
  schemas: z.array(z.unknown()).refine((schemas) => schemas.includes(PATCH_SCHEMA)),
  Operations: z.array(
    z.object({ op: z.string(), path: z.string().optional(), value: z.unknown().optional() }),
  ),
});

/** What a PatchOp or a PUT says of a user, as far as this subset reads it. */
interface UserChanges {
  active?: boolean;
  role?: Role;
  /** Stated, and refused when it is not the user's (it is the subject of their JWTs). */
  userName?: string;
}

/**
 * Attributes of the core and enterprise User schemas (RFC 7643 §4) the gateway does not keep from SCIM: the user's
 * JWTs carry the profile. Identity providers send them in every update (Entra ID's displayName, name.givenName,
 * emails[type eq "work"].value, externalId, the manager); they are accepted and ignored, so such an update does not
 * fail and get the provider to quarantine the application, which would stop deprovisioning too.
 */
const IGNORED_ATTRIBUTES = new Set([
  'displayname',
  'name',
  'nickname',
  'profileurl',
  'title',
  'usertype',
  'preferredlanguage',
  'locale',
  'timezone',
  'emails',
  'phonenumbers',
  'ims',
  'photos',
  'addresses',
  'entitlements',
  'x509certificates',
  'externalid',
  'password',
]);
/**
 * An attribute path (or a key of a path-less value) this subset accepts and ignores: the attributes above, and any
 * extension schema's (`urn:…`: the enterprise User's manager, a provider's custom attributes). An unknown bare name
 * is refused, so a misspelt `actve` is an error and not a silent no-op.
 */
/**
 * An attribute path without the core User schema's URN (RFC 7644 §3.10 allows it in front: providers send
 * `urn:ietf:params:scim:schemas:core:2.0:User:active`). Only this schema's: an extension's attributes stay `urn:…`.
 */
function corePath(path: string): string {
  const prefix = `${USER_SCHEMA}:`;
  return path.length > prefix.length && path.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase()
    ? path.slice(prefix.length)
    : path;
}

function ignoredAttribute(path: string): boolean {
  const lower = path.toLowerCase();
  return lower.startsWith('urn:') || IGNORED_ATTRIBUTES.has(lower.split(/[.[]/, 1)[0]!);
}

/** `active` as providers send it: a boolean, or (some do) the string "True" or "False". */
function flagOf(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  // Compared, not looked up: `constructor` is in every object.
  const text = typeof value === 'string' ? value.toLowerCase() : undefined;
  return text === 'true' ? true : text === 'false' ? false : undefined;
}

/**
 * The values of a `roles` attribute (RFC 7643 §4.1.2): `[{value: "admin"}]`, or a bare string or object. Entra ID's
 * app role mappings send a PATCH's value as the app role JSON-encoded (`{value: "{\"id\":…,\"value\":\"Admin\"}"}`,
 * learn.microsoft.com: customize-application-attributes, "Provisioning a role to a SCIM app"): its `value` counts.
 */
function roleValues(value: unknown): string[] | undefined {
  const values: string[] = [];
  for (const item of Array.isArray(value) ? value : [value]) {
    const text = roleValueOf(item);
    const encoded =
      typeof text === 'string' && text.startsWith('{') ? roleValueOf(parsedJson(text)) : undefined;
    if (typeof text !== 'string') return undefined;
    values.push(typeof encoded === 'string' ? encoded : text);
  }
  return values;
}

const roleValueOf = (item: unknown): unknown =>
  typeof item === 'string'
    ? item
    : typeof item === 'object' && item !== null && Object.hasOwn(item, 'value')
      ? (item as { value: unknown }).value
      : undefined;

function parsedJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `roles[primary eq "True"].value`, as Entra ID sends it (the flag quoted or not, in any case). */
const PRIMARY_ROLE = /^roles\[primary eq (?:"true"|true)\]\.value$/i;
const PRIMARY_ROLE_LABEL = /^roles\[primary eq (?:"true"|true)\]\.(?:display|type)$/i;

/**
 * One operation of a PatchOp, applied to `changes`; false when this subset does not read it. Roles map as the JWT's
 * role claim does: a value listed in AUTH_ADMIN_VALUES makes an admin. Adding other values changes nothing; removing
 * an admin value (or every role) makes a member, even if the provider still lists another admin value for the user:
 * the gateway keeps no list of values, and the next JWT's claims correct a too low role, never a too high one.
 */
function applyOperation(
  op: { op: string; path?: string | undefined; value?: unknown },
  adminValues: string[],
  changes: UserChanges,
): boolean {
  const kind = op.op.toLowerCase();
  const isAdmin = (values: string[]) => roleFromValues(values, adminValues) === 'admin';
  const setRoles = (value: unknown, how: 'replace' | 'add' | 'remove'): boolean => {
    const values = how === 'remove' && value === undefined ? [] : roleValues(value);
    if (!values) return false;
    if (how === 'replace') changes.role = isAdmin(values) ? 'admin' : 'member';
    else if (how === 'add' && isAdmin(values)) changes.role = 'admin';
    else if (how === 'remove' && (value === undefined || isAdmin(values))) changes.role = 'member';
    return true;
  };
  if (kind !== 'replace' && kind !== 'add' && kind !== 'remove') return false;
  if (op.path === undefined) {
    // `{op: replace, value: {active: false, roles: [...], displayName: …}}`: each key well-formed and known.
    if (kind === 'remove' || typeof op.value !== 'object' || op.value === null || Array.isArray(op.value))
      return false;
    for (const [key, value] of Object.entries(op.value)) {
      const lower = corePath(key).toLowerCase();
      if (lower === 'active') {
        const active = flagOf(value);
        if (active === undefined) return false;
        changes.active = active;
      } else if (lower === 'roles') {
        if (!setRoles(value, kind)) return false;
      } else if (lower === 'username') {
        if (typeof value !== 'string') return false;
        changes.userName = value;
      } else if (!ignoredAttribute(corePath(key))) return false;
    }
    return true;
  }
  const opPath = corePath(op.path);
  const path = opPath.toLowerCase();
  if (path === 'username') {
    if (kind === 'remove' || typeof op.value !== 'string') return false;
    changes.userName = op.value;
    return true;
  }
  if (path === 'active') {
    const active = kind === 'remove' ? undefined : flagOf(op.value);
    if (active === undefined) return false;
    changes.active = active;
    return true;
  }
  if (path === 'roles') return setRoles(op.value, kind);
  // Entra ID and others remove one value with a filter: `roles[value eq "admin"]`.
  const one = /^roles\[value eq "([^"]*)"\]$/i.exec(opPath);
  if (one && kind === 'remove' && op.value === undefined) return setRoles([one[1]!], 'remove');
  // Entra ID's single app role (SingleAppRoleAssignment mapped to `roles[primary eq "True"].value`): the value is
  // the user's one role, so adding or replacing it sets the role and removing it leaves a member.
  if (PRIMARY_ROLE.test(opPath)) {
    if (kind === 'remove') return setRoles(undefined, 'remove');
    const values = roleValues(op.value);
    return values !== undefined && values.length === 1 && setRoles(values, 'replace');
  }
  // The same role's display name and type, which Entra ID may be mapped to send beside its value: not a role.
  if (PRIMARY_ROLE_LABEL.test(opPath)) return kind === 'remove' || typeof op.value === 'string';
  // Any other roles path (`roles[type eq "x"]`, `roles.value`) could be a role change this subset cannot read:
  // refused, never ignored.
  return !path.startsWith('roles') && ignoredAttribute(opPath);
}

/**
 * A PatchOp's changes (RFC 7644 §3.5.2): `active` and `roles`, the profile attributes accepted and ignored, and
 * null (a 400) for anything else.
 */
function changesFromPatch(body: unknown, adminValues: string[]): UserChanges | null {
  const parsed = PatchOp.safeParse(body);
  if (!parsed.success || parsed.data.Operations.length === 0) return null;
  const changes: UserChanges = {};
  for (const op of parsed.data.Operations) if (!applyOperation(op, adminValues, changes)) return null;
  return changes;
}

/** userName is the identity provider's subject, which names the user here: it cannot change (any case matches). */
const renamed = (userName: string, row: PrincipalRow) =>
  userName.toLowerCase() !== (row.subject ?? '').toLowerCase();
/**
 * A deactivation is applied even when it comes with a new userName, which is then ignored: Entra ID renames a
 * deleted user's UPN in the same update that deactivates them, and sends a renamed UPN again with every later one.
 * Refusing the update would keep the user active. Anything else with a new userName is refused (a promotion too,
 * even beside a deactivation).
 */
const deactivates = (changes: UserChanges) => changes.active === false && changes.role !== 'admin';
/** A filter's value: a JSON string (RFC 7644 §3.4.2.2), so `\"` and `\\` may be in it. */
const VALUE = String.raw`"((?:[^"\\]|\\.){1,1024})"`;
const USER_NAME_EQ = new RegExp(`^userName eq ${VALUE}$`, 'i');
/** Lookups on attributes the gateway does not identify users by: answered with nobody. */
const MATCHES_NOBODY = [
  new RegExp(`^externalId eq ${VALUE}$`, 'i'),
  new RegExp(String.raw`^emails(?:\.value|\[type eq "work"\]\.value) eq ${VALUE}$`, 'i'),
  new RegExp(String.raw`^emails\[(?:type eq "work" and )?value eq ${VALUE}\]$`, 'i'),
];

/** The text of a filter value, or undefined when it is not a JSON string of 1–255 characters. */
function filterValue(quoted: string | undefined): string | undefined {
  const value = quoted === undefined ? undefined : parsedJson(`"${quoted}"`);
  return typeof value === 'string' && value.length > 0 && value.length <= 255 ? value : undefined;
}

/**
 * What a `filter` (RFC 7644 §3.4.2.2) asks of users, or undefined when this subset does not evaluate it (a 400): one
 * `eq` with a quoted value, on an attribute providers look a user up by before they create one.
 * - `userName`: the subject, not case-exact (RFC 7643 §4.1.1): `ALICE` finds alice, so a provider can deprovision her.
 *   Users are identified by it and nothing else.
 * - `externalId` (Entra ID), `emails.value` and `emails[type eq "work"].value` (Okta, Entra ID): nobody. The gateway
 *   keeps no externalId, and the e-mail it keeps is not an identity: it is whatever the latest JWT's email claim said
 *   (an issuer may let users pick it, unverified) and two users may share it. A provider that found a user by it would
 *   then deactivate, reactivate or promote that account. An empty list is an honest answer that lets the provider go
 *   on: it POSTs the user, a 409 if the userName exists (providers then match on userName), where a 400 stopped its
 *   whole sync.
 */
export function userFilter(filter: string): SQL | undefined {
  const expression = corePath(filter.trim());
  const userName = filterValue(USER_NAME_EQ.exec(expression)?.[1]);
  if (userName !== undefined) return subjectMatches(userName);
  const nobody = MATCHES_NOBODY.some((pattern) => filterValue(pattern.exec(expression)?.[1]) !== undefined);
  return nobody ? sql`0` : undefined;
}

/**
 * One page of users (`offset`, `count`) matching `condition`, and how many match in all: a page read, not every
 * user, since a directory may hold many thousands; each filter reads through an index (query-plans.test.ts).
 */
export async function usersPage(
  db: DrizzleD1Database,
  condition: SQL | undefined,
  offset: number,
  count: number,
): Promise<{ total: number; page: PrincipalRow[] }> {
  const where = and(eq(principals.kind, 'user'), isNull(principals.deletedAt), condition);
  const [total, page] = await Promise.all([
    db.select({ n: sql<number>`count(*)` }).from(principals).where(where).get(),
    count === 0
      ? Promise.resolve([] as PrincipalRow[])
      : db.select().from(principals).where(where).orderBy(principals.id).limit(count).offset(offset).all(),
  ]);
  return { total: total?.n ?? 0, page };
}

const userNameFixed = (c: Context) =>
  scimError(c, 400, 'userName cannot change: it is the subject of the user’s JWTs.', 'mutability');

/**
 * The endpoints of this subset and the methods each answers. Another method is a 405 with `Allow` (RFC 9110
 * §15.5.6) in SCIM's error schema, not a 404 that would say the endpoint does not exist. HEAD is a GET without the
 * body (Hono answers it so).
 */
const ENDPOINTS: Record<string, string> = {
  '/Users': 'GET, HEAD, POST',
  '/Users/:id': 'GET, HEAD, PUT, PATCH, DELETE',
  '/Groups': 'GET, HEAD',
  '/ServiceProviderConfig': 'GET, HEAD',
  '/ResourceTypes': 'GET, HEAD',
  '/ResourceTypes/:id': 'GET, HEAD',
  '/Schemas': 'GET, HEAD',
  '/Schemas/:id': 'GET, HEAD',
};

/**
 * A path, and the same with a trailing slash (`/Users/`), which clients that join a base URL ending in `/` send: it is
 * answered as without. Not redirected: a provider's SCIM client need not follow a redirect, and many turn a POST
 * answered 301 or 302 into a GET without its body.
 */
const slashed = <P extends string>(path: P): [P, `${P}/`] => [path, `${path}/`];

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
  // A user the provider deleted is gone as far as SCIM is concerned (RFC 7644 §3.6): 404 for every operation.
  const findUser = (c: Context<AppEnv>, id: string) =>
    c
      .get('db')
      .select()
      .from(principals)
      .where(and(eq(principals.id, id), isNull(principals.deletedAt)))
      .get();

  scim.on('GET', slashed('/Users'), async (c) => {
    const filter = c.req.query('filter');
    // Bounded, so that a huge startIndex is an empty page and not a number SQLite refuses.
    const startIndex = Math.min(
      2 ** 31,
      Math.max(1, Number.parseInt(c.req.query('startIndex') ?? '1', 10) || 1),
    );
    const count = Math.min(200, Math.max(0, Number.parseInt(c.req.query('count') ?? '100', 10) || 0));
    let condition: SQL | undefined;
    if (filter) {
      condition = userFilter(filter);
      if (!condition)
        return scimError(
          c,
          400,
          'The `filter` is not one this subset evaluates: send one `eq` comparison with a quoted value on `userName`, `emails.value` (or `emails[type eq "work"].value`) or `externalId`.',
          'invalidFilter',
        );
    }
    const { total, page } = await usersPage(c.get('db'), condition, startIndex - 1, count);
    return c.body(
      JSON.stringify({
        schemas: [LIST_SCHEMA],
        totalResults: total,
        startIndex,
        itemsPerPage: page.length,
        Resources: page.map((r) => toScimUser(r, c.get('config').auth.adminValues, base(c))),
      }),
      200,
      SCIM_JSON,
    );
  });

  // Groups are not kept here (roles come from `roles`): a query finds none, as a user query that matches nobody
  // does, so providers that read groups in their connection test or import (Entra ID, Okta) carry on.
  scim.on('GET', slashed('/Groups'), (c) => c.body(JSON.stringify(listOf([])), 200, SCIM_JSON));

  // Discovery (RFC 7644 §4): what this subset supports, for providers that read it.
  scim.on('GET', slashed('/ServiceProviderConfig'), (c) =>
    c.body(JSON.stringify(serviceProviderConfig(base(c))), 200, SCIM_JSON),
  );
  scim.on('GET', slashed('/ResourceTypes'), (c) =>
    c.body(JSON.stringify(listOf([userResourceType(base(c))])), 200, SCIM_JSON),
  );
  scim.on('GET', slashed('/Schemas'), (c) =>
    c.body(JSON.stringify(listOf([userSchema(base(c))])), 200, SCIM_JSON),
  );
  // One of each by its id (RFC 7644 §4), where their `meta.location` points.
  scim.on('GET', slashed('/ResourceTypes/:id'), (c) =>
    c.req.param('id') === 'User'
      ? c.body(JSON.stringify(userResourceType(base(c))), 200, SCIM_JSON)
      : scimError(c, 404, 'No such resource type: this subset has User only.'),
  );
  scim.on('GET', slashed('/Schemas/:id'), (c) =>
    c.req.param('id') === USER_SCHEMA
      ? c.body(JSON.stringify(userSchema(base(c))), 200, SCIM_JSON)
      : scimError(c, 404, `No such schema: this subset has ${USER_SCHEMA} only.`),
  );

  scim.on('GET', slashed('/Users/:id'), async (c) => {
    const row = await findUser(c, c.req.param('id'));
    if (row?.kind !== 'user') return scimError(c, 404, 'No such user.');
    return c.body(JSON.stringify(toScimUser(row, c.get('config').auth.adminValues, base(c))), 200, SCIM_JSON);
  });

  /** The JSON body of a PATCH or PUT, or the SCIM error to answer instead. */
  async function jsonBody(c: Context<AppEnv>): Promise<{ body: unknown } | { error: Response }> {
    const type = (c.req.header('content-type') ?? '').toLowerCase();
    if (!type.startsWith('application/scim+json') && !type.startsWith('application/json')) {
      return { error: scimError(c, 415, 'Send application/scim+json.') };
    }
    try {
      return { body: await c.req.json() };
    } catch {
      return { error: scimError(c, 400, 'The body is not valid JSON.', 'invalidSyntax') };
    }
  }

  async function applyChanges(c: Context<AppEnv>, row: PrincipalRow, changes: UserChanges) {
    await updateUser(serviceDeps(c), row.id, changes, 'scim');
    const updated = (await findUser(c, row.id))!;
    return c.body(
      JSON.stringify(toScimUser(updated, c.get('config').auth.adminValues, base(c))),
      200,
      SCIM_JSON,
    );
  }

  // Provisioning (RFC 7644 §3.3) before the user's first sign-in: `userName` must be the `sub` of their JWTs, which
  // then find this row. Name and e-mail are kept until the first JWT brings its own.
  scim.on('POST', slashed('/Users'), async (c) => {
    const read = await jsonBody(c);
    if ('error' in read) return read.error;
    const parsed = PutUser.safeParse(read.body);
    const body = (parsed.success ? read.body : {}) as {
      displayName?: unknown;
      name?: { formatted?: unknown };
      emails?: unknown;
    };
    const active = parsed.success && parsed.data.active !== undefined ? flagOf(parsed.data.active) : true;
    const roles = parsed.success && parsed.data.roles !== undefined ? roleValues(parsed.data.roles) : [];
    if (
      !parsed.success ||
      !isUsableSubject(parsed.data.userName) ||
      active === undefined ||
      roles === undefined
    )
      return scimError(
        c,
        400,
        'Send a User resource with a userName (the subject of the user’s JWTs, 1–255 characters); `active` is a boolean and `roles` a list of {value}.',
        'invalidValue',
      );
    const emails = Array.isArray(body.emails)
      ? (body.emails as { value?: unknown; primary?: unknown }[])
      : [];
    const email = (emails.find((e) => e?.primary === true) ?? emails[0])?.value;
    const adminValues = c.get('config').auth.adminValues;
    const row = await provisionUser(serviceDeps(c), {
      subject: parsed.data.userName,
      name: displayText(body.displayName ?? body.name?.formatted, 200),
      email: displayText(email, 320),
      role: parsed.data.roles === undefined ? undefined : roleFromValues(roles, adminValues),
      active,
    });
    if (!row) return scimError(c, 409, 'A user with this userName exists.', 'uniqueness');
    const resource = toScimUser(row, adminValues, base(c));
    return c.body(JSON.stringify(resource), 201, { ...SCIM_JSON, Location: resource.meta.location });
  });

  scim.on('PATCH', slashed('/Users/:id'), async (c) => {
    const read = await jsonBody(c);
    if ('error' in read) return read.error;
    const changes = changesFromPatch(read.body, c.get('config').auth.adminValues);
    if (!changes)
      return scimError(
        c,
        400,
        'Only PatchOp operations that set `active`, `roles` or attributes of the User schema are supported.',
        'invalidValue',
      );
    const row = await findUser(c, c.req.param('id'));
    if (row?.kind !== 'user') return scimError(c, 404, 'No such user.');
    if (changes.userName !== undefined && renamed(changes.userName, row) && !deactivates(changes))
      return userNameFixed(c);
    return applyChanges(c, row, changes);
  });

  // A replace (RFC 7644 §3.5.1), as Okta sends to deprovision: `active` and `roles` apply when present. An absent
  // `roles` leaves the role as it is: providers that map no roles leave it out, and must not demote every admin.
  scim.on('PUT', slashed('/Users/:id'), async (c) => {
    const read = await jsonBody(c);
    if ('error' in read) return read.error;
    const parsed = PutUser.safeParse(read.body);
    const changes: UserChanges = {};
    const active =
      parsed.success && parsed.data.active !== undefined ? flagOf(parsed.data.active) : undefined;
    const roles =
      parsed.success && parsed.data.roles !== undefined ? roleValues(parsed.data.roles) : undefined;
    if (
      !parsed.success ||
      (parsed.data.active !== undefined && active === undefined) ||
      (parsed.data.roles !== undefined && roles === undefined)
    )
      return scimError(
        c,
        400,
        'Send a User resource; `active` is a boolean and `roles` a list of {value}.',
        'invalidValue',
      );
    if (active !== undefined) changes.active = active;
    if (roles) changes.role = roleFromValues(roles, c.get('config').auth.adminValues);
    const row = await findUser(c, c.req.param('id'));
    if (row?.kind !== 'user') return scimError(c, 404, 'No such user.');
    if (renamed(parsed.data.userName, row) && !deactivates(changes)) return userNameFixed(c);
    return applyChanges(c, row, changes);
  });

  // Deletion (RFC 7644 §3.6), as Entra ID sends once a user is removed for good: deprovisioned, their personal
  // tokens revoked (not restorable), and 404 from then on; a POST of the same userName brings them back.
  scim.on('DELETE', slashed('/Users/:id'), async (c) => {
    const row = await findUser(c, c.req.param('id'));
    if (row?.kind !== 'user') return scimError(c, 404, 'No such user.');
    try {
      await deleteUser(serviceDeps(c), row.id);
    } catch (error) {
      // Deleted by a concurrent call meanwhile.
      if (error instanceof AppError && error.status === 404) return scimError(c, 404, 'No such user.');
      throw error;
    }
    return c.body(null, 204);
  });

  for (const [path, allow] of Object.entries(ENDPOINTS)) {
    const endpoint = `/scim/v2${path.replace(':id', '{id}')}`;
    for (const variant of slashed(path))
      scim.all(variant, (c) =>
        scimError(c, 405, `${c.req.method} is not supported on ${endpoint}: it allows ${allow}.`, undefined, {
          Allow: allow,
        }),
      );
  }
  scim.all('*', (c) =>
    scimError(
      c,
      404,
      'No such SCIM endpoint: this subset serves /Users, /Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas.',
    ),
  );
  return scim;
}
