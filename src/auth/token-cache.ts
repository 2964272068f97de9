import type { Config } from '../config';
import { type TokenState, tombstone } from '../tokens/state';
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

/** For tests and benchmarks: forget everything this isolate cached. */
export function resetIsolateCache(): void {
  local = undefined;
}

export function kvKey(hash: string): string {
  return KV_PREFIX + hash;
}

export async function readKv(kv: KVNamespace, hash: string, config: Config): Promise<TokenState | null> {
  const value = await kv.get<TokenState>(kvKey(hash), {
    type: 'json',
    cacheTtl: config.cache.kvCacheTtlSeconds,
  });
  return value && value.v === 1 ? value : null;
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
 * After a change in D1: overwrite the KV record (the new state, or a tombstone) and drop this isolate's copy.
 * The KV write is retried once; if it still fails, the error propagates so the caller can report it.
 */
export async function publishTokenState(
  deps: CacheDeps,
  hash: string,
  next: TokenState | { tombstone: 'revoked' | 'deleted'; id: string },
): Promise<void> {
  isolateCache(deps.config).delete(hash);
  const state = 'tombstone' in next ? tombstone(next.id, next.tombstone) : next;
  try {
    await writeKv(deps.kv, hash, state, deps.config, deps.now);
  } catch {
    await writeKv(deps.kv, hash, state, deps.config, deps.now);
  } finally {
    isolateCache(deps.config).delete(hash);
  }
}
