import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadLimits, loadStats, resetIsolateCache } from '../../src/auth/token-cache';
import { getConfig } from '../../src/config';
import { generateToken } from '../../src/tokens/format';
import { hashToken } from '../../src/tokens/hash';
import { fakeUpstream } from '../gateway-support';
import { bearer, call, createToken } from '../helpers';
import { failKv, holdFirstTokenRead } from '../reliability-support';
import { eventually } from './admin-support';
import {
  API,
  expectJson,
  expectProblem,
  getWith,
  kvKeyFor,
  postJson,
  storageReadsDuring,
  type TokenBody,
  tokenRow,
  userWithToken,
  waitForKv,
} from './support';

// The cache tiers in front of D1 from the gateway's side: a change made through the API wins over every cached
// copy in this isolate at once, expiry is checked on every request even when cached, unknown tokens cost at
// most one D1 read, garbage costs none, and a strict route always asks D1.

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

const rpc = (token: string, route = '/svc') => call(`${route}/rpc`, { headers: bearer(token) });

/** The next D1 read of `token`'s row waits until `release()` (see holdFirstTokenRead). */
async function holdReadOf(token: string, fail = false) {
  return holdFirstTokenRead(await hashToken(token, getConfig(env).peppers.current), fail);
}

describe('changes through the API take effect on the very next request', () => {
  it('revoke → 401, restore → 200, delete → 401', async () => {
    const { user, created } = await userWithToken();
    const upstream = fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200); // now cached in memory and KV

    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    await expectProblem(await rpc(created.token), 401, 'invalid_token');

    expect((await postJson(`/tokens/${created.id}/restore`, user.jwt)).status).toBe(200);
    expect((await rpc(created.token)).status).toBe(200);

    const deleted = await call(`${API}/tokens/${created.id}`, {
      method: 'DELETE',
      headers: bearer(user.jwt),
    });
    expect(deleted.status).toBe(204);
    await expectProblem(await rpc(created.token), 401, 'invalid_token');
    expect(upstream.requests).toHaveLength(2);
  });

  it("revoking leaves a 'revoked' tombstone in KV under tok:<hmac>", async () => {
    const { user, created } = await userWithToken();
    fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200);
    const key = await kvKeyFor(created.token);
    await waitForKv(key, (s) => s.state === 'active');
    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    expect(await env.TOKEN_CACHE.get(key, 'json')).toMatchObject({ id: created.id, state: 'revoked' });
  });

  it('a revoked token stays refused on the strict route too', async () => {
    const { user, created } = await userWithToken();
    fakeUpstream();
    expect((await rpc(created.token, '/strict')).status).toBe(200);
    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    await expectProblem(await rpc(created.token, '/strict'), 401, 'invalid_token');
  });
});

describe('expiry is enforced while the token is cached', () => {
  it('a cached token is refused once the clock passes its expiry, without asking D1', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    const upstream = fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200);
    await waitForKv(await kvKeyFor(created.token), (s) => s.state === 'active');

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse(created.expires_at!) + 1_000);
    const reads = await storageReadsDuring(async () => {
      await expectProblem(await rpc(created.token), 401, 'invalid_token');
    });
    expect(reads.d1).toBe(0);
    expect(upstream.requests).toHaveLength(1);
  });

  it('a KV record whose exp has passed is refused', async () => {
    const { created } = await userWithToken();
    fakeUpstream();
    const key = await kvKeyFor(created.token);
    const record = await waitForKv(key, (s) => s.state === 'active');
    await env.TOKEN_CACHE.put(key, JSON.stringify({ ...record, exp: Date.now() - 1_000 }));
    resetIsolateCache(); // creating it left its record in this isolate's memory too
    const reads = await storageReadsDuring(async () => {
      await expectProblem(await rpc(created.token), 401, 'invalid_token');
    });
    expect(reads).toEqual({ kv: 1, d1: 0 });
  });
});

describe('storage reads', () => {
  it('an unknown well-formed token costs at most one D1 read, however often it is tried', async () => {
    const unknown = generateToken('pat_');
    const upstream = fakeUpstream();
    const reads = await storageReadsDuring(async () => {
      for (let i = 0; i < 5; i++) await expectProblem(await rpc(unknown), 401, 'invalid_token');
    });
    expect(reads.d1).toBe(1);
    expect(upstream.requests).toEqual([]);
  });

  it('simultaneous requests with one unknown token share one D1 read', async () => {
    const unknown = generateToken('pat_');
    fakeUpstream();
    const reads = await storageReadsDuring(async () => {
      const responses = await Promise.all(Array.from({ length: 8 }, () => rpc(unknown)));
      expect(responses.map((r) => r.status)).toEqual(Array(8).fill(401));
    });
    expect(reads.d1).toBe(1);
  });

  it('malformed tokens cost no KV and no D1 read', async () => {
    const { created } = await userWithToken();
    fakeUpstream();
    const garbage = [
      'pat_short',
      created.token.slice(0, -1) + (created.token.endsWith('0') ? '1' : '0'), // checksum mismatch
      `${created.token}x`,
      `gh_${created.token.slice(4)}`,
      'pat_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    ];
    const reads = await storageReadsDuring(async () => {
      for (const token of garbage) await expectProblem(await rpc(token), 401, 'invalid_token');
    });
    expect(reads).toEqual({ kv: 0, d1: 0 });
  });

  it('a cached token is served without D1 on an ordinary route', async () => {
    const { created } = await userWithToken();
    fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200);
    const reads = await storageReadsDuring(async () => {
      for (let i = 0; i < 3; i++) expect((await rpc(created.token)).status).toBe(200);
    });
    expect(reads).toEqual({ kv: 0, d1: 0 });
  });

  it('KV is filled from D1 only with records that let a request through, never with a denial', async () => {
    const { user, created: revoked } = await userWithToken();
    const good = await createToken(user.jwt);
    fakeUpstream();
    expect((await postJson(`/tokens/${revoked.id}/revoke`, user.jwt)).status).toBe(200);
    const revokedKey = await kvKeyFor(revoked.token);
    const goodKey = await kvKeyFor(good.token);
    // As after KV's records aged out: both tokens are known only to D1.
    await Promise.all([env.TOKEN_CACHE.delete(revokedKey), env.TOKEN_CACHE.delete(goodKey)]);
    resetIsolateCache();

    await expectProblem(await rpc(revoked.token), 401, 'invalid_token');
    expect((await rpc(good.token)).status).toBe(200);
    // The fill for the good token, scheduled after the refused one's, has landed…
    await waitForKv(goodKey, (s) => s.state === 'active');
    // …and the refused token left nothing: a restore made a moment later cannot be hidden by a stale denial.
    expect(await env.TOKEN_CACHE.get(revokedKey)).toBeNull();
  });

  it('the strict route reads D1 on every request', async () => {
    const { created } = await userWithToken();
    fakeUpstream();
    const reads = await storageReadsDuring(async () => {
      for (let i = 0; i < 3; i++) expect((await rpc(created.token, '/strict')).status).toBe(200);
    });
    expect(reads.d1).toBe(3);
  });

  it('a strict request never answers from a D1 read that began before it arrived', async () => {
    const { created } = await userWithToken();
    fakeUpstream();
    // The first strict request's D1 read has seen the active row, and its answer is still on the way…
    const read = await holdReadOf(created.token);
    const first = rpc(created.token, '/strict');
    await vi.waitFor(() => expect(read.held).toBe(true));
    // …when another isolate revokes the token (D1 only: nothing reaches this isolate's caches)…
    await env.DB.prepare('update tokens set revoked_at = ? where id = ?').bind(Date.now(), created.id).run();
    // …and a second strict request arrives. Joining the read in flight would let it through.
    const reads = await storageReadsDuring(async () => {
      const queued = loadStats.queued;
      const second = rpc(created.token, '/strict');
      await vi.waitFor(() => expect(loadStats.queued).toBe(queued + 1));
      read.release();
      expect((await first).status).toBe(200); // it arrived before the revocation
      await expectProblem(await second, 401, 'invalid_token');
    });
    expect(reads.d1).toBe(1);
  });

  it('strict requests that arrive during one D1 read share the next one', async () => {
    const { created } = await userWithToken();
    fakeUpstream();
    const read = await holdReadOf(created.token);
    const reads = await storageReadsDuring(async () => {
      const first = rpc(created.token, '/strict');
      await vi.waitFor(() => expect(read.held).toBe(true));
      const queued = loadStats.queued;
      const later = Array.from({ length: 6 }, () => rpc(created.token, '/strict'));
      await vi.waitFor(() => expect(loadStats.queued).toBe(queued + 6));
      read.release();
      const answers = await Promise.all([first, ...later]);
      expect(answers.map((r) => r.status)).toEqual(Array(7).fill(200));
    });
    expect(reads.d1).toBe(2);
  });

  it('a strict read queued when the token is revoked does not cut short the denial held while KV refuses it', async () => {
    const { user, created } = await userWithToken();
    await waitForKv(await kvKeyFor(created.token), (s) => s.state === 'active');
    resetIsolateCache();
    fakeUpstream();
    // A strict read in flight, and a second strict request queued behind it.
    const read = await holdReadOf(created.token);
    const first = rpc(created.token, '/strict');
    await vi.waitFor(() => expect(read.held).toBe(true));
    const queued = loadStats.queued;
    const second = rpc(created.token, '/strict');
    await vi.waitFor(() => expect(loadStats.queued).toBe(queued + 1));
    // Revoked here while KV refuses writes: this isolate holds the denial for KV_FAILURE_HOLD_MS, and the
    // delayed resync (1.5 s later) fails and holds it again; only then does the slow read answer.
    const kv = failKv({ writes: true });
    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    await eventually(async () => expect(kv.failures).toBeGreaterThanOrEqual(4), 4_000);
    read.release();
    expect((await first).status).toBe(200); // it arrived before the revocation
    await expectProblem(await second, 401, 'invalid_token');
    // The queued read saw the revocation, but must not have replaced the held denial by a shorter-lived one:
    // past the ordinary memory lifetime, this isolate still refuses instead of believing KV's stale record.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + getConfig(env).cache.isolateTtlMs + 1_000);
    await expectProblem(await rpc(created.token), 401, 'invalid_token');
  });

  it('a strict request queued behind a D1 read that fails still gets its own read', async () => {
    const { created } = await userWithToken();
    fakeUpstream();
    const read = await holdReadOf(created.token, true);
    const first = rpc(created.token, '/strict');
    await vi.waitFor(() => expect(read.held).toBe(true));
    const queued = loadStats.queued;
    const second = rpc(created.token, '/strict');
    await vi.waitFor(() => expect(loadStats.queued).toBe(queued + 1));
    read.release();
    await expectProblem(await first, 503, 'unavailable');
    expect((await second).status).toBe(200);
  });
});

describe('a strict request behind a D1 read that hangs', () => {
  afterEach(() => {
    loadLimits.joinWindowMs = 5_000;
  });

  it('waits no longer than the join window, then reads D1 itself', async () => {
    loadLimits.joinWindowMs = 300;
    const { created } = await userWithToken();
    fakeUpstream();
    const read = await holdReadOf(created.token);
    const first = rpc(created.token, '/strict');
    await vi.waitFor(() => expect(read.held).toBe(true));
    const queued = loadStats.queued;
    const second = rpc(created.token, '/strict');
    await vi.waitFor(() => expect(loadStats.queued).toBe(queued + 1));
    // The first read never comes back while the second is answered from its own.
    expect((await second).status).toBe(200);
    expect(read.held).toBe(true);
    read.release();
    expect((await first).status).toBe(200);
  });
});

describe('last used', () => {
  it('records last_used_at and the client IP after a proxied request, shown by the API', async () => {
    const { user, created } = await userWithToken();
    fakeUpstream();
    const before = Date.now();
    const res = await call('/svc/rpc', {
      headers: { ...bearer(created.token), 'cf-connecting-ip': '198.51.100.4' },
    });
    expect(res.status).toBe(200);

    const deadline = Date.now() + 3_000;
    let row = await tokenRow(created.id);
    while (row?.last_used_at == null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      row = await tokenRow(created.id);
    }
    expect(row).toMatchObject({ last_used_ip: '198.51.100.4' });
    expect(row!.last_used_at as number).toBeGreaterThanOrEqual(before);

    const body = await expectJson<TokenBody>(await getWith(`/tokens/${created.id}`, user.jwt), 200);
    expect(Date.parse(body.last_used_at!)).toBe(row!.last_used_at);
    expect(body.last_used_ip).toBe('198.51.100.4');
  });

  it('a PAT used on the management API counts as a use too, with its client address', async () => {
    const { created } = await userWithToken();
    const before = Date.now();
    const res = await call(`${API}/currentuser`, {
      headers: { 'x-pat': created.token, 'cf-connecting-ip': '198.51.100.9' },
    });
    expect(res.status).toBe(200);
    await eventually(async () => {
      const row = await tokenRow(created.id);
      expect(row).toMatchObject({ last_used_ip: '198.51.100.9' });
      expect(row!.last_used_at as number).toBeGreaterThanOrEqual(before);
    });
  });

  it('a PAT refused by the management API (pat_not_allowed) does not count as a use', async () => {
    const { created } = await userWithToken();
    const res = await call(`${API}/tokens`, {
      method: 'POST',
      headers: { 'x-pat': created.token, 'cf-connecting-ip': '198.51.100.66' },
      json: { name: 'nope' },
    });
    await expectProblem(res, 403, 'pat_not_allowed');
    // A use that is let in, afterwards, is recorded: so the write path works and the refusal wrote nothing.
    await call(`${API}/currentuser`, {
      headers: { 'x-pat': created.token, 'cf-connecting-ip': '198.51.100.9' },
    });
    await eventually(async () =>
      expect(await tokenRow(created.id)).toMatchObject({ last_used_ip: '198.51.100.9' }),
    );
  });

  it('a refused request does not count as use', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    fakeUpstream();
    await expectProblem(
      await call('/svc/rpc', { method: 'POST', headers: bearer(created.token) }),
      403,
      'insufficient_scope',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await tokenRow(created.id))?.last_used_at).toBeNull();
  });
});
