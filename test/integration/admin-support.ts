import { expect } from 'vitest';
import { bearer, type CreatedTokenBody, call, createToken } from '../helpers';
import { TEST_VARS } from '../vars';
import { API, expectJson, getWith, newUser, postJson, type TestUser, type TokenBody } from './support';

// Helpers for the issue-4 suites (principals, permission matrix, admin API, deactivation, SCIM, leak reports,
// hygiene), on top of test/helpers.ts and ./support.ts.

export interface PrincipalBody {
  id: string;
  kind: 'user' | 'service_account';
  subject: string | null;
  name: string | null;
  email: string | null;
  description: string | null;
  role: 'admin' | 'member';
  active: boolean;
  created_at: string;
  updated_at: string;
  last_seen_at: string | null;
  deleted_at: string | null;
}

export interface OwnerSummary {
  id: string;
  kind: 'user' | 'service_account';
  name: string | null;
  email: string | null;
  subject: string | null;
  active: boolean;
}

export type AdminTokenBody = TokenBody & { owner: OwnerSummary };

export interface AuditEvent {
  id: string;
  at: string;
  action: string;
  actor: { id: string | null; kind: string; token_id: string | null };
  target: { type: string; id: string };
  owner_id: string | null;
  detail: Record<string, unknown> | null;
}

/** A user the gateway has seen (their first call records them), with their principal id. */
export interface KnownUser extends TestUser {
  id: string;
}

export async function knownUser(role: 'admin' | 'member' = 'member'): Promise<KnownUser> {
  const user = await newUser(role);
  const me = await expectJson<{ id: string; role: string }>(await getWith('/currentuser', user.jwt), 200);
  expect(me.role).toBe(role);
  return { ...user, id: me.id };
}

/** A user with one personal token (all the scopes their role allows unless `body` says otherwise). */
export async function knownUserWithToken(
  role: 'admin' | 'member' = 'member',
  body: Record<string, unknown> = {},
): Promise<{ user: KnownUser; created: CreatedTokenBody }> {
  const user = await knownUser(role);
  return { user, created: await createToken(user.jwt, body) };
}

export async function createServiceAccount(
  admin: TestUser,
  body: Record<string, unknown> = {},
): Promise<PrincipalBody> {
  const res = await postJson('/admin/service-accounts', admin.jwt, {
    name: `svc ${crypto.randomUUID()}`,
    ...body,
  });
  return expectJson<PrincipalBody>(res, 201);
}

export async function createServiceToken(
  admin: TestUser,
  accountId: string,
  body: Record<string, unknown> = {},
): Promise<CreatedTokenBody> {
  const res = await postJson(`/admin/service-accounts/${accountId}/tokens`, admin.jwt, {
    name: `svc token ${crypto.randomUUID()}`,
    ...body,
  });
  return expectJson<CreatedTokenBody>(res, 201);
}

/** An admin, a service account of theirs and one service token for it. */
export async function serviceSetup(role: 'admin' | 'member' = 'member', body: Record<string, unknown> = {}) {
  const admin = await knownUser('admin');
  const account = await createServiceAccount(admin, { role });
  const created = await createServiceToken(admin, account.id, body);
  return { admin, account, created };
}

/** A request through the gateway to the built-in echo upstream (GET needs `read`, other methods `write`). */
export function echo(token: string, method = 'POST', headers: Record<string, string> = {}) {
  return call('/echo/ping', { method, headers: { ...bearer(token), ...headers } });
}

export function del(path: string, jwt: string) {
  return call(API + path, { method: 'DELETE', headers: bearer(jwt) });
}

export async function adminAudit(admin: TestUser, query: Record<string, string>): Promise<AuditEvent[]> {
  const params = new URLSearchParams({ limit: '100', ...query });
  const page = await expectJson<{ data: AuditEvent[] }>(
    await getWith(`/admin/audit?${params}`, admin.jwt),
    200,
  );
  return page.data;
}

/** Retries `check` until it stops throwing (work done in waitUntil lands after the response), or rethrows. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/** A SCIM answer's JSON, after checking its status and SCIM's media type. */
export async function scimJson<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('Content-Type')).toBe('application/scim+json');
  return JSON.parse(text) as T;
}

export const SCIM_PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export function scim(
  path: string,
  init: {
    method?: string;
    json?: unknown;
    raw?: string;
    token?: string | null;
    contentType?: string;
    headers?: Record<string, string>;
  } = {},
) {
  const headers: Record<string, string> = { ...init.headers };
  const token = init.token === undefined ? TEST_VARS.SCIM_BEARER_TOKEN : init.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  const body = init.raw ?? (init.json === undefined ? undefined : JSON.stringify(init.json));
  if (body !== undefined) headers['Content-Type'] = init.contentType ?? 'application/scim+json';
  return call(`/scim/v2${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(body === undefined ? {} : { body }),
  });
}

/** A SCIM PatchOp setting `active`, in the `path` form or the `value: {active}` form. */
export function scimActive(active: boolean, form: 'path' | 'value' = 'path') {
  const op =
    form === 'path' ? { op: 'replace', path: 'active', value: active } : { op: 'replace', value: { active } };
  return { schemas: [SCIM_PATCH], Operations: [op] };
}

/** A documentation-range IPv6 address unique to this call: the leak limiter counts per client IP. */
export function uniqueIp(): string {
  const [a, b, c] = crypto.getRandomValues(new Uint16Array(3));
  return `2001:db8:${a!.toString(16)}:${b!.toString(16)}::${c!.toString(16)}`;
}
