import { eq } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { Config } from '../config';
import { tokens } from '../db/schema';
import { serviceUnavailable } from '../errors';
import { isWellFormedToken } from '../tokens/format';
import { hashToken } from '../tokens/hash';
import { findTokenStateByHash } from '../tokens/repository';
import { type TokenState, tokenStateFrom } from '../tokens/state';
import { type CachedLookup, isolateCache, readKv, writeKv } from './token-cache';

// Verifying a presented PAT, as a readable sequence of checks:
//   format + checksum (no I/O) → hash → isolate memory → KV → D1 (coalesced) → status → expiry → owner → scopes.
// Expiry and owner state are evaluated from the record on every call, so no cache TTL extends a token's life.

export type VerifyFailure = 'malformed' | 'unknown' | 'revoked' | 'deleted' | 'expired' | 'owner_inactive';
export type VerifySource = 'none' | 'memory' | 'kv' | 'd1';

export type VerifyResult =
  | { ok: true; state: TokenState; hash: string; scopes: string[]; source: VerifySource }
  | {
      ok: false;
      reason: VerifyFailure;
      tokenId: string | null;
      ownerId: string | null;
      source: VerifySource;
    };

export interface VerifyDeps {
  config: Config;
  db: DrizzleD1Database;
  kv: KVNamespace;
  now: number;
  waitUntil(promise: Promise<unknown>): void;
  /** Skip positive cache entries and read D1 every time (per-route `strict`). */
  strict?: boolean;
}

/** Storage reads made by verification in this isolate (for benchmarks and tests). */
export const verifyStats = { memoryHits: 0, kvReads: 0, d1Reads: 0 };

const inflight = new Map<string, Promise<{ state: TokenState | null; upgraded: boolean }>>();

/** The scopes a token may use now: its own, within what its owner's role allows today. */
export function effectiveScopes(state: TokenState, config: Config): string[] {
  const allowed = config.roleScopes[state.owner.role];
  return state.scopes.filter((s) => allowed.includes(s));
}

function decide(
  state: TokenState | null,
  deps: VerifyDeps,
  hash: string,
  source: VerifySource,
): VerifyResult {
  if (!state) return { ok: false, reason: 'unknown', tokenId: null, ownerId: null, source };
  const refuse = (reason: VerifyFailure): VerifyResult => ({
    ok: false,
    reason,
    tokenId: state.id,
    ownerId: state.owner.id || null,
    source,
  });
  if (state.state !== 'active') return refuse(state.state);
  if (state.exp !== null && state.exp <= deps.now) return refuse('expired');
  // A deactivated user's personal tokens stop; service tokens belong to service accounts and carry on.
  if (!state.owner.active && state.type === 'personal') return refuse('owner_inactive');
  return { ok: true, state, hash, scopes: effectiveScopes(state, deps.config), source };
}

async function loadFromD1(deps: VerifyDeps, hash: string, token: string) {
  const { config } = deps;
  const candidates = [hash];
  for (const pepper of config.peppers.previous) candidates.push(await hashToken(token, pepper));
  verifyStats.d1Reads++;
  let row: Awaited<ReturnType<typeof findTokenStateByHash>>;
  try {
    row = await findTokenStateByHash(deps.db, candidates);
  } catch (error) {
    // Fail closed: an unknown answer from storage never lets a request through.
    console.error(JSON.stringify({ event: 'verify_d1_failed', error: String(error) }));
    throw serviceUnavailable('Token storage is unavailable; try again shortly.');
  }
  if (!row) return { state: null, upgraded: false };
  const upgraded = row.secretHash !== hash;
  if (upgraded) {
    // Stored under an older pepper: move it to the current one. Until that lands nothing is cached, so a
    // revocation (which tombstones the stored hash) can never miss a cached copy.
    deps.waitUntil(
      deps.db
        .update(tokens)
        .set({ secretHash: hash, pepperVersion: config.peppers.current.version })
        .where(eq(tokens.id, row.id))
        .run(),
    );
  }
  return { state: tokenStateFrom(row), upgraded };
}

export async function verifyPat(token: string, deps: VerifyDeps): Promise<VerifyResult> {
  const { config, now } = deps;
  if (!isWellFormedToken(token, config.tokenPrefix))
    return { ok: false, reason: 'malformed', tokenId: null, ownerId: null, source: 'none' };
  const hash = await hashToken(token, config.peppers.current);
  const memory = isolateCache(config);

  const cached = memory.get(hash, now);
  // Denials (unknown, tombstones) are always trusted; in strict mode positives are not.
  if (cached !== undefined && !(deps.strict && cached?.state === 'active')) {
    verifyStats.memoryHits++;
    return decide(cached, deps, hash, 'memory');
  }

  if (!deps.strict) {
    let fromKv: TokenState | null = null;
    try {
      verifyStats.kvReads++;
      fromKv = await readKv(deps.kv, hash, config);
    } catch (error) {
      // KV is only a cache: on failure, D1 decides.
      console.error(JSON.stringify({ event: 'verify_kv_failed', error: String(error) }));
    }
    if (fromKv) {
      remember(deps, hash, fromKv);
      return decide(fromKv, deps, hash, 'kv');
    }
  }

  let load = inflight.get(hash);
  if (!load) {
    load = loadFromD1(deps, hash, token).finally(() => inflight.delete(hash));
    inflight.set(hash, load);
  }
  const { state, upgraded } = await load;
  if (!upgraded) {
    remember(deps, hash, state);
    if (state && !deps.strict) {
      deps.waitUntil(writeKv(deps.kv, hash, state, config, now).catch(() => {}));
    }
  }
  return decide(state, deps, hash, 'd1');
}

function remember(deps: VerifyDeps, hash: string, value: CachedLookup) {
  const { cache } = deps.config;
  const ttl = value === null ? cache.negativeTtlMs : cache.isolateTtlMs;
  if (ttl > 0) isolateCache(deps.config).set(hash, value, deps.now + ttl);
}
