import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { isolateCache, resetIsolateCache } from '../../src/auth/token-cache';
import { getConfig } from '../../src/config';
import { hashToken } from '../../src/tokens/hash';
import type { TokenState } from '../../src/tokens/state';
import { fakeUpstream } from '../gateway-support';
import { bearer, call } from '../helpers';
import { introspect } from '../reliability-support';
import { currentUserWithPat, expectProblem, expireInD1, kvKeyFor, userWithToken, waitForKv } from './support';

// KV is a cache, read as untrusted input: a `v: 1` record with a field missing or of the wrong type (truncated,
// hand-edited, written by another format) is no answer, and D1 decides. Before, a record without `exp` counted as
// "never expires": introspection said active and the gateway failed with 500.

afterEach(() => resetIsolateCache());

/** A token expired in D1 whose KV record lacks `exp`, with nothing in this isolate's memory. */
async function expiredWithExpLessRecord(): Promise<string> {
  const { created } = await userWithToken();
  const key = await kvKeyFor(created.token);
  const { exp: _exp, ...record } = await waitForKv(key, (s) => s.state === 'active');
  await expireInD1(created.id);
  await env.TOKEN_CACHE.put(key, JSON.stringify(record));
  resetIsolateCache();
  return created.token;
}

describe('a malformed KV record', () => {
  it('is ignored by introspection: D1 says expired, so active is false', async () => {
    const token = await expiredWithExpLessRecord();
    expect(await introspect(token)).toEqual({ active: false });
  });

  it('is ignored by the management API: the PAT is refused', async () => {
    await expectProblem(await currentUserWithPat(await expiredWithExpLessRecord()), 401, 'invalid_token');
  });

  it('is ignored by the gateway: 401, not 500', async () => {
    fakeUpstream();
    const res = await call('/svc/rpc', { headers: bearer(await expiredWithExpLessRecord()) });
    await expectProblem(res, 401, 'invalid_token');
  });
});

describe('a cached record whose expiry is not a number', () => {
  it('is refused, not taken as "never expires"', async () => {
    fakeUpstream();
    const { created } = await userWithToken({ expires_in_days: 30 });
    const config = getConfig(env);
    const hash = await hashToken(created.token, config.peppers.current);
    const { exp: _exp, ...record } = await waitForKv(
      await kvKeyFor(created.token),
      (s) => s.state === 'active',
    );
    // Past readKv's check (isolate memory is trusted): verification itself must still fail closed.
    isolateCache(config).set(hash, record as unknown as TokenState, Date.now() + 60_000);
    await expectProblem(await call('/svc/rpc', { headers: bearer(created.token) }), 401, 'invalid_token');
  });
});
