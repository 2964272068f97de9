import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Principal } from '../../src/auth/principals';
import { kvKey, loadLimits, readKv, resetIsolateCache, writeKv } from '../../src/auth/token-cache';
import { verifyPat } from '../../src/auth/verify-pat';
import { getConfig } from '../../src/config';
import type { ServiceDeps } from '../../src/tokens/access';
import { revokeLeaked } from '../../src/tokens/revocation';
import { createToken, restoreToken, revokeToken, updateToken } from '../../src/tokens/service';
import { tombstone } from '../../src/tokens/state';
import { failKv, firstBatchAfter, holdFirstTokenRead, principalOf } from '../reliability-support';
import { TEST_VARS } from '../vars';
import { currentUserWithPat, userWithToken } from './support';

// What other isolates do to KV while a change is made here, and what must hold afterwards: a cache fill whose D1
// read began before a change and that lands after it (another isolate's, which this one cannot invalidate) never
// outlives the change's resync, whether the change shortened the token's life or revoked it.
// Another isolate is simulated by what it writes to KV, at the moment it would write it. And during a pepper
// rotation, where a verification moves a token's row to a new hash: a revocation covers the hash the row has when
// it is revoked, and the old hash's record goes when the row moves.

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  resetIsolateCache();
});

const config = getConfig(env);
const db = drizzle(env.DB);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Service dependencies whose waitUntil work (a publish, then its delayed resync) `settle()` waits for. */
function serviceDeps(actor: Principal, kv: KVNamespace = env.TOKEN_CACHE) {
  const pending: Promise<unknown>[] = [];
  const deps: ServiceDeps = {
    db,
    kv,
    config,
    now: Date.now(),
    ctx: { actor: { id: actor.id, kind: actor.kind }, ip: null, userAgent: null, requestId: 'coherence' },
    waitUntil: (promise) => void pending.push(promise),
  };
  const settle = async () => {
    while (pending.length) await Promise.allSettled(pending.splice(0));
  };
  return { deps, settle };
}

/** A token whose create has settled (publish and resync done), so no earlier resync runs during the test. */
async function settledToken() {
  const { user } = await userWithToken();
  const actor = await principalOf(user.subject);
  const { deps, settle } = serviceDeps(actor);
  const { token, row } = await createToken(deps, actor, actor, {
    name: `coherence ${crypto.randomUUID()}`,
    expires_in_days: 90,
  });
  await settle();
  return { user, actor, token, id: row.id, hash: row.secretHash };
}

/** KV whose first put (the change's publish) is followed, once it landed, by `then()` (a late fill). */
function afterFirstPut(then: () => Promise<unknown>): KVNamespace {
  let fired = false;
  return new Proxy(env.TOKEN_CACHE, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      if (prop !== 'put' || fired) return value.bind(target);
      return async (...args: Parameters<KVNamespace['put']>) => {
        fired = true;
        await target.put(...args);
        await then();
      };
    },
  });
}

describe('a cache fill from a D1 read made before a change', () => {
  it('landing just after an expiry edit, it is dropped by the edit’s resync', async () => {
    const t = await settledToken();
    // What another isolate read from D1 just before the edit, and writes to KV just after the edit's publish.
    const stale = (await readKv(env.TOKEN_CACHE, t.hash, config))!;
    expect(stale.state).toBe('active');
    const kv = afterFirstPut(() => writeKv(env.TOKEN_CACHE, t.hash, stale, config, Date.now()));
    const { deps, settle } = serviceDeps(t.actor, kv);
    const edited = await updateToken(deps, t.actor, t.id, { expires_in_days: 1 });
    expect(edited.expiresAt).toBeLessThan(stale.exp!);
    await settle(); // the resync, 1.5 s later
    const record = await readKv(env.TOKEN_CACHE, t.hash, config);
    expect(record === null || record.exp === edited.expiresAt, JSON.stringify(record)).toBe(true);

    // An hour past the new expiry, in another isolate: refused.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(edited.expiresAt! + 3_600_000);
    resetIsolateCache();
    expect((await currentUserWithPat(t.token)).status).toBe(401);
  }, 15_000);

  it('is not written at all when the read began more than fillWindowMs before (it would land after a resync)', async () => {
    const t = await settledToken();
    await env.TOKEN_CACHE.delete(kvKey(t.hash)); // aged out: the next verification reads D1
    resetIsolateCache();
    const hold = holdFirstTokenRead(t.hash);
    const pending: Promise<unknown>[] = [];
    const verifying = verifyPat(t.token, {
      config,
      db,
      kv: env.TOKEN_CACHE,
      now: Date.now(),
      waitUntil: (promise) => void pending.push(promise),
    });
    for (let i = 0; i < 500 && !hold.held; i++) await sleep(10);
    expect(hold.held).toBe(true);
    // Meanwhile another isolate revokes the token: D1, then its tombstone in KV; its resync has come and gone.
    await env.DB.prepare("update tokens set revoked_at = ?, revoke_reason = 'admin' where id = ?")
      .bind(Date.now(), t.id)
      .run();
    await writeKv(env.TOKEN_CACHE, t.hash, tombstone(t.id, 'revoked'), config, Date.now());
    await sleep(loadLimits.fillWindowMs + 200); // a slow D1 answer
    hold.release();
    expect((await verifying).ok).toBe(true); // it read D1 before the revocation
    await Promise.allSettled(pending);
    expect((await readKv(env.TOKEN_CACHE, t.hash, config))?.state).toBe('revoked');
    resetIsolateCache(); // another isolate
    expect((await currentUserWithPat(t.token)).status).toBe(401);
  }, 15_000);
});

/** The pepper rotated: version 2 current, 1 (the Worker's own, `config`) previous. */
const rotated = {
  ...config,
  peppers: {
    current: { version: 2, secret: 'rotated-pepper-0123456789abcdef0123456789' },
    previous: [{ version: 1, secret: TEST_VARS.TOKEN_PEPPER }],
  },
};

/** Verifies `token` here with `version` (a Worker version's config); `drain()` finishes its waitUntil work. */
function verifier(token: string) {
  const pending: Promise<unknown>[] = [];
  const waitUntil = (promise: Promise<unknown>) => void pending.push(promise);
  const drain = async () => {
    while (pending.length) await Promise.allSettled(pending.splice(0));
  };
  const verify = (version = rotated) =>
    verifyPat(token, { config: version, db, kv: env.TOKEN_CACHE, now: Date.now(), waitUntil });
  return { waitUntil, drain, verify };
}

/**
 * A leak report of `t`'s token with the rotated pepper, whose D1 batch waits for this isolate to verify the token
 * twice: the first moves its row to the pepper-2 hash, the second caches it, active, under that hash.
 */
function leakReportRacingUpgrade(t: Awaited<ReturnType<typeof settledToken>>, afterRace = () => {}) {
  const v = verifier(t.token);
  const hooked = firstBatchAfter(db, async () => {
    expect((await v.verify()).ok).toBe(true);
    await v.drain();
    expect((await v.verify()).ok).toBe(true);
    await v.drain();
    afterRace();
  });
  const { deps } = serviceDeps(t.actor);
  return { ...v, deps: { ...deps, db: hooked, config: rotated, waitUntil: v.waitUntil } };
}

describe('a leak report racing a pepper upgrade', () => {
  it('the tombstone covers the hash the row moved to: refused on the very next request here', async () => {
    const t = await settledToken();
    const race = leakReportRacingUpgrade(t);
    expect(await revokeLeaked(race.deps, [t.token])).toBe(1);
    expect((await race.verify()).ok).toBe(false);
    await race.drain();
    resetIsolateCache(); // another isolate
    expect((await race.verify()).ok).toBe(false);
  }, 20_000);

  it('with KV refusing writes, still refused here after the memory TTL (the 5-minute hold)', async () => {
    const t = await settledToken();
    const race = leakReportRacingUpgrade(t, () => failKv({ writes: true }));
    expect(await revokeLeaked(race.deps, [t.token])).toBe(1);
    await race.drain(); // the publish and the resync, both refused by KV
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + config.cache.isolateTtlMs + 1_000);
    expect((await race.verify()).ok).toBe(false);
  }, 20_000);
});

describe('two Worker versions live during a pepper rotation (a gradual deployment, a rollback)', () => {
  it('the old version’s KV record goes when the new version moves the row, so a later revocation reaches it', async () => {
    const t = await settledToken(); // hashed with pepper 1, the old version's current one
    const v = verifier(t.token);
    expect((await v.verify(config)).ok).toBe(true); // the old version: a KV record under the pepper-1 hash
    expect(await readKv(env.TOKEN_CACHE, t.hash, config)).not.toBeNull();
    resetIsolateCache();
    expect((await v.verify(rotated)).ok).toBe(true); // the new version moves the row to the pepper-2 hash
    await v.drain();
    expect(await readKv(env.TOKEN_CACHE, t.hash, config)).toBeNull();

    const { deps, settle } = serviceDeps(t.actor); // revoked through the old version
    await revokeToken(deps, t.actor, t.id);
    await settle();
    resetIsolateCache(); // another old-version isolate
    expect((await v.verify(config)).ok).toBe(false);
  }, 20_000);
});

describe('a restore whose KV write failed', () => {
  it('the tombstone it could not replace goes with its resync, once KV takes writes again', async () => {
    const t = await settledToken();
    const revoking = serviceDeps(t.actor);
    await revokeToken(revoking.deps, t.actor, t.id);
    await revoking.settle();
    expect((await readKv(env.TOKEN_CACHE, t.hash, config))?.state).toBe('revoked');

    failKv({ writes: true }); // a brief KV write outage, during the restore only
    const restoring = serviceDeps(t.actor);
    await restoreToken(restoring.deps, t.actor, t.id);
    vi.restoreAllMocks(); // KV is back before the resync, 1.5 s later
    await restoring.settle();
    const record = await readKv(env.TOKEN_CACHE, t.hash, config);
    expect(record === null || record.state === 'active', JSON.stringify(record)).toBe(true);
    resetIsolateCache(); // another isolate
    expect((await currentUserWithPat(t.token)).status).toBe(200);
  }, 15_000);
});
