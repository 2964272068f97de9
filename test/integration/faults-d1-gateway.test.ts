import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resetIsolateCache } from '../../src/auth/token-cache';
import { verifyStats } from '../../src/auth/verify-pat';
import { generateToken } from '../../src/tokens/format';
import { fakeUpstream } from '../gateway-support';
import { bearer, call } from '../helpers';
import { expectUnavailable, failD1 } from '../reliability-support';
import { currentUserWithPat, expectJson, kvKeyFor, postJson, userWithToken, waitForKv } from './support';

// D1 failing under the gateway: tokens already in a cache (this isolate's memory, or KV) keep working; a token
// that only D1 could vouch for gets 503 with Retry-After — fail closed, never 200 — and the outage is not cached
// as a denial, so the token works again the moment D1 is back.

afterEach(() => {
  vi.restoreAllMocks();
});

const rpc = (token: string, route = '/svc') => call(`${route}/rpc`, { headers: bearer(token) });

/** A valid token that is in no cache at all: its KV record (written on creation) is removed. */
async function uncachedToken() {
  const { user, created } = await userWithToken();
  const key = await kvKeyFor(created.token);
  await waitForKv(key);
  await env.TOKEN_CACHE.delete(key);
  resetIsolateCache();
  return { user, created };
}

describe('tokens in a cache keep working while D1 is down', () => {
  it('a token this isolate verified a moment ago', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200);
    failD1('down');
    const d1Reads = verifyStats.d1Reads;
    expect((await rpc(created.token)).status).toBe(200);
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.requests[1]!.headers.get('x-pat-token-id')).toBe(created.id);
    expect(verifyStats.d1Reads).toBe(d1Reads);
  });

  it('a token whose record only KV holds', async () => {
    const { created } = await userWithToken();
    await waitForKv(await kvKeyFor(created.token), (s) => s.state === 'active');
    resetIsolateCache();
    const upstream = fakeUpstream();
    failD1('down');
    expect((await rpc(created.token)).status).toBe(200);
    expect(upstream.only().headers.get('x-pat-token-id')).toBe(created.id);
  });

  it('a token cached as revoked stays refused (401, not 503)', async () => {
    const { user, created } = await userWithToken();
    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    await waitForKv(await kvKeyFor(created.token), (s) => s.state === 'revoked');
    const upstream = fakeUpstream();
    failD1('down');
    expect((await rpc(created.token)).status).toBe(401);
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('tokens only D1 knows fail closed', () => {
  it('an uncached valid token gets 503 unavailable with Retry-After, and the upstream never sees it', async () => {
    const { created } = await uncachedToken();
    const upstream = fakeUpstream();
    const d1 = failD1('down');
    await expectUnavailable(await rpc(created.token));
    expect(d1.failures).toBeGreaterThan(0);
    expect(upstream.requests).toHaveLength(0);
  });

  it('concurrent requests with uncached valid, revoked and unknown tokens: every one 503, none 200', async () => {
    const valid = await uncachedToken();
    const revoked = await uncachedToken();
    await env.DB.prepare('update tokens set revoked_at = ?1 where id = ?2')
      .bind(Date.now(), revoked.created.id)
      .run();
    const tokens = [valid.created.token, revoked.created.token, generateToken('pat_')];
    const upstream = fakeUpstream();
    failD1('down');
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => rpc(tokens[i % 3]!)));
    expect(answers.map((r) => r.status)).toEqual(Array(24).fill(503));
    for (const res of answers) await expectUnavailable(res);
    expect(upstream.requests).toHaveLength(0);
  });

  it('a strict route asks D1 every time, so even a cached token gets 503 there', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    expect((await rpc(created.token, '/strict')).status).toBe(200);
    failD1('down');
    await expectUnavailable(await rpc(created.token, '/strict'));
    expect(upstream.requests).toHaveLength(1);
  });

  it('the outage is not remembered: once D1 is back the same token is let through', async () => {
    const { created } = await uncachedToken();
    const upstream = fakeUpstream();
    failD1('down');
    await expectUnavailable(await rpc(created.token));
    vi.restoreAllMocks();
    fakeUpstream();
    expect((await rpc(created.token)).status).toBe(200);
    expect(upstream.requests).toHaveLength(0);
  });

  it('introspection of an uncached token answers 503, never {"active": true}', async () => {
    const { created } = await uncachedToken();
    failD1('down');
    const res = await call('/oauth/introspect', {
      method: 'POST',
      headers: {
        Authorization: `Basic ${btoa('resource-server:introspection-secret-123')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: created.token }),
    });
    await expectUnavailable(res);
  });

  it('management calls with an uncached PAT answer 503', async () => {
    const { created } = await uncachedToken();
    failD1('down');
    await expectUnavailable(await currentUserWithPat(created.token));
    vi.restoreAllMocks();
    const me = await expectJson<{ token_id: string }>(await currentUserWithPat(created.token), 200);
    expect(me.token_id).toBe(created.id);
  });
});
