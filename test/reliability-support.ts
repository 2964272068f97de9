import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { expect, vi } from 'vitest';
import { type Principal, toPrincipal } from '../src/auth/principals';
import { getConfig } from '../src/config';
import type { PrincipalRow } from '../src/db/schema';
import type { Route } from '../src/gateway/routes-config';
import { BASE62, checksumChars, crc32 } from '../src/tokens/format';
import { call, createToken } from './helpers';
import { createServiceAccount, knownUser, uniqueIp } from './integration/admin-support';

// Helpers for the reliability suites (faults, bad input, leaks). Faults are injected in-process: the Worker under
// test runs in the test's isolate and is handed the very same binding objects as `env` from 'cloudflare:workers'
// (a spy on env.TOKEN_CACHE.get or on D1PreparedStatement.prototype sees the Worker's own calls), so spying on
// them reproduces what an outage looks like from inside the Worker. Restore with vi.restoreAllMocks().

/** How D1 reports an outage (workerd prefixes every D1 failure with `D1_ERROR:`). */
export const D1_OUTAGE = 'D1_ERROR: Network connection lost.';

const WRITE_SQL = /^\s*(insert|update|delete|replace)\b/i;
type Statement = D1PreparedStatement & { statement?: string };

/**
 * - `down`: every query and batch rejects (D1 unreachable).
 * - `writes`: statements that write (and batches holding one) reject; reads work (e.g. a read-only replica).
 * - `commit-then-fail`: writes are applied, then the answer is lost (the caller sees an error anyway).
 */
export type D1Fault = 'down' | 'writes' | 'commit-then-fail';

/** Makes D1 fail as `mode` says until vi.restoreAllMocks(); `failures` counts the calls that failed. */
export function failD1(mode: D1Fault, message = D1_OUTAGE): { readonly failures: number } {
  const state = { failures: 0 };
  const fail = () => {
    state.failures++;
    return Promise.reject(new Error(message));
  };
  const proto = Object.getPrototypeOf(env.DB.prepare('select 1')) as Record<string, unknown>;
  for (const method of ['first', 'run', 'all', 'raw'] as const) {
    const original = proto[method] as (...args: unknown[]) => Promise<unknown>;
    vi.spyOn(proto as Record<typeof method, typeof original>, method).mockImplementation(function (
      this: Statement,
      ...args: unknown[]
    ) {
      const writes = WRITE_SQL.test(this.statement ?? '');
      if (mode === 'down' || (mode === 'writes' && writes)) return fail();
      if (mode === 'commit-then-fail' && writes) return original.apply(this, args).then(fail);
      return original.apply(this, args);
    });
  }
  const batch = env.DB.batch.bind(env.DB);
  vi.spyOn(env.DB, 'batch').mockImplementation(async (statements) => {
    const writes = statements.some((s) => WRITE_SQL.test((s as Statement).statement ?? ''));
    if (mode === 'down' || (mode === 'writes' && writes)) return fail() as never;
    if (mode === 'commit-then-fail' && writes) return batch(statements).then(fail) as never;
    return batch(statements);
  });
  return state;
}

/** Makes KV reads and/or writes reject, as Workers KV does when it is unavailable or rate limited. */
export function failKv(which: { reads?: boolean; writes?: boolean }): { readonly failures: number } {
  const state = { failures: 0 };
  const fail = (op: string) => () => {
    state.failures++;
    return Promise.reject(new Error(`KV ${op} failed: 503 Service Unavailable`));
  };
  const kv = env.TOKEN_CACHE;
  if (which.reads) {
    vi.spyOn(kv, 'get').mockImplementation(fail('GET') as never);
    vi.spyOn(kv, 'getWithMetadata').mockImplementation(fail('GET') as never);
  }
  if (which.writes) {
    vi.spyOn(kv, 'put').mockImplementation(fail('PUT'));
    vi.spyOn(kv, 'delete').mockImplementation(fail('DELETE'));
  }
  return state;
}

/** The application's tables (D1's and SQLite's own bookkeeping excluded). */
export async function d1Tables(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "select name from sqlite_master where type = 'table' and name not like '\\_cf\\_%' escape '\\' and name not like 'sqlite\\_%' escape '\\' order by name",
  ).all<{ name: string }>();
  return results.map((r) => r.name);
}

/** Every row of every application table, in a stable order: compare two of these to prove nothing changed. */
export async function snapshotD1(): Promise<Record<string, unknown[]>> {
  const snapshot: Record<string, unknown[]> = {};
  for (const table of await d1Tables()) {
    snapshot[table] = (await env.DB.prepare(`select * from "${table}" order by rowid`).all()).results;
  }
  return snapshot;
}

/** What one principal owns or caused: its row, its tokens and every audit event that mentions it. */
export async function ownerState(ownerId: string) {
  const all = async (sql: string) => (await env.DB.prepare(sql).bind(ownerId).all()).results;
  return {
    principal: await all('select * from principals where id = ?1'),
    tokens: await all('select * from tokens where owner_id = ?1 order by id'),
    audit: await all('select * from audit_events where owner_id = ?1 or actor_id = ?1 order by id'),
  };
}

/** Every KV key and value, as text. */
export async function dumpKv(): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page: KVNamespaceListResult<unknown> = await env.TOKEN_CACHE.list(cursor ? { cursor } : {});
    for (const key of page.keys) out.push(key.name, (await env.TOKEN_CACHE.get(key.name)) ?? '');
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return out;
}

/** A 503 `unavailable` problem with Retry-After: what a storage outage must look like to a client. */
export async function expectUnavailable(res: Response): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(503);
  expect(res.headers.get('Content-Type')).toBe('application/problem+json');
  expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(0);
  expect(JSON.parse(text)).toMatchObject({ status: 503, code: 'unavailable' });
}

/**
 * A refusal of bad input: a 4xx (never 5xx, never 2xx) problem+json (or SCIM error JSON) whose `errors` name
 * `field` when one is given. Returns the parsed body.
 */
export async function expectRefused(
  res: Response,
  options: { field?: string; scim?: boolean; label?: string } = {},
): Promise<Record<string, unknown>> {
  const text = await res.text();
  const label = `${options.label ?? ''} → ${res.status} ${text.slice(0, 300)}`;
  expect(res.status, label).toBeGreaterThanOrEqual(400);
  expect(res.status, label).toBeLessThan(500);
  const type = options.scim ? 'application/scim+json' : 'application/problem+json';
  expect(res.headers.get('Content-Type'), label).toBe(type);
  const body = JSON.parse(text) as Record<string, unknown>;
  if (options.scim) {
    expect(body.schemas, label).toEqual(['urn:ietf:params:scim:api:messages:2.0:Error']);
  } else {
    expect(body, label).toMatchObject({ status: res.status, code: expect.any(String) });
  }
  if (options.field) {
    const fields = ((body.errors ?? []) as { field: string }[]).map((e) => e.field);
    expect(fields, label).toContain(options.field);
  }
  return body;
}

/** The same string with the token's random part in each of the places a scanner must look. */
export function secretForms(token: string, prefix = 'pat_'): string[] {
  const body = token.slice(prefix.length);
  // Base64 of any text holding the token contains one of three fixed runs, depending on its offset mod 3.
  const base64 = [0, 1, 2].map((shift) => btoa('\0'.repeat(shift) + token).slice(4, -4));
  return [token, body, ...base64];
}

export const KB = 1024;
export const MB = 1024 * KB;

/** A well-formed `pat_` token from generated random characters (so fast-check can shrink and replay it). */
export const tokenArb: fc.Arbitrary<string> = fc
  .string({ unit: fc.constantFrom(...BASE62), minLength: 30, maxLength: 30 })
  .map((random) => `pat_${random}${checksumChars(crc32(`pat_${random}`))}`);

/** A route of the test configuration (test/vars.ts), compiled exactly as the Worker compiles it. */
export function testRoute(name: string): Route {
  const route = getConfig(env).routes.find((r) => r.name === name);
  if (!route) throw new Error(`no route ${name} in TEST_ROUTES`);
  return route;
}

function decodeLeniently(text: string): string {
  return text.replace(/%[0-9a-f]{2}/gi, (hex) => String.fromCharCode(Number.parseInt(hex.slice(1), 16)));
}

/**
 * How a lenient upstream may read a path: percent-decoded `decodes` times (so %2F is a slash and %252e a dot),
 * backslashes as slashes, `;parameters` dropped from segments (Tomcat's `..;`), empty segments merged and dot
 * segments resolved (RFC 3986 §5.2.4). Returns the resulting segments.
 */
function lenientSegments(pathname: string, decodes: number): string[] {
  let path = pathname;
  for (let i = 0; i < decodes; i++) path = decodeLeniently(path);
  const out: string[] = [];
  for (const raw of path.replace(/\\/g, '/').split('/')) {
    const segment = raw.split(';', 1)[0]!;
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  return out;
}

/** True when `pathname`, read as any lenient upstream might (0 to 2 decodes), leaves `base` (e.g. '/base'). */
export function escapesBase(pathname: string, base: string): boolean {
  const baseSegments = base.split('/').filter(Boolean);
  return [0, 1, 2].some((decodes) => {
    const segments = lenientSegments(pathname, decodes);
    return baseSegments.some((segment, i) => segments[i] !== segment);
  });
}

/** Pieces of path-traversal attempts: dots, encoded and double-encoded dots and slashes, backslashes, `;`. */
// biome-ignore format: a table reads better on two lines
const TRAVERSAL_PIECES = [
  '..', '.', '%2e', '%2E', '%2e%2e', '.%2e', '%2f', '%2F', '%5c', '%5C', '\\', '%252e', '%252E%252e', '%252f',
  '%25', ';', '..;', '%00', '%c0%ae', '%ef%bc%8e', '', 'a', 'etc', 'base',
];

/** A path of 0 to 6 segments built from traversal pieces (`//` arises from empty segments). */
export const traversalPathArb: fc.Arbitrary<string> = fc
  .array(
    fc.array(fc.constantFrom(...TRAVERSAL_PIECES), { minLength: 1, maxLength: 4 }).map((p) => p.join('')),
    { maxLength: 6 },
  )
  .map((segments) => segments.join('/'));

/** The people and things the bad-input suites aim at: a member with a token, an admin, a service account. */
export async function badInputWorld() {
  const member = await knownUser();
  const admin = await knownUser('admin');
  const target = await knownUser();
  const token = await createToken(member.jwt);
  const account = await createServiceAccount(admin);
  return { member, admin, target, token, account };
}
export type BadInputWorld = Awaited<ReturnType<typeof badInputWorld>>;

export interface JsonEndpoint {
  label: string;
  method: 'POST' | 'PATCH';
  path: string;
  auth: Record<string, string>;
  /** A body this endpoint accepts, to which each case adds or changes one thing. */
  valid: Record<string, unknown>;
}

/** Every management endpoint that takes a JSON body (SCIM and introspection have their own suite). */
export function jsonEndpoints(w: BadInputWorld): JsonEndpoint[] {
  const at = (
    method: JsonEndpoint['method'],
    route: string,
    auth: Record<string, string>,
    valid: object,
  ) => ({
    label: `${method} ${route}`,
    method,
    path: route.replace('{token}', w.token.id).replace('{account}', w.account.id),
    auth,
    valid: valid as Record<string, unknown>,
  });
  const [member, admin] = [w.member.auth, w.admin.auth];
  return [
    at('POST', '/tokens', member, { name: 'n1' }),
    at('PATCH', '/tokens/{token}', member, { name: 'n2' }),
    at('POST', '/tokens/{token}/rotate', member, { expires_in_days: 7 }),
    at('POST', '/dev/session', {}, { user: 'alice' }),
    at('POST', '/credentials/revoke', {}, { credentials: ['x'] }),
    at('POST', '/admin/tokens/lookup', admin, { token: 'x' }),
    at('POST', '/admin/tokens/bulk-revoke', admin, { ids: ['tok_x'] }),
    at('POST', '/admin/service-accounts', admin, { name: 's1' }),
    at('PATCH', '/admin/service-accounts/{account}', admin, { name: 's2' }),
    at('POST', '/admin/service-accounts/{account}/tokens', admin, { name: 'n3' }),
  ];
}

/** The labels of jsonEndpoints(), known before any world exists (for it.each names). */
export const JSON_ENDPOINT_LABELS = jsonEndpoints({
  member: { auth: {} },
  admin: { auth: {} },
  token: { id: '' },
  account: { id: '' },
} as unknown as BadInputWorld).map((e) => e.label);

/** The endpoint labelled `label` in this world. */
export function jsonEndpoint(w: BadInputWorld, label: string): JsonEndpoint {
  return jsonEndpoints(w).find((e) => e.label === label)!;
}

/** Sends `body` (text) to a JSON endpoint, from a fresh client IP (the leak-report endpoint limits per IP). */
export async function sendJson(
  e: JsonEndpoint,
  body: string,
  contentType: string | null = 'application/json',
) {
  const headers: Record<string, string> = { ...e.auth, 'cf-connecting-ip': uniqueIp() };
  if (contentType) headers['Content-Type'] = contentType;
  return call(`/api/v1${e.path}`, { method: e.method, headers, body });
}

/**
 * The next D1 read of a token by its `hash` gets its rows, then holds them until `release()` answers them, or with
 * `fail` loses them (D1 failing after the read).
 */
export function holdFirstTokenRead(hash: string, fail = false) {
  const proto = Object.getPrototypeOf(env.DB.prepare('select 1')) as { raw: () => Promise<unknown> };
  const raw = proto.raw;
  const state = { held: false, release: () => {} };
  const gate = new Promise<void>((resolve) => (state.release = resolve));
  vi.spyOn(proto, 'raw').mockImplementation(async function (this: D1PreparedStatement) {
    const rows = await raw.call(this);
    const { statement = '', params = [] } = this as { statement?: string; params?: unknown[] };
    if (!state.held && /from "tokens"/.test(statement) && params.includes(hash)) {
      state.held = true;
      await gate;
      if (fail) throw new Error(D1_OUTAGE);
    }
    return rows;
  });
  return state;
}

/** `db` whose first batch waits for `before()` to finish: a change that lands while another request runs. */
export function firstBatchAfter<T extends object>(db: T, before: () => Promise<unknown>): T {
  let fired = false;
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== 'batch') return Reflect.get(target, prop, receiver);
      return async (queries: unknown) => {
        if (!fired) {
          fired = true;
          await before();
        }
        return (target as { batch: (q: unknown) => Promise<unknown> }).batch(queries);
      };
    },
  });
}

/** A statement `recordedD1` saw prepared, with the values bound to it. */
export interface RecordedStatement {
  sql: string;
  params: unknown[];
}

/** `db` recording each statement prepared on it (each is a query D1 counts) and the values bound to it. */
export function recordedD1(db: D1Database = env.DB): { db: D1Database; statements: RecordedStatement[] } {
  const statements: RecordedStatement[] = [];
  const recording = new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare')
        return (query: string) => {
          const entry: RecordedStatement = { sql: query, params: [] };
          statements.push(entry);
          const statement = target.prepare(query);
          const bind = statement.bind.bind(statement);
          statement.bind = (...params: unknown[]) => {
            entry.params = params;
            return bind(...params);
          };
          return statement;
        };
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: recording, statements };
}

/** POST /oauth/introspect with the test client's credentials; the JSON answer. */
export async function introspect(token: string): Promise<Record<string, unknown>> {
  const res = await call('/oauth/introspect', {
    method: 'POST',
    headers: {
      Authorization: `Basic ${btoa('resource-server:introspection-secret-123')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }).toString(),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** A principal as the service layer takes it, read from D1 by subject. */
export async function principalOf(subject: string): Promise<Principal> {
  const row = await env.DB.prepare('select * from principals where subject = ?')
    .bind(subject)
    .first<Record<string, unknown>>();
  return toPrincipal({ ...row, active: Boolean(row!.active) } as unknown as PrincipalRow);
}
