import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isolateCache, resetIsolateCache } from '../../src/auth/token-cache';
import { verifyPat } from '../../src/auth/verify-pat';
import { getConfig } from '../../src/config';
import type { ServiceDeps } from '../../src/tokens/access';
import { generateToken } from '../../src/tokens/format';
import { hashToken } from '../../src/tokens/hash';
import { revokeToken } from '../../src/tokens/service';
import { fakeUpstream } from '../gateway-support';
import { bearer, call } from '../helpers';
import { failKv, principalOf } from '../reliability-support';
import { knownUserWithToken, SCIM_PATCH, scim } from './admin-support';
import { expectProblem, kvKeyFor, userWithToken, waitForKv } from './support';

// While KV refuses writes, the isolate that made a change must not fall back to the KV record the change could
// not replace (README: "effective on the very next request, even when KV refuses the write"): it holds a denial,
// or skips KV for the token, for 5 minutes, in a map of its own that made-up tokens filling the LRU cannot evict.

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  resetIsolateCache();
});

const config = getConfig(env);
const db = drizzle(env.DB);

describe('a revocation KV refused', () => {
  it('stays refused here after made-up tokens filled the isolate cache, and past its TTL', async () => {
    const { user, created } = await userWithToken();
    const hash = await hashToken(created.token, config.peppers.current);
    await waitForKv(await kvKeyFor(created.token), (s) => s.state === 'active');
    // The smallest cache CACHE_MAX_ENTRIES allows, so that a hundred made-up tokens fill it.
    const small = { ...config, cache: { ...config.cache, maxEntries: 100 } };
    resetIsolateCache();
    isolateCache(small);
    const verify = (token: string) =>
      verifyPat(token, { config: small, db, kv: env.TOKEN_CACHE, now: Date.now(), waitUntil: () => {} });
    expect((await verify(created.token)).ok).toBe(true);

    failKv({ writes: true });
    const actor = await principalOf(user.subject);
    const deps: ServiceDeps = {
      db,
      kv: env.TOKEN_CACHE,
      config: small,
      now: Date.now(),
      ctx: { actor: { id: actor.id, kind: actor.kind }, ip: null, userAgent: null, requestId: 'hold' },
      waitUntil: () => {},
    };
    await revokeToken(deps, actor, created.id);
    expect((await verify(created.token)).ok).toBe(false);

    for (let i = 0; i < 100; i++) await verify(generateToken(config.tokenPrefix)); // each remembered as unknown
    expect(isolateCache(small).peek(hash)).toBeUndefined(); // the LRU let the revocation go…
    expect((await verify(created.token)).ok).toBe(false); // …the hold did not
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + config.cache.isolateTtlMs + 1_000);
    expect((await verify(created.token)).ok).toBe(false);
  }, 30_000);
});

describe('a role demotion while KV refuses writes', () => {
  it('the demoted user’s token loses the admin scope on the very next request here', async () => {
    fakeUpstream();
    const adminOnly = (token: string) => call('/admin-only/x', { headers: bearer(token) });
    const { user, created } = await knownUserWithToken('admin', { scopes: ['admin', 'read', 'write'] });
    expect((await adminOnly(created.token)).status).toBe(200);
    await waitForKv(await kvKeyFor(created.token), (s) => s.state === 'active'); // its KV record, role admin

    failKv({ writes: true }); // KV refuses puts and deletes, reads still work
    const res = await scim(`/Users/${user.id}`, {
      method: 'PATCH',
      json: { schemas: [SCIM_PATCH], Operations: [{ op: 'replace', path: 'roles', value: [] }] },
    });
    expect(res.status).toBe(200);
    await expectProblem(await adminOnly(created.token), 403, 'insufficient_scope');
    // Past the memory TTL too: this isolate still reads D1, not the stale KV record.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + config.cache.isolateTtlMs + 1_000);
    await expectProblem(await adminOnly(created.token), 403, 'insufficient_scope');
  });
});
