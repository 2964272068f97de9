import type { Config } from '../config';
import { admitsRequests, isTokenState, type TokenState, tombstone } from '../tokens/state';
import { ExpiringLru } from './lru';

// The two cache tiers in front of D1, both keyed by the token's HMAC (never the token):
//   isolate memory  `ExpiringLru`, CACHE_TTL_SECONDS for records, NEGATIVE_CACHE_TTL_SECONDS for unknown tokens;
//   KV              `tok:<hmac hex>` → TokenState JSON, read with cacheTtl KV_CACHE_TTL_SECONDS.
// Changes write D1 first, then overwrite KV (a tombstone for revoke and delete, since KV also caches "not
// found"), then evict the isolate copy. See README "Revocation semantics" for the resulting bounds.

/** `null` is a cached "unknown token". */
export type CachedLookup = TokenState | null;

export const KV_PREFIX = 'tok:';
/** Tombstones outlive positive records: they must win against any copy a location still holds. */
const TOMBSTONE_TTL_SECONDS = 7 * 86_400;

let local: ExpiringLru<CachedLookup> | undefined;

export function isolateCache(config: Config): ExpiringLru<CachedLookup> {
  if (!local) local = new ExpiringLru(config.cache.maxEntries);
  return local;
}

/**
 * What a change made here holds while KV refuses to take it (see KV_FAILURE_HOLD_MS): a denial, or `'d1'`, "KV's
 * record is stale, read D1" (a positive narrowed by an owner change, whose KV delete failed). Kept apart from the
 * LRU, which unknown tokens fill: a flood of made-up tokens must not push a hold out. Only changes made in this
 * isolate while KV fails add to it, so its bound is never reached in practice.
 */
export type Hold = TokenState | 'd1';
const MAX_HOLDS = 10_000;
let holds: ExpiringLru<Hold> | undefined;

/** The hold on this token, if a change made here has one. Free while there is none (the usual case). */
export function heldState(hash: string, now: number): Hold | undefined {
  if (!holds || holds.size === 0) return undefined;
  return holds.get(hash, now);
}

function hold(hash: string, value: Hold, until: number): void {
  holds ??= new ExpiringLru(MAX_HOLDS);
  holds.set(hash, value, until);
}

/** For tests and benchmarks: forget everything this isolate cached. */
export function resetIsolateCache(): void {
  local = undefined;
  holds = undefined;
}

// Concurrent requests of this isolate that miss the memory tier for the same hash share one storage load.
// The load's I/O belongs to the request that started it, so that request keeps it alive with waitUntil: the
// runtime then finishes it even if that client goes away (cancellation waits for waitUntil promises, up to 30 s),
// instead of leaving every request that joined it waiting on I/O that will never complete.
interface Load<T> {
  promise: Promise<T>;
  since: number;
  /** Set when the token changed while loading: the result must not be cached. */
  stale: boolean;
  /** The load queued to start when this one settles, shared by fresh requests that arrived meanwhile. */
  next?: Load<T>;
}

export interface LoadTicket {
  readonly stale: boolean;
}

const loads = new Map<string, Load<unknown>>();
/** Callers that queued behind a load in flight for a fresh one (for benchmarks and tests). */
export const loadStats = { queued: 0 };
/**
 * A load older than `joinWindowMs` is not joined: storage is slow or stuck, so ask again. A fresh caller queued
 * behind a load waits for it no longer than that either. A verification writes what it read from D1 to KV only
 * when the read began at most `fillWindowMs` before: the resync that follows every change (RESYNC_DELAY_MS,
 * 1.5 s, after its KV write) then comes later than any fill whose read missed the change, and drops it.
 * (Mutable for tests.)
 */
export const loadLimits = { joinWindowMs: 5_000, fillWindowMs: 1_000 };
const LOAD_KINDS = ['miss:', 'kv:', 'd1:'] as const;

/**
 * Joins the load in flight for `kind + hash`, or starts one with `start`.
 *
 * With `fresh`, the answer must come from a read that began after this call (a strict route: a revocation made
 * elsewhere just before the request must count). A load already in flight may have read before it, so the caller
 * queues behind it instead: every fresh caller that arrives during one load shares the single load that starts
 * when it settles. Storage then sees at most one read per hash at a time, and the wait is at most two reads (or,
 * behind a read that hangs, the join window and one read).
 */
export function sharedLoad<T>(
  kind: (typeof LOAD_KINDS)[number],
  hash: string,
  now: number,
  waitUntil: (promise: Promise<unknown>) => void,
  start: (ticket: LoadTicket) => Promise<T>,
  fresh = false,
): Promise<T> {
  const key = kind + hash;
  const current = loads.get(key) as Load<T> | undefined;
  if (current && now - current.since < loadLimits.joinWindowMs) {
    if (!fresh) return current.promise;
    loadStats.queued++;
    if (!current.next) current.next = queuedLoad(key, current, now, waitUntil, start);
    return current.next.promise;
  }
  // A load this old is replaced, and no change can reach it once it is out of the map: it must not cache.
  if (current) current.stale = true;
  const load: Load<T> = { promise: Promise.resolve(undefined as T), since: now, stale: false };
  load.promise = start(load).finally(() => {
    if (loads.get(key) === load) loads.delete(key);
  });
  loads.set(key, load);
  waitUntil(load.promise.catch(() => {}));
  return load.promise;
}

/** A load that starts once `previous` settles, and then takes its place for later callers to join. */
function queuedLoad<T>(
  key: string,
  previous: Load<T>,
  now: number,
  waitUntil: (promise: Promise<unknown>) => void,
  start: (ticket: LoadTicket) => Promise<T>,
): Load<T> {
  const load: Load<T> = { promise: Promise.resolve(undefined as T), since: now, stale: false };
  // A previous load that hangs is not waited for past the join window: this one then reads on its own.
  load.promise = settledOrAfter(previous.promise, loadLimits.joinWindowMs - (now - previous.since))
    .then(() => {
      // Joinable from now on, unless a newer load took the key meanwhile (the previous one was replaced or
      // invalidated and a request started another): then this one runs on its own, and, out of reach of a
      // change (invalidateLoads), must not cache.
      if (loads.has(key)) load.stale = true;
      else loads.set(key, load);
      return start(load);
    })
    .finally(() => {
      if (loads.get(key) === load) loads.delete(key);
    });
  waitUntil(load.promise.catch(() => {}));
  return load;
}

/** Resolves when `promise` settles (either way) or after `ms`, whichever comes first. */
function settledOrAfter(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const after = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
  });
  const settled = promise.then(
    () => {},
    () => {},
  );
  return Promise.race([settled, after]).finally(() => clearTimeout(timer));
}

/** Loads in flight for this hash are neither joined any more nor cached when they finish. */
function invalidateLoads(hash: string): void {
  for (const kind of LOAD_KINDS) {
    const load = loads.get(kind + hash);
    if (!load) continue;
    load.stale = true;
    // A load queued behind it (not in the map yet) reads after the change, but caching its answer would replace
    // what the change put in memory, such as a denial held for longer because KV refused it.
    if (load.next) load.next.stale = true;
    loads.delete(kind + hash);
  }
}

export function kvKey(hash: string): string {
  return KV_PREFIX + hash;
}

export async function readKv(kv: KVNamespace, hash: string, config: Config): Promise<TokenState | null> {
  const value = await kv.get<unknown>(kvKey(hash), {
    type: 'json',
    cacheTtl: config.cache.kvCacheTtlSeconds,
  });
  // Anything but a complete record (another format, a truncated or hand-edited one) is no answer: D1 decides.
  return isTokenState(value) ? value : null;
}

/** Seconds a KV record may live: never past the token's expiry (plus a minute), never below KV's 60 s minimum. */
export function kvTtl(state: TokenState, config: Config, now: number): number {
  if (state.state !== 'active') return TOMBSTONE_TTL_SECONDS;
  let ttl = config.cache.kvRecordTtlSeconds;
  if (state.exp !== null) ttl = Math.min(ttl, Math.ceil((state.exp - now) / 1000) + 60);
  return Math.max(60, ttl);
}

export async function writeKv(kv: KVNamespace, hash: string, state: TokenState, config: Config, now: number) {
  await kv.put(kvKey(hash), JSON.stringify(state), { expirationTtl: kvTtl(state, config, now) });
}

export interface CacheDeps {
  config: Config;
  kv: KVNamespace;
  now: number;
}

/**
 * While KV refuses to take a denial (a revocation, a deactivation), the isolate that made the change keeps it this
 * long instead of CACHE_TTL_SECONDS, so it never falls back to the stale KV record meanwhile. A restore made
 * elsewhere in that time reaches this isolate late, by at most this much: failing closed is the safer side.
 */
export const KV_FAILURE_HOLD_MS = 300_000;

/**
 * After a change in D1: put the new state (or a tombstone) in this isolate's memory, so the very next request here
 * decides on it even when the KV write fails (a plain eviction would fall through to the stale KV copy), then
 * overwrite the KV record. The KV write is retried once; if it still fails, the error propagates so the caller can
 * report it, and a denial is held in memory for KV_FAILURE_HOLD_MS.
 */
export async function publishTokenState(
  deps: CacheDeps,
  hash: string,
  next: TokenState | { tombstone: 'revoked' | 'deleted'; id: string },
): Promise<void> {
  const state = 'tombstone' in next ? tombstone(next.id, next.tombstone) : next;
  const memory = isolateCache(deps.config);
  const ttl = deps.config.cache.isolateTtlMs;
  holds?.delete(hash); // this change supersedes what an earlier one held
  const keep = (ms: number) => {
    if (ms > 0) memory.set(hash, state, deps.now + ms);
    else memory.delete(hash);
    invalidateLoads(hash);
  };
  keep(ttl);
  try {
    try {
      await writeKv(deps.kv, hash, state, deps.config, deps.now);
    } catch {
      await writeKv(deps.kv, hash, state, deps.config, deps.now);
    }
  } catch (error) {
    if (!admitsRequests(state, deps.now)) {
      keep(Math.max(ttl, KV_FAILURE_HOLD_MS));
      hold(hash, state, deps.now + KV_FAILURE_HOLD_MS);
    }
    throw error;
  } finally {
    // Only if nothing newer took its place meanwhile (a later change, published concurrently, wins).
    if (memory.peek(hash) === undefined) keep(ttl);
    else invalidateLoads(hash);
  }
}

/**
 * A change whose KV write waits for a later invocation (kv-sync's budget ran out): this isolate treats it as one KV
 * refused. A denial is held for KV_FAILURE_HOLD_MS; for a token that still admits, KV is skipped (D1 decides) as
 * long, so the stale record there is not read back here.
 */
export function holdUnpublished(
  deps: CacheDeps,
  hash: string,
  next: TokenState | { tombstone: 'revoked' | 'deleted'; id: string },
): void {
  const state = 'tombstone' in next ? tombstone(next.id, next.tombstone) : next;
  const memory = isolateCache(deps.config);
  if (admitsRequests(state, deps.now)) {
    memory.delete(hash);
    hold(hash, 'd1', deps.now + KV_FAILURE_HOLD_MS);
  } else {
    memory.set(hash, state, deps.now + Math.max(deps.config.cache.isolateTtlMs, KV_FAILURE_HOLD_MS));
    hold(hash, state, deps.now + KV_FAILURE_HOLD_MS);
  }
  invalidateLoads(hash);
}

/**
 * Forgets a token's record, in this isolate's memory and in KV, so the next request reads D1. Never admits
 * anything, so it is safe whatever happened meanwhile (an owner reactivated: a denial held here goes too). If KV
 * refuses the delete, this isolate skips KV for the token for KV_FAILURE_HOLD_MS, so it does not read back the
 * record it meant to drop (an owner's old, wider role).
 */
export async function dropTokenState(deps: CacheDeps, hash: string): Promise<void> {
  isolateCache(deps.config).delete(hash);
  holds?.delete(hash);
  invalidateLoads(hash);
  try {
    await deps.kv.delete(kvKey(hash));
  } catch (error) {
    hold(hash, 'd1', deps.now + KV_FAILURE_HOLD_MS);
    invalidateLoads(hash);
    throw error;
  }
}

/**
 * D1 says the token is active, as `fresh` (its state serialized for KV): drops a record that differs from it. In
 * KV, any: a positive with a longer life or a wider role, or a denial a restore could not overwrite (KV refused
 * it), which would otherwise outlive the restore by a tombstone's 7 days. In this isolate's memory, only a
 * positive: a denial there was put by a change made here, held on purpose. Never admits anything (what goes is
 * read from D1 next), so a revocation landing meanwhile is safe too; a record equal to D1's state stays.
 */
export async function dropStaleRecord(deps: CacheDeps, hash: string, fresh: string): Promise<void> {
  const failed = await dropStaleRecords(deps, [{ hash, fresh }]);
  if (failed.size > 0) throw failed.values().next().value;
}

/**
 * dropStaleRecord for many tokens, reading KV 100 keys at a time (one operation per read, as KV counts them).
 * Resolves with what KV refused, by hash: the caller retries those later.
 */
export async function dropStaleRecords(
  deps: CacheDeps,
  records: { hash: string; fresh: string }[],
): Promise<Map<string, unknown>> {
  const memory = isolateCache(deps.config);
  for (const { hash, fresh } of records) {
    const held = memory.peek(hash);
    if (held && admitsRequests(held, deps.now) && JSON.stringify(held) !== fresh) {
      memory.delete(hash);
      invalidateLoads(hash);
    }
  }
  const failed = new Map<string, unknown>();
  for (let i = 0; i < records.length; i += 100) {
    const chunk = records.slice(i, i + 100);
    let stored: Map<string, string | null>;
    try {
      stored = await deps.kv.get(
        chunk.map(({ hash }) => kvKey(hash)),
        'text',
      );
    } catch (error) {
      for (const { hash } of chunk) failed.set(hash, error);
      continue;
    }
    await Promise.all(
      chunk.map(async ({ hash, fresh }) => {
        const value = stored.get(kvKey(hash)) ?? null;
        if (value === null || value === fresh) return;
        try {
          await deps.kv.delete(kvKey(hash));
        } catch (error) {
          failed.set(hash, error);
        }
      }),
    );
  }
  return failed;
}
