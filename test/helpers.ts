import { env, exports } from 'cloudflare:workers';
import { SignJWT } from 'jose';
import { TEST_VARS } from './vars';

// Shared helpers for integration tests: requests go through the Worker's real fetch handler, with real D1/KV.

export const BASE = 'http://gateway.test';

export function call(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(init.json);
  }
  return exports.default.fetch(new Request(BASE + path, { ...init, headers, body }));
}

let counter = 0;
/** A unique user name per call, so tests never share data. */
export function uniqueUser(prefix = 'user'): string {
  counter++;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A management JWT signed independently of the app, with the test HS256 secret. */
export async function jwtFor(
  subject: string,
  options: {
    role?: 'admin' | 'member';
    name?: string;
    email?: string;
    expiresIn?: string | number;
    issuer?: string;
    audience?: string;
    secret?: string;
    /** `iat` in epoch seconds (default: now). */
    issuedAt?: number;
  } = {},
): Promise<string> {
  const claims: Record<string, unknown> = { role: options.role ?? 'member' };
  if (options.name) claims.name = options.name;
  if (options.email) claims.email = options.email;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(subject)
    .setIssuer(options.issuer ?? TEST_VARS.AUTH_ISSUER)
    .setAudience(options.audience ?? TEST_VARS.AUTH_AUDIENCE)
    .setIssuedAt(options.issuedAt)
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(options.secret ?? TEST_VARS.AUTH_HS256_SECRET));
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

export interface CreatedTokenBody {
  id: string;
  token: string;
  name: string;
  status: string;
  expires_at: string | null;
  scopes: string[];
  [key: string]: unknown;
}

export async function createToken(
  jwt: string,
  body: Record<string, unknown> = {},
): Promise<CreatedTokenBody> {
  const res = await call('/api/v1/tokens', {
    method: 'POST',
    headers: bearer(jwt),
    json: { name: `token ${uniqueUser('t')}`, ...body },
  });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as CreatedTokenBody;
}

/** Every string stored in D1 and KV, to prove that no plaintext token is kept anywhere. */
export async function dumpStorage(): Promise<string> {
  const tables = ['principals', 'tokens', 'audit_events'];
  const parts: string[] = [];
  for (const table of tables) {
    const { results } = await env.DB.prepare(`select * from ${table}`).all();
    parts.push(JSON.stringify(results));
  }
  const { keys } = await env.TOKEN_CACHE.list();
  for (const key of keys) parts.push(key.name, (await env.TOKEN_CACHE.get(key.name)) ?? '');
  return parts.join('\n');
}
