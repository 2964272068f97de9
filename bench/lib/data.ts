// The benchmark's data: tokens created through the management API or written straight into D1, and the counters
// the harness reads between slices (the gateway's verifyStats through BenchControl, the upstream's token leaks).
import { createHmac, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { generateToken } from '../../src/tokens/format';
import type { Stack } from './stack';

/**
 * `count` valid tokens of the bench user, written straight into D1 (one statement per 2,000 rows): far faster
 * than the API for many tokens. Their KV records appear on first use, as for any token KV has not seen.
 */
export async function seedTokens(stack: Stack, count: number): Promise<string[]> {
  const db = await stack.mf.getD1Database('DB', 'gateway');
  const owner = await db
    .prepare("SELECT id FROM principals WHERE subject = 'bench-user'")
    .first<{ id: string }>();
  if (!owner) throw new Error('the bench user was not created');
  const tokens = Array.from({ length: count }, () => generateToken('pat_'));
  const now = Date.now();
  for (let i = 0; i < count; i += 2000) {
    const rows = tokens
      .slice(i, i + 2000)
      .map((token) => [
        `tok_mem${randomBytes(8).toString('hex')}`,
        createHmac('sha256', stack.secrets.pepper).update(token).digest('hex'),
      ]);
    await db
      .prepare(
        `INSERT INTO tokens (id, owner_id, type, name, name_key, scopes, secret_hash, pepper_version, hint,
           created_at, updated_at, created_by, expires_at)
         SELECT json_extract(value, '$[0]'), ?1, 'personal', json_extract(value, '$[0]'), json_extract(value, '$[0]'),
           '["read","write"]', json_extract(value, '$[1]'), 1, 'pat_…', ?2, ?2, ?1, ?3
         FROM json_each(?4)`,
      )
      .bind(owner.id, now, now + 86_400_000, JSON.stringify(rows))
      .run();
  }
  return tokens;
}

/** Creates tokens through the management API, as a user would (so KV and D1 hold what production would). */
export async function createTokens(stack: Stack, names: string[]): Promise<Record<string, string>> {
  const jwt = await new SignJWT({ role: 'member', name: 'Bench User' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('pat-gateway-bench')
    .setAudience('pat-gateway')
    .setSubject('bench-user')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(stack.secrets.hs256));
  const tokens: Record<string, string> = {};
  for (const name of names) {
    const res = await fetch(`${stack.gateway}/api/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench ${name}`, expires_in_days: 30, scopes: ['read', 'write'] }),
    });
    const body = (await res.json()) as { token?: string };
    if (res.status !== 201 || !body.token)
      throw new Error(`creating token ${name}: ${res.status} ${JSON.stringify(body)}`);
    tokens[name] = body.token;
  }
  return tokens;
}

export interface VerifyStatsSnapshot {
  memoryHits: number;
  kvReads: number;
  d1Reads: number;
  cacheEntries: number;
  cacheMax: number;
}

export async function readStats(control: string): Promise<VerifyStatsSnapshot> {
  const res = await fetch(`${control}/stats`);
  if (!res.ok) throw new Error(`bench stats: ${res.status} ${await res.text()}`);
  return (await res.json()) as VerifyStatsSnapshot;
}

export interface UpstreamStats {
  requests: number;
  /** Requests that still carried a token. */
  leaked: number;
  /** Requests whose body was not the length they announced, or POSTs without a body. */
  badBodies: number;
}

export async function upstreamStats(upstream: string): Promise<UpstreamStats> {
  return (await (await fetch(`${upstream}/__upstream/stats`)).json()) as UpstreamStats;
}
