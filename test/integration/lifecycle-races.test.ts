import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Principal } from '../../src/auth/principals';
import { readKv, resetIsolateCache } from '../../src/auth/token-cache';
import { verifyPat } from '../../src/auth/verify-pat';
import { getConfig } from '../../src/config';
import { AppError } from '../../src/errors';
import type { ServiceDeps } from '../../src/tokens/access';
import { hashToken } from '../../src/tokens/hash';
import { republishOwnerTokens } from '../../src/tokens/owner-cache';
import { findToken } from '../../src/tokens/repository';
import {
  createToken,
  deleteToken,
  restoreToken,
  revokeToken,
  rotateToken,
  updateToken,
} from '../../src/tokens/service';
import { bearer, call, jwtFor } from '../helpers';
import { firstBatchAfter, principalOf } from '../reliability-support';
import { TEST_VARS } from '../vars';
import {
  API,
  currentUserWithPat,
  kvKeyFor,
  patchJson,
  postJson,
  tokenRow,
  userWithToken,
  utcDate,
  waitForKv,
} from './support';

// Two changes to one token at once (two browser tabs, a script and a person), in fixed interleavings: the service
// call under test loads the token, and just before its D1 batch (or its KV write) another request, a real one
// through the Worker, changes the token. Whatever the order, D1 and the caches must agree on the outcome, a revoked
// or deleted token must stay refused, and the audit log must tell what happened, once.

afterEach(() => {
  vi.useRealTimers();
  resetIsolateCache();
});

const del = (id: string, jwt: string) =>
  call(`${API}/tokens/${id}`, { method: 'DELETE', headers: bearer(jwt) });

/** Service dependencies whose first D1 batch waits for `before()` to finish; `pending` collects waitUntil work. */
function interleaved(actor: Principal, before: () => Promise<unknown>, kv: KVNamespace = env.TOKEN_CACHE) {
  const hooked = firstBatchAfter(drizzle(env.DB), before);
  const pending: Promise<unknown>[] = [];
  const deps: ServiceDeps = {
    db: hooked,
    kv,
    config: getConfig(env),
    now: Date.now(),
    ctx: { actor: { id: actor.id, kind: actor.kind }, ip: null, userAgent: null, requestId: 'race' },
    waitUntil: (promise) => void pending.push(promise),
  };
  return { deps, pending };
}

async function auditOf(id: string): Promise<string[]> {
  const { results } = await env.DB.prepare(
    'select action from audit_events where target_id = ? order by rowid',
  )
    .bind(id)
    .all<{ action: string }>();
  return results.map((r) => r.action);
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('an edit racing another change', () => {
  it('revoked meanwhile: the edit is refused (409) and the token stays refused, at once', async () => {
    const { user, created } = await userWithToken();
    const actor = await principalOf(user.subject);
    let revoked = 0;
    const { deps } = interleaved(actor, async () => {
      revoked = (await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status;
    });
    const error = await failure(updateToken(deps, actor, created.id, { expires_in_days: 60 }));
    expect(revoked).toBe(200);
    expect([error.status, error.code]).toEqual([409, 'token_changed']);
    expect((await tokenRow(created.id))!.revoked_at).not.toBeNull();
    const kv = await env.TOKEN_CACHE.get<{ state: string }>(await kvKeyFor(created.token), 'json');
    expect(kv?.state).toBe('revoked');
    expect((await currentUserWithPat(created.token)).status).toBe(401);
    expect(await auditOf(created.id)).toEqual(['token.created', 'token.revoked']);
  });

  it('deleted meanwhile: 404, no update audited after the deletion, and the token stays refused', async () => {
    const { user, created } = await userWithToken();
    const actor = await principalOf(user.subject);
    let deleted = 0;
    const { deps } = interleaved(actor, async () => {
      deleted = (await del(created.id, user.jwt)).status;
    });
    const error = await failure(
      updateToken(deps, actor, created.id, { name: 'renamed', expires_in_days: 60 }),
    );
    expect(deleted).toBe(204);
    expect([error.status, error.code]).toEqual([404, 'not_found']);
    expect(await tokenRow(created.id)).toBeNull();
    expect(await auditOf(created.id)).toEqual(['token.created', 'token.deleted']);
    expect((await currentUserWithPat(created.token)).status).toBe(401);
  });

  it('rotated meanwhile: 409, and the old secret stays refused', async () => {
    const { user, created } = await userWithToken();
    const actor = await principalOf(user.subject);
    const { deps } = interleaved(actor, () => postJson(`/tokens/${created.id}/rotate`, user.jwt));
    const error = await failure(updateToken(deps, actor, created.id, { expires_in_days: 60 }));
    expect(error.status).toBe(409);
    expect((await tokenRow(created.id))!.revoke_reason).toBe('rotated');
    expect((await currentUserWithPat(created.token)).status).toBe(401);
  });

  it('edited meanwhile: 409, and the other edit stands', async () => {
    const { user, created } = await userWithToken();
    const actor = await principalOf(user.subject);
    const { deps } = interleaved(actor, () =>
      patchJson(`/tokens/${created.id}`, user.jwt, { name: 'theirs' }),
    );
    const error = await failure(updateToken(deps, actor, created.id, { name: 'mine' }));
    expect(error.status).toBe(409);
    expect((await tokenRow(created.id))!.name).toBe('theirs');
    expect(await auditOf(created.id)).toEqual(['token.created', 'token.updated']);
  });

  it('over HTTP, without a race, edits still apply one after another', async () => {
    const { user, created } = await userWithToken();
    expect((await patchJson(`/tokens/${created.id}`, user.jwt, { name: 'one' })).status).toBe(200);
    expect((await patchJson(`/tokens/${created.id}`, user.jwt, { description: 'two' })).status).toBe(200);
    expect((await tokenRow(created.id))!).toMatchObject({ name: 'one', description: 'two' });
  });
});

describe('a restore racing another change', () => {
  it('a leak report meanwhile: the restore is refused (409) and the token stays revoked as leaked', async () => {
    const { user, created } = await userWithToken();
    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    const actor = await principalOf(user.subject);
    const { deps } = interleaved(actor, async () => {
      const res = await call(`${API}/credentials/revoke`, {
        method: 'POST',
        headers: { 'cf-connecting-ip': '198.51.100.77' },
        json: { credentials: [created.token] },
      });
      expect(res.status).toBe(202);
      // The report does its work after answering.
      await vi.waitFor(async () => expect((await tokenRow(created.id))!.revoke_reason).toBe('leaked'), {
        timeout: 3_000,
      });
    });
    const error = await failure(restoreToken(deps, actor, created.id));
    expect([error.status, error.code]).toEqual([409, 'token_changed']);
    expect(await tokenRow(created.id)).toMatchObject({ revoke_reason: 'leaked' });
    expect((await tokenRow(created.id))!.revoked_at).not.toBeNull();
    expect((await currentUserWithPat(created.token)).status).toBe(401);
    expect(await auditOf(created.id)).not.toContain('token.restored');
  });
});

describe('a revocation racing an edit', () => {
  it('the revocation still wins, and answers with the token as written: the new name, the ETag D1 holds', async () => {
    const { user, created } = await userWithToken();
    const actor = await principalOf(user.subject);
    const { deps } = interleaved(actor, () =>
      patchJson(`/tokens/${created.id}`, user.jwt, { name: 'renamed meanwhile' }),
    );
    const revoked = await revokeToken(deps, actor, created.id);
    const row = (await tokenRow(created.id))!;
    expect(row).toMatchObject({ name: 'renamed meanwhile', revoke_reason: 'user' });
    expect(revoked.name).toBe('renamed meanwhile');
    expect(revoked.updatedAt).toBe(row.updated_at);
    expect(revoked.revokedAt).toBe(row.revoked_at);
    expect(await auditOf(created.id)).toEqual(['token.created', 'token.updated', 'token.revoked']);
    expect((await currentUserWithPat(created.token)).status).toBe(401);
  });
});

describe('a rotation racing an edit', () => {
  it('409 token_changed: no successor with the old name, and the edit stands', async () => {
    const { user, created } = await userWithToken({ name: 'before' });
    const actor = await principalOf(user.subject);
    const { deps } = interleaved(actor, () =>
      patchJson(`/tokens/${created.id}`, user.jwt, { name: 'after' }),
    );
    const error = await failure(rotateToken(deps, actor, created.id, {}));
    expect([error.status, error.code]).toEqual([409, 'token_changed']);
    expect(await tokenRow(created.id)).toMatchObject({ name: 'after', revoked_at: null });
    const { results } = await env.DB.prepare('select id from tokens where rotated_from_id = ?')
      .bind(created.id)
      .all();
    expect(results).toEqual([]);
    expect(await auditOf(created.id)).toEqual(['token.created', 'token.updated']);
    expect((await currentUserWithPat(created.token)).status).toBe(200);
  });
});

describe('a delete racing another change', () => {
  it('two deletes: one succeeds, the other gets 404, and one token.deleted is audited', async () => {
    const { user, created } = await userWithToken();
    const actor = await principalOf(user.subject);
    let other = 0;
    const { deps } = interleaved(actor, async () => {
      other = (await del(created.id, user.jwt)).status;
    });
    const error = await failure(deleteToken(deps, actor, created.id));
    expect(other).toBe(204);
    expect(error.status).toBe(404);
    expect((await auditOf(created.id)).filter((a) => a === 'token.deleted')).toHaveLength(1);
  });
});

describe('two expiry edits at once', () => {
  it('the cache never keeps the losing, longer expiry: once D1 says expired, the token is refused', async () => {
    const { user, created } = await userWithToken();
    const actor = await principalOf(user.subject);
    // Edit A (365 days) writes D1; before A's KV write lands, edit B (1 day) runs to completion, KV write included.
    let fired = false;
    const kv = new Proxy(env.TOKEN_CACHE, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (prop !== 'put') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: Parameters<KVNamespace['put']>) => {
          if (!fired) {
            fired = true;
            const b = await patchJson(`/tokens/${created.id}`, user.jwt, { expires_at: utcDate(1) });
            expect(b.status).toBe(200);
          }
          return target.put(...args);
        };
      },
    });
    const { deps, pending } = interleaved(actor, async () => {}, kv);
    await updateToken(deps, actor, created.id, { expires_in_days: 365 });
    // A's delayed resync (B's runs in the Worker's own waitUntil, and only re-reads what B wrote).
    await Promise.all(pending);
    const expiresAt = (await tokenRow(created.id))!.expires_at as number;
    const record = await env.TOKEN_CACHE.get<{ exp: number }>(await kvKeyFor(created.token), 'json');
    // KV holds D1's expiry, or nothing (the next request reads D1).
    expect(record === null || record.exp === expiresAt).toBe(true);

    // A minute after D1's expiry, well within a KV record's life, in an isolate with empty memory.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(expiresAt + 60_000);
    resetIsolateCache();
    const status = await call(`${API}/tokens/${created.id}`, { headers: bearer(await jwtFor(user.subject)) });
    expect(((await status.json()) as { status: string }).status).toBe('expired');
    expect((await currentUserWithPat(created.token)).status).toBe(401);
  });
});

describe('a create racing another create', () => {
  it('at the per-owner cap, only one of them gets the last place (409 too_many_tokens)', async () => {
    const { user } = await userWithToken();
    const actor = await principalOf(user.subject);
    let other = 0;
    const { deps } = interleaved(actor, async () => {
      other = (await postJson('/tokens', user.jwt, { name: 'the other tab' })).status;
    });
    // A cap of 2 for this call: one token exists, so its own count passes; the other create takes the place.
    deps.config = { ...deps.config, policy: { ...deps.config.policy, max_tokens_per_owner: 2 } };
    const error = await failure(createToken(deps, actor, actor, { name: 'this tab' }));
    expect(other).toBe(201);
    expect([error.status, error.code]).toEqual([409, 'too_many_tokens']);
    const { results } = await env.DB.prepare('select name from tokens where owner_id = ?')
      .bind(actor.id)
      .all<{ name: string }>();
    const names = results.map((r) => r.name);
    expect(names).toHaveLength(2);
    expect(names).toContain('the other tab');
    expect(names).not.toContain('this tab');
  });
});

describe('a revocation racing a pepper upgrade', () => {
  it('the token stays refused under its new hash too, once the resync has run', async () => {
    const { user, created } = await userWithToken(); // hashed under pepper version 1
    const actor = await principalOf(user.subject);
    // The operator has rotated the pepper: version 2 is current, 1 previous, so a verification re-hashes the row.
    const base = getConfig(env);
    const config = {
      ...base,
      peppers: {
        current: { version: 2, secret: 'rotated-pepper-0123456789abcdef0123456789' },
        previous: [{ version: 1, secret: TEST_VARS.TOKEN_PEPPER }],
      },
    };
    const db = drizzle(env.DB);
    const pending: Promise<unknown>[] = [];
    const waitUntil = (promise: Promise<unknown>) => void pending.push(promise);
    const drain = async () => {
      while (pending.length) await Promise.allSettled(pending.splice(0));
    };
    const verify = () =>
      verifyPat(created.token, { config, db, kv: env.TOKEN_CACHE, now: Date.now(), waitUntil });
    // Between the revocation's read and its write, one isolate verifies (moving the row to the new hash) and
    // another verifies after that (caching the active row in KV under the new hash).
    const { deps } = interleaved(actor, async () => {
      expect((await verify()).ok).toBe(true);
      await drain();
      resetIsolateCache();
      expect((await verify()).ok).toBe(true);
      await drain();
      resetIsolateCache();
    });
    deps.config = config;
    deps.waitUntil = waitUntil;
    await revokeToken(deps, actor, created.id);
    await drain(); // the publish and the delayed resync
    expect((await findToken(db, created.id))!.revokedAt).not.toBeNull();
    const record = await readKv(
      env.TOKEN_CACHE,
      await hashToken(created.token, config.peppers.current),
      config,
    );
    expect(record?.state).not.toBe('active');
    resetIsolateCache(); // any other isolate
    expect((await verify()).ok).toBe(false);
  }, 20_000);
});

describe('an owner change racing a revocation', () => {
  it('re-publishing the owner’s tokens never writes a positive over a revocation made meanwhile', async () => {
    const { user, created } = await userWithToken();
    const owner = await principalOf(user.subject);
    // The owner's tokens were read; before their records are written, one of them is revoked (a real request).
    let fired = false;
    const kv = new Proxy(env.TOKEN_CACHE, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (typeof value !== 'function') return value;
        if ((prop !== 'put' && prop !== 'delete') || fired) return value.bind(target);
        return async (...args: unknown[]) => {
          fired = true;
          expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    await republishOwnerTokens(
      { db: drizzle(env.DB), kv, config: getConfig(env), now: Date.now() },
      { ...owner, role: 'admin' },
    );
    expect(fired).toBe(true);
    // Another isolate, before the revocation's own resync: KV must not vouch for the token.
    resetIsolateCache();
    expect((await currentUserWithPat(created.token)).status).toBe(401);
  });
});

describe('changes one after another, within the resync delay', () => {
  it('the earlier change’s resync keeps the later change’s record, which matches D1', async () => {
    const { user, created } = await userWithToken();
    const key = await kvKeyFor(created.token);
    await waitForKv(key);
    // At once after the create: its resync (1.5 s later) compares a stale snapshot with D1.
    for (const days of [20, 25]) {
      expect((await patchJson(`/tokens/${created.id}`, user.jwt, { expires_at: utcDate(days) })).status).toBe(
        200,
      );
    }
    const expiresAt = Date.parse(utcDate(25));
    await waitForKv(key, (state) => state.exp === expiresAt);
    await new Promise((resolve) => setTimeout(resolve, 3_500)); // every resync has run
    const record = await env.TOKEN_CACHE.get<{ state: string; exp: number }>(key, 'json');
    expect(record).toMatchObject({ state: 'active', exp: expiresAt });
  }, 15_000);
});
