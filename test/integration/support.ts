import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { verifyStats } from '../../src/auth/verify-pat';
import { bearer, type CreatedTokenBody, call, createToken, jwtFor, uniqueUser } from '../helpers';
import { TEST_VARS } from '../vars';

// Helpers shared by the management API integration tests (on top of test/helpers.ts).

export const API = '/api/v1';
export const DAY_MS = 86_400_000;

export interface FieldError {
  field: string;
  code: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export interface TokenBody {
  id: string;
  type: string;
  owner_id: string;
  name: string;
  description: string | null;
  scopes: string[];
  hint: string;
  status: 'active' | 'expired' | 'revoked';
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  last_used_ip: string | null;
  revoked_at: string | null;
  revoke_reason: string | null;
  rotated_from_id: string | null;
  token?: string;
}

export interface TokenPage {
  data: TokenBody[];
  next_cursor: string | null;
}

export interface TestUser {
  subject: string;
  jwt: string;
  auth: Record<string, string>;
}

/** A fresh user (never seen by the gateway) and a valid management JWT for them. */
export async function newUser(role: 'admin' | 'member' = 'member'): Promise<TestUser> {
  const subject = uniqueUser(role);
  const jwt = await jwtFor(subject, { role, name: `Name of ${subject}`, email: `${subject}@example.test` });
  return { subject, jwt, auth: bearer(jwt) };
}

/** A user and one freshly created token of theirs. */
export async function userWithToken(
  body: Record<string, unknown> = {},
): Promise<{ user: TestUser; created: CreatedTokenBody }> {
  const user = await newUser();
  return { user, created: await createToken(user.jwt, body) };
}

/** Asserts a JSON success response that may not be cached, and returns its body. */
export async function expectJson<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
  expect(res.headers.get('Cache-Control')).toBe('no-store');
  return JSON.parse(text) as T;
}

/** Asserts an RFC 9457 problem response with the given status and code, and returns its body. */
export async function expectProblem(res: Response, status: number, code: string): Promise<Problem> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('Content-Type')).toBe('application/problem+json');
  expect(res.headers.get('Cache-Control')).toBe('no-store');
  const body = JSON.parse(text) as Problem;
  expect(body).toMatchObject({ status, code, type: expect.stringContaining(code) });
  return body;
}

/** A 422 `validation_failed` that names `field` (with `code`, when given). */
export async function expectFieldError(res: Response, field: string, code?: string): Promise<Problem> {
  const problem = await expectProblem(res, 422, 'validation_failed');
  expect(problem.errors).toEqual(
    expect.arrayContaining([expect.objectContaining({ field, ...(code ? { code } : {}) })]),
  );
  return problem;
}

/** The part of a problem that must not reveal which resource was asked for. */
export function problemShape(problem: Problem) {
  const { request_id: _requestId, instance: _instance, ...rest } = problem;
  return rest;
}

export function postJson(path: string, jwt: string, json?: unknown, headers: Record<string, string> = {}) {
  return call(API + path, {
    method: 'POST',
    headers: { ...bearer(jwt), ...headers },
    ...(json === undefined ? {} : { json }),
  });
}

export function patchJson(path: string, jwt: string, json: unknown) {
  return call(API + path, { method: 'PATCH', headers: bearer(jwt), json });
}

export function getWith(path: string, jwt: string) {
  return call(API + path, { headers: bearer(jwt) });
}

/** GET /currentuser authenticated by a PAT in the given header. */
export function currentUserWithPat(
  token: string,
  header: 'x-pat' | 'x-auth-token' | 'Authorization' = 'x-pat',
) {
  const value = header === 'Authorization' ? `Bearer ${token}` : token;
  return call(`${API}/currentuser`, { headers: { [header]: value } });
}

/** `YYYY-MM-DD` for the UTC day `days` after today. */
export function utcDate(days: number): string {
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  return new Date(today + days * DAY_MS).toISOString().slice(0, 10);
}

/** Moves a token's expiry into the past directly in D1 (the API refuses past dates, as it should). */
export async function expireInD1(id: string, msAgo = 60_000): Promise<void> {
  const result = await env.DB.prepare('update tokens set expires_at = ? where id = ?')
    .bind(Date.now() - msAgo, id)
    .run();
  expect(result.meta.changes).toBe(1);
}

export async function tokenRow(id: string): Promise<Record<string, unknown> | null> {
  return env.DB.prepare('select * from tokens where id = ?').bind(id).first();
}

/** The KV key of a token: `tok:` + hex HMAC-SHA256(TOKEN_PEPPER, token), computed independently of src/. */
export async function kvKeyFor(token: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(TEST_VARS.TOKEN_PEPPER),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(token)));
  return `tok:${[...mac].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export interface KvState {
  v: number;
  id: string;
  state: 'active' | 'revoked' | 'deleted';
  exp: number | null;
  [key: string]: unknown;
}

/** Polls KV until `key` holds a record matching `accept` (create writes KV in waitUntil), or fails. */
export async function waitForKv(
  key: string,
  accept: (state: KvState) => boolean = () => true,
  timeoutMs = 3_000,
): Promise<KvState> {
  const deadline = Date.now() + timeoutMs;
  let last: KvState | null = null;
  while (Date.now() < deadline) {
    last = await env.TOKEN_CACHE.get<KvState>(key, 'json');
    if (last && accept(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`KV ${key} never matched; last value: ${JSON.stringify(last)}`);
}

/** Every page of GET /tokens for `query`, following next_cursor; fails on a loop. */
export async function listAllPages(jwt: string, query: Record<string, string>): Promise<TokenBody[][]> {
  const pages: TokenBody[][] = [];
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams({ ...query, ...(cursor ? { cursor } : {}) });
    const page: TokenPage = await expectJson<TokenPage>(await getWith(`/tokens?${params}`, jwt), 200);
    pages.push(page.data);
    cursor = page.next_cursor;
    if (pages.length > 100) throw new Error('pagination does not terminate');
  } while (cursor);
  return pages;
}

export type { CreatedTokenBody };

/** Storage reads the gateway's verification made while `work` ran. */
export async function storageReadsDuring(work: () => Promise<unknown>): Promise<{ kv: number; d1: number }> {
  const before = { ...verifyStats };
  await work();
  return { kv: verifyStats.kvReads - before.kvReads, d1: verifyStats.d1Reads - before.d1Reads };
}
