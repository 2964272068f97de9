import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KV_FAILURE_HOLD_MS, resetIsolateCache } from '../../src/auth/token-cache';
import { getConfig } from '../../src/config';
import { generateToken } from '../../src/tokens/format';
import { fakeUpstream } from '../gateway-support';
import { bearer, call, createToken } from '../helpers';
import { failKv } from '../reliability-support';
import { eventually, knownUser } from './admin-support';
import {
  API,
  currentUserWithPat,
  expectJson,
  expectProblem,
  expireInD1,
  kvKeyFor,
  newUser,
  postJson,
  storageReadsDuring,
  type TokenBody,
  userWithToken,
  waitForKv,
} from './support';

// KV is only a cache: when it cannot be read or written, verification falls back to D1 and every decision stays
// right (valid → 200, revoked, expired or unknown → 401), and the management API keeps working. Faults are
// injected on env.TOKEN_CACHE, the very binding object the Worker uses (see test/reliability-support.ts).

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

const config = getConfig(env);

const rpc = (token: string) => call('/svc/rpc', { headers: bearer(token) });

/** A token whose KV record exists, with this isolate's memory cleared so the next request must look further. */
async function tokenCachedInKvOnly() {
  const { user, created } = await userWithToken();
  await waitForKv(await kvKeyFor(created.token), (s) => s.state === 'active');
  resetIsolateCache();
  return { user, created };
}

describe('KV reads failing: D1 decides', () => {
  it('a valid token is verified from D1 and forwarded', async () => {
    const { created } = await tokenCachedInKvOnly();
    const upstream = fakeUpstream();
    const kv = failKv({ reads: true });
    let res: Response | undefined;
    expect((await storageReadsDuring(async () => (res = await rpc(created.token)))).d1).toBe(1);
    expect(res!.status).toBe(200);
    expect(kv.failures).toBeGreaterThan(0);
    expect(upstream.requests).toHaveLength(1);
  });

  it('a token revoked in D1 is refused although KV still holds its active record', async () => {
    const { created } = await tokenCachedInKvOnly();
    // Revoked behind the caches' back: only a D1 read can know.
    await env.DB.prepare('update tokens set revoked_at = ?1, revoke_reason = ?2 where id = ?3')
      .bind(Date.now(), 'admin', created.id)
      .run();
    const upstream = fakeUpstream();
    failKv({ reads: true });
    await expectProblem(await rpc(created.token), 401, 'invalid_token');
    expect(upstream.requests).toHaveLength(0);
  });

  it('revoked through the API, expired and unknown tokens are all refused', async () => {
    const revoked = await tokenCachedInKvOnly();
    expect((await postJson(`/tokens/${revoked.created.id}/revoke`, revoked.user.jwt)).status).toBe(200);
    const expired = await tokenCachedInKvOnly();
    await expireInD1(expired.created.id);
    resetIsolateCache();
    const upstream = fakeUpstream();
    failKv({ reads: true });
    for (const token of [revoked.created.token, expired.created.token, generateToken('pat_')]) {
      await expectProblem(await rpc(token), 401, 'invalid_token');
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('a corrupted KV record (not JSON) is ignored: D1 decides', async () => {
    const good = await tokenCachedInKvOnly();
    const bad = await tokenCachedInKvOnly();
    await env.DB.prepare('update tokens set revoked_at = ?1 where id = ?2')
      .bind(Date.now(), bad.created.id)
      .run();
    for (const { created } of [good, bad])
      await env.TOKEN_CACHE.put(await kvKeyFor(created.token), '{"v":1,');
    resetIsolateCache();
    fakeUpstream();
    const reads = await storageReadsDuring(async () => {
      expect((await rpc(good.created.token)).status).toBe(200);
      await expectProblem(await rpc(bad.created.token), 401, 'invalid_token');
    });
    expect(reads.d1).toBe(2);
  });

  it('a PAT still authenticates management calls (GET /currentuser)', async () => {
    const { created } = await tokenCachedInKvOnly();
    failKv({ reads: true });
    const me = await expectJson<{ token_id: string }>(await currentUserWithPat(created.token), 200);
    expect(me.token_id).toBe(created.id);
  });
});

describe('KV writes failing', () => {
  it('creating a token still succeeds, and the token works from D1', async () => {
    const user = await newUser();
    const kv = failKv({ writes: true });
    const created = await createToken(user.jwt);
    fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200);
    await eventually(async () => expect(kv.failures).toBeGreaterThan(0));
  });

  // The isolate that made a change keeps the new state in memory (src/auth/token-cache.ts publishTokenState), so it
  // never falls back to the stale KV record; a denial KV refused is held for KV_FAILURE_HOLD_MS, past the resync.
  it('a token revoked while KV writes fail is refused on the very next request here', async () => {
    const { user, created } = await tokenCachedInKvOnly();
    fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200);
    failKv({ writes: true });
    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    await expectProblem(await rpc(created.token), 401, 'invalid_token');
  });

  it('…and still refused after the memory TTL, while KV keeps refusing the tombstone (resync failed too)', async () => {
    const { user, created } = await tokenCachedInKvOnly();
    fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200);
    const kv = failKv({ writes: true });
    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    // The delayed resync (1.5 s) tries the tombstone again, and fails again.
    await eventually(async () => expect(kv.failures).toBeGreaterThanOrEqual(4), 4_000);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + (config.cache.isolateTtlMs + 1_000));
    await expectProblem(await rpc(created.token), 401, 'invalid_token');
    vi.setSystemTime(Date.now() + KV_FAILURE_HOLD_MS / 2);
    await expectProblem(await rpc(created.token), 401, 'invalid_token');
  });
});

describe('KV writes failing under admin changes', () => {
  // A committed deactivation answers 200 even when KV refuses the republished records (D1 is the truth), and the
  // isolate that made it decides on the new owner state at once.
  it('deactivating a user still answers 200, and their token stops on the next request', async () => {
    const admin = await knownUser('admin');
    const owner = await knownUser();
    const created = await createToken(owner.jwt);
    fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200);
    failKv({ writes: true });
    expect((await postJson(`/admin/users/${owner.id}/deactivate`, admin.jwt)).status).toBe(200);
    await expectProblem(await rpc(created.token), 401, 'invalid_token');
  });
});

describe('KV reads and writes failing', () => {
  it('the whole lifecycle works through the API and each change applies to the very next request', async () => {
    const user = await newUser();
    const upstream = fakeUpstream();
    failKv({ reads: true, writes: true });
    const created = await createToken(user.jwt);
    expect((await rpc(created.token)).status).toBe(200);

    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    await expectProblem(await rpc(created.token), 401, 'invalid_token');
    expect((await postJson(`/tokens/${created.id}/restore`, user.jwt)).status).toBe(200);
    expect((await rpc(created.token)).status).toBe(200);

    const rotated = await expectJson<TokenBody & { token: string }>(
      await postJson(`/tokens/${created.id}/rotate`, user.jwt),
      201,
    );
    await expectProblem(await rpc(created.token), 401, 'invalid_token');
    expect((await rpc(rotated.token)).status).toBe(200);

    const deleted = await call(`${API}/tokens/${rotated.id}`, {
      method: 'DELETE',
      headers: bearer(user.jwt),
    });
    expect(deleted.status).toBe(204);
    await expectProblem(await rpc(rotated.token), 401, 'invalid_token');
    expect(upstream.requests).toHaveLength(3);
  });
});
