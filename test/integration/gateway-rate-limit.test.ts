import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resetIsolateCache } from '../../src/auth/token-cache';
import { AUTH_FAILURE_LIMIT } from '../../src/gateway/abuse';
import { generateToken } from '../../src/tokens/format';
import { fakeUpstream } from '../gateway-support';
import { bearer, call } from '../helpers';
import { expectProblem, kvKeyFor, storageReadsDuring, userWithToken, waitForKv } from './support';

// Failed authentications are rate limited per client IP (src/gateway/abuse.ts): past the limit, an address gets
// 429 with Retry-After for anything the caches cannot vouch for, and costs no D1 read; tokens the caches know keep
// working, other addresses are untouched, a missing token does not count, and the block ends with its window.
// Here the limit is the local fallback (isolate memory), with the same numbers as the deployed binding.

const { limit, periodSeconds } = AUTH_FAILURE_LIMIT;

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

let lastIp = 0;
/** A fresh client address per test, so tests do not share counters. */
const newIp = () => `198.51.100.${++lastIp}`;

const from = (ip: string, token?: string, route = '/svc') =>
  call(`${route}/rpc`, {
    headers: { 'cf-connecting-ip': ip, ...(token === undefined ? {} : bearer(token)) },
  });

/** Spends an address's whole allowance of failures; each of them is a plain 401. */
async function exhaust(ip: string) {
  const statuses = new Set<number>();
  for (let i = 0; i < limit; i++) statuses.add((await from(ip, generateToken('pat_'))).status);
  expect([...statuses]).toEqual([401]);
}

describe('failed authentications per client IP', () => {
  it(`failure number ${limit + 1} within ${periodSeconds} s is a 429 with Retry-After, and nothing is forwarded`, async () => {
    const upstream = fakeUpstream();
    const ip = newIp();
    await exhaust(ip);
    const res = await from(ip, generateToken('pat_'));
    const problem = await expectProblem(res, 429, 'rate_limited');
    const retryAfter = Number(res.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(periodSeconds);
    expect(JSON.stringify(problem)).not.toMatch(/pat_/);
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff'); // the gateway's own answer: its headers
    // Malformed and bad-checksum tokens are refused the same way once blocked.
    await expectProblem(await from(ip, 'pat_short'), 429, 'rate_limited');
    expect(upstream.requests).toEqual([]);
  });

  it('every kind of refused token counts: malformed, unknown, revoked', async () => {
    fakeUpstream();
    const { user, created } = await userWithToken();
    const revoke = await call(`/api/v1/tokens/${created.id}/revoke`, {
      method: 'POST',
      headers: bearer(user.jwt),
    });
    expect(revoke.status).toBe(200);
    const ip = newIp();
    const kinds = ['pat_short', `${created.token.slice(0, -1)}0`, generateToken('pat_'), created.token];
    for (let i = 0; i < limit; i++) expect((await from(ip, kinds[i % kinds.length])).status).toBe(401);
    await expectProblem(await from(ip, kinds[0]), 429, 'rate_limited');
  });

  it('once blocked, made-up tokens cost no D1 read', async () => {
    fakeUpstream();
    const ip = newIp();
    await exhaust(ip);
    await expectProblem(await from(ip, generateToken('pat_')), 429, 'rate_limited'); // the block starts
    const reads = await storageReadsDuring(async () => {
      for (let i = 0; i < 20; i++)
        await expectProblem(await from(ip, generateToken('pat_')), 429, 'rate_limited');
    });
    expect(reads.d1).toBe(0);
  });

  it('a blocked address can still use a token the caches vouch for; one known only to D1 waits', async () => {
    const upstream = fakeUpstream();
    const { created: cached } = await userWithToken();
    const { created: cold } = await userWithToken();
    const ip = newIp();
    expect((await from(ip, cached.token)).status).toBe(200);
    await exhaust(ip);
    await expectProblem(await from(ip, generateToken('pat_')), 429, 'rate_limited');

    // In memory and KV: served as usual.
    expect((await from(ip, cached.token)).status).toBe(200);
    // From KV alone (as in another isolate): served too.
    resetIsolateCache();
    await waitForKv(await kvKeyFor(cached.token), (s) => s.state === 'active');
    expect((await from(ip, cached.token)).status).toBe(200);

    // Known only to D1: not looked up for this address until the block ends…
    const coldKey = await kvKeyFor(cold.token);
    await waitForKv(coldKey);
    await env.TOKEN_CACHE.delete(coldKey);
    resetIsolateCache();
    await expectProblem(await from(ip, cold.token), 429, 'rate_limited');
    // …and the strict route, which always asks D1, waits as well.
    await expectProblem(await from(ip, cached.token, '/strict'), 429, 'rate_limited');
    // Every other address is untouched.
    expect((await from(newIp(), cold.token)).status).toBe(200);
    expect(upstream.requests).toHaveLength(4);
  });

  it('requests without any token do not count', async () => {
    fakeUpstream();
    const ip = newIp();
    for (let i = 0; i < limit + 10; i++) await expectProblem(await from(ip), 401, 'missing_token');
    await expectProblem(await from(ip, generateToken('pat_')), 401, 'invalid_token');
  });

  it('the block ends with its window', async () => {
    fakeUpstream();
    const { created } = await userWithToken();
    const ip = newIp();
    await exhaust(ip);
    await expectProblem(await from(ip, generateToken('pat_')), 429, 'rate_limited');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + (periodSeconds + 1) * 1000);
    await expectProblem(await from(ip, generateToken('pat_')), 401, 'invalid_token');
    expect((await from(ip, created.token)).status).toBe(200);
  });

  it('requests without a client address (off the edge) are not counted', async () => {
    fakeUpstream();
    for (let i = 0; i < limit + 5; i++) {
      const res = await call('/svc/rpc', { headers: bearer(generateToken('pat_')) });
      await expectProblem(res, 401, 'invalid_token');
    }
  });

  it('an IPv6 client is one client per /64: changing the low bits does not reset the count', async () => {
    fakeUpstream();
    const net = `2001:db8:${(++lastIp).toString(16)}:7`;
    for (let i = 0; i < limit; i++) {
      const res = await from(`${net}::${(i + 1).toString(16)}`, generateToken('pat_'));
      await expectProblem(res, 401, 'invalid_token');
    }
    await expectProblem(await from(`${net}:0:0:0:ffff`, generateToken('pat_')), 429, 'rate_limited');
    // The neighbouring /64 is someone else.
    await expectProblem(
      await from(`2001:db8:${lastIp.toString(16)}:8::1`, generateToken('pat_')),
      401,
      'invalid_token',
    );
  });
});

describe('the management API shares the limit (PATs on GET /currentuser and /tokens/self)', () => {
  const currentUser = (ip: string, token: string) =>
    call('/api/v1/currentuser', { headers: { 'cf-connecting-ip': ip, 'x-pat': token } });

  it('its failures count, and past the limit it answers 429 without a D1 read; cached tokens still work', async () => {
    fakeUpstream();
    const { created } = await userWithToken();
    const ip = newIp();
    expect((await currentUser(ip, created.token)).status).toBe(200);
    for (let i = 0; i < limit; i++) expect((await currentUser(ip, generateToken('pat_'))).status).toBe(401);
    const res = await currentUser(ip, generateToken('pat_'));
    await expectProblem(res, 429, 'rate_limited');
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    const reads = await storageReadsDuring(async () => {
      for (let i = 0; i < 10; i++)
        await expectProblem(await currentUser(ip, generateToken('pat_')), 429, 'rate_limited');
    });
    expect(reads.d1).toBe(0);
    // The gateway sees the same block; the client's own cached token keeps working on both.
    await expectProblem(await from(ip, generateToken('pat_')), 429, 'rate_limited');
    expect((await currentUser(ip, created.token)).status).toBe(200);
    expect((await from(ip, created.token)).status).toBe(200);
  });
});
