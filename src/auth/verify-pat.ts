import { and, eq, isNull } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { Config } from '../config';
import { changedRows } from '../db/conditional';
import { tokens } from '../db/schema';
import { serviceUnavailable } from '../errors';
import { isWellFormedToken } from '../tokens/format';
import { hashToken } from '../tokens/hash';
import { findTokenStateByHash, findTokenStateById } from '../tokens/repository';
import { admitsRequests, type TokenState, tokenStateFrom } from '../tokens/state';
import {
  type CachedLookup,
  heldState,
  isolateCache,
  kvKey,
  type LoadTicket,
  loadLimits,
  readKv,
  sharedLoad,
  writeKv,
} from './token-cache';

// Verifying a presented PAT, as a readable sequence of checks:
//   format + checksum (no I/O) → hash → isolate memory → KV → D1 → status → expiry → owner → scopes.
// Concurrent misses for one hash share a single KV read and a single D1 read (see `sharedLoad`).
// Expiry and owner state are evaluated from the record on every call, so no cache TTL extends a token's life.

export type VerifyFailure =
  | 'malformed'
  | 'unknown'
  | 'revoked'
  | 'deleted'
  | 'expired'
  | 'owner_inactive'
  /** Not decided: it needed D1 and the caller asked for `cacheOnly`. */
  | 'deferred';
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
  /**
   * Answer from isolate memory and KV only; what would need D1 is refused as `deferred` (the caller is over its
   * failed-authentication limit, see src/gateway/abuse.ts).
   */
  cacheOnly?: boolean;
}

/** Storage reads made by verification in this isolate (for benchmarks and tests). */
export const verifyStats = { memoryHits: 0, kvReads: 0, d1Reads: 0 };

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
  // Written so that an exp that is not a number (never from D1) refuses rather than means "never".
  if (state.exp !== null && !(typeof state.exp === 'number' && state.exp > deps.now))
    return refuse('expired');
  // A deactivated user's personal tokens stop; service tokens belong to service accounts and carry on.
  if (!state.owner.active && state.type === 'personal') return refuse('owner_inactive');
  return { ok: true, state, hash, scopes: effectiveScopes(state, deps.config), source };
}

/** A D1 read for verification. Fails closed: an unknown answer from storage never lets a request through. */
async function readD1<T>(read: () => Promise<T>): Promise<T> {
  verifyStats.d1Reads++;
  try {
    return await read();
  } catch (error) {
    console.error(JSON.stringify({ event: 'verify_d1_failed', error: String(error) }));
    throw serviceUnavailable('Token storage is unavailable; try again shortly.');
  }
}

async function loadFromD1(deps: VerifyDeps, hash: string, token: string) {
  const { config } = deps;
  const candidates = [hash];
  for (const pepper of config.peppers.previous) candidates.push(await hashToken(token, pepper));
  const readAt = Date.now();
  const row = await readD1(() => findTokenStateByHash(deps.db, candidates));
  if (!row) return { state: null, upgraded: false, readAt };
  const upgraded = row.secretHash !== hash;
  if (upgraded) {
    // Stored under an older pepper: move it to the current one. Until that lands nothing is cached, so a
    // revocation (which tombstones the stored hash) can never miss a cached copy.
    deps.waitUntil(
      deps.db
        .update(tokens)
        .set({ secretHash: hash, pepperVersion: config.peppers.current.version })
        // Never a revoked row, nor one another request upgraded meanwhile: a revocation tombstones the hash it
        // read, and its resync (by id) the one the row holds then.
        .where(and(eq(tokens.id, row.id), eq(tokens.secretHash, row.secretHash), isNull(tokens.revokedAt)))
        .run()
        // While two versions are live (a gradual deployment, a rollback), the old one may have cached the token
        // under the old hash; no later change publishes under it, so that record goes now.
        .then((result) => (changedRows(result) > 0 ? deps.kv.delete(kvKey(row.secretHash)) : undefined))
        .catch((error: unknown) =>
          console.error(JSON.stringify({ event: 'pepper_upgrade_failed', error: String(error) })),
        ),
    );
  }
  return { state: tokenStateFrom(row), upgraded, readAt };
}

const SKIP_KV = 'skip-kv';

/** Isolate memory's answer, if it has one; `SKIP_KV` when a change made here says KV's record is stale. */
function fromMemory(hash: string, deps: VerifyDeps): VerifyResult | typeof SKIP_KV | undefined {
  const cached = isolateCache(deps.config).get(hash, deps.now);
  // Denials (unknown, tombstones) are always trusted; in strict mode positives are not.
  if (cached !== undefined && !(deps.strict && cached?.state === 'active')) {
    verifyStats.memoryHits++;
    return decide(cached, deps, hash, 'memory');
  }
  // What a change made here holds while KV refuses it: a denial, or "KV's record is stale, skip it".
  const held = cached === undefined ? heldState(hash, deps.now) : undefined;
  if (held === 'd1') return SKIP_KV;
  if (held === undefined) return undefined;
  verifyStats.memoryHits++;
  return decide(held, deps, hash, 'memory');
}

/**
 * Verifies again a token verified earlier, for a connection it opened that is still open (src/gateway/live.ts): by
 * its hash and id, as the token itself is not kept. The same sources as a request (memory, KV, then D1 by id, as a
 * pepper upgrade may have moved the row to another hash), but nothing is cached from here: a request fills caches.
 * Throws 503 when storage cannot answer.
 */
export async function reverify(hash: string, tokenId: string, deps: VerifyDeps): Promise<VerifyResult> {
  const remembered = fromMemory(hash, deps);
  if (remembered !== undefined && remembered !== SKIP_KV) return remembered;
  const fromKv = deps.strict || remembered === SKIP_KV ? null : await readKvOrNull(deps, hash);
  if (fromKv) return decide(fromKv, deps, hash, 'kv');
  const row = await readD1(() => findTokenStateById(deps.db, tokenId));
  return decide(row ? tokenStateFrom(row) : null, deps, hash, 'd1');
}

export async function verifyPat(token: string, deps: VerifyDeps): Promise<VerifyResult> {
  const { config, now } = deps;
  if (!isWellFormedToken(token, config.tokenPrefix))
    return { ok: false, reason: 'malformed', tokenId: null, ownerId: null, source: 'none' };
  const hash = await hashToken(token, config.peppers.current);

  const remembered = fromMemory(hash, deps);
  if (remembered !== undefined && remembered !== SKIP_KV) return remembered;
  const skipKv = remembered === SKIP_KV;

  if (deps.cacheOnly) {
    // Shared and ticketed like any other load, so a change published meanwhile is not overwritten in memory.
    const fromKv =
      deps.strict || skipKv
        ? null
        : await sharedLoad('kv:', hash, now, deps.waitUntil, async (ticket) => {
            const value = await readKvOrNull(deps, hash);
            if (value && !ticket.stale) remember(deps, hash, value);
            return value;
          });
    if (!fromKv) return { ok: false, reason: 'deferred', tokenId: null, ownerId: null, source: 'none' };
    return decide(fromKv, deps, hash, 'kv');
  }
  if (deps.strict) {
    // A read already in flight may predate the request: a strict route waits for the next one (see sharedLoad).
    const { state } = await sharedLoad(
      'd1:',
      hash,
      now,
      deps.waitUntil,
      async (ticket) => {
        const loaded = await loadFromD1(deps, hash, token);
        if (!loaded.upgraded && !ticket.stale) remember(deps, hash, loaded.state);
        return loaded;
      },
      true,
    );
    return decide(state, deps, hash, 'd1');
  }
  const { state, source } = await sharedLoad('miss:', hash, now, deps.waitUntil, (ticket) =>
    loadMiss(deps, hash, token, ticket, skipKv),
  );
  return decide(state, deps, hash, source);
}

/**
 * KV (unless `skipKv`), then D1; caches what it found unless the token changed meanwhile (or its row moves to a new
 * pepper).
 */
async function loadMiss(
  deps: VerifyDeps,
  hash: string,
  token: string,
  ticket: LoadTicket,
  skipKv: boolean,
): Promise<{ state: TokenState | null; source: VerifySource }> {
  const { config } = deps;
  const fromKv = skipKv ? null : await readKvOrNull(deps, hash);
  if (fromKv) {
    if (!ticket.stale) remember(deps, hash, fromKv);
    return { state: fromKv, source: 'kv' };
  }
  const { state, upgraded, readAt } = await sharedLoad('d1:', hash, deps.now, deps.waitUntil, () =>
    loadFromD1(deps, hash, token),
  );
  if (!upgraded && !ticket.stale) {
    remember(deps, hash, state);
    // Only records that let a request through go to KV: a denial read here could be undone in D1 a moment later
    // (a restore, a reactivation) and a stale negative would then outlive it; denials are KV's by publish only.
    // And only from a read begun at most `fillWindowMs` (1 s) ago: a change made elsewhere during a read that
    // missed it checks KV again 1.5 s after its own write, so after this one lands, and drops it.
    if (state && admitsRequests(state, deps.now) && Date.now() - readAt <= loadLimits.fillWindowMs)
      deps.waitUntil(writeKv(deps.kv, hash, state, config, deps.now).catch(() => {}));
  }
  return { state, source: 'd1' };
}

/** The KV record, or null when there is none or KV fails (KV is only a cache: then D1 decides). */
async function readKvOrNull(deps: VerifyDeps, hash: string): Promise<TokenState | null> {
  try {
    verifyStats.kvReads++;
    return await readKv(deps.kv, hash, deps.config);
  } catch (error) {
    console.error(JSON.stringify({ event: 'verify_kv_failed', error: String(error) }));
    return null;
  }
}

function remember(deps: VerifyDeps, hash: string, value: CachedLookup) {
  const { cache } = deps.config;
  const ttl = value === null ? cache.negativeTtlMs : cache.isolateTtlMs;
  if (ttl > 0) isolateCache(deps.config).set(hash, value, deps.now + ttl);
}
