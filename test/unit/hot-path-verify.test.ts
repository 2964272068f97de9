import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isolateCache, publishTokenState, resetIsolateCache } from '../../src/auth/token-cache';
import { type VerifyDeps, verifyPat, verifyStats } from '../../src/auth/verify-pat';
import { getConfig } from '../../src/config';
import { generateToken } from '../../src/tokens/format';
import { hashToken } from '../../src/tokens/hash';
import type { TokenState } from '../../src/tokens/state';

// Concurrent misses for one token share one KV read and one D1 read. The shared load is kept alive with the
// starting request's waitUntil (so a client hanging up cannot strand the requests that joined it), and a change
// to the token while it loads (publishTokenState) means nobody joins it any more and its result is not cached.

afterEach(() => {
  vi.restoreAllMocks();
  resetIsolateCache();
});

const config = getConfig(env);

function activeState(id: string): TokenState {
  const now = Date.now();
  return {
    v: 1,
    id,
    state: 'active',
    type: 'personal',
    exp: now + 86_400_000,
    iat: now,
    scopes: ['read'],
    owner: { id: 'usr_hotpathverify00', subject: 'hot-path', role: 'member', active: true },
  };
}

/** A KV stub whose reads see `value()` when they start, then wait until `release()` to answer it. */
function slowKv(value: () => TokenState | null) {
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const kv = {
    get: vi.fn(async () => {
      const seen = value();
      await gate;
      return seen;
    }),
    put: vi.fn(async () => {}),
  };
  return {
    kv: kv as unknown as KVNamespace,
    get: kv.get,
    release: () => release(),
    rearm: () => (gate = new Promise<void>((resolve) => (release = resolve))),
  };
}

function deps(kv: KVNamespace, waitUntil = vi.fn()): VerifyDeps & { waitUntil: ReturnType<typeof vi.fn> } {
  return { config, db: drizzle(env.DB), kv, now: Date.now(), waitUntil };
}

describe('concurrent misses', () => {
  it('share one KV read and one D1 read, and the starting request keeps the load alive', async () => {
    const token = generateToken('pat_');
    const { kv, get, release } = slowKv(() => null);
    const waitUntil = vi.fn();
    const before = { ...verifyStats };
    const results = Array.from({ length: 8 }, () => verifyPat(token, deps(kv, waitUntil)));
    release();
    expect((await Promise.all(results)).map((r) => r.ok || r.reason)).toEqual(Array(8).fill('unknown'));
    expect(get).toHaveBeenCalledTimes(1);
    expect(verifyStats.kvReads - before.kvReads).toBe(1);
    expect(verifyStats.d1Reads - before.d1Reads).toBe(1);
    // The KV load and the D1 load, each registered once by the request that started it.
    expect(waitUntil).toHaveBeenCalledTimes(2);
  });

  it('a change while loading: later requests do not join the old load, and its result is not cached', async () => {
    const token = generateToken('pat_');
    const hash = await hashToken(token, config.peppers.current);
    let record: TokenState = activeState('tok_hotpathverify01');
    const { kv, get, release, rearm } = slowKv(() => record);
    const first = verifyPat(token, deps(kv));
    await vi.waitFor(() => expect(get).toHaveBeenCalledTimes(1));

    // Revoked while the first request's KV read (which saw the active record) is still in flight.
    record = { ...record, state: 'revoked' };
    await publishTokenState({ config, kv, now: Date.now() }, hash, { tombstone: 'revoked', id: record.id });
    release();
    expect((await first).ok).toBe(true); // it started before the change

    // The stale answer was not cached: this isolate holds the tombstone the change published, and decides on it.
    expect(isolateCache(config).peek(hash)).toMatchObject({ state: 'revoked' });
    rearm();
    const next = verifyPat(token, deps(kv));
    release();
    const result = await next;
    expect(result.ok).toBe(false);
    expect(result.ok || result.reason).toBe('revoked');
    expect(get).toHaveBeenCalledTimes(1);

    // And with the isolate's copy gone (evicted, or another isolate), the next request looks again.
    resetIsolateCache();
    rearm();
    const again = verifyPat(token, deps(kv));
    release();
    expect((await again).ok).toBe(false);
    expect(get).toHaveBeenCalledTimes(2);
  });
});

describe('cache-only verification (a client over its failed-authentication limit)', () => {
  it('answers from KV without D1, and never writes a stale answer over a change made meanwhile', async () => {
    const token = generateToken('pat_');
    const hash = await hashToken(token, config.peppers.current);
    let record: TokenState | null = activeState('tok_hotpathverify02');
    const { kv, release } = slowKv(() => record);
    const before = { ...verifyStats };
    const first = verifyPat(token, { ...deps(kv), cacheOnly: true });
    await vi.waitFor(() => expect(verifyStats.kvReads - before.kvReads).toBe(1));

    record = { ...record, state: 'revoked' };
    await publishTokenState({ config, kv, now: Date.now() }, hash, { tombstone: 'revoked', id: record.id });
    release();
    expect((await first).ok).toBe(true); // it started before the change
    expect(isolateCache(config).peek(hash)).toMatchObject({ state: 'revoked' });
    expect(verifyStats.d1Reads - before.d1Reads).toBe(0);

    // Nothing in the caches: deferred, still without D1.
    resetIsolateCache();
    record = null;
    const { kv: empty, release: go } = slowKv(() => record);
    go();
    const unknown = await verifyPat(token, { ...deps(empty), cacheOnly: true });
    expect(unknown.ok || unknown.reason).toBe('deferred');
    expect(verifyStats.d1Reads - before.d1Reads).toBe(0);
  });
});

describe('a load replaced after the join window', () => {
  it('does not cache its answer over a change made while it was still running', async () => {
    const token = generateToken('pat_');
    const hash = await hashToken(token, config.peppers.current);
    let record: TokenState = activeState('tok_hotpathverify03');
    const { kv, get, release } = slowKv(() => record);
    const t0 = Date.now();
    const at = (now: number): VerifyDeps => ({ ...deps(kv), now });
    const first = verifyPat(token, at(t0));
    await vi.waitFor(() => expect(get).toHaveBeenCalledTimes(1));
    const second = verifyPat(token, at(t0 + 6_000)); // storage is slow: the first load is not joined but replaced
    await vi.waitFor(() => expect(get).toHaveBeenCalledTimes(2));

    record = { ...record, state: 'revoked' };
    await publishTokenState({ config, kv, now: t0 + 6_100 }, hash, { tombstone: 'revoked', id: record.id });
    release();
    await Promise.all([first, second]);
    expect(isolateCache(config).peek(hash)).toMatchObject({ state: 'revoked' });
    expect((await verifyPat(token, at(t0 + 6_200))).ok).toBe(false);
  });
});
