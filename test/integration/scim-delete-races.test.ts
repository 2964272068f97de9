import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Identity } from '../../src/auth/jwt';
import { upsertUser } from '../../src/auth/principals';
import { resetIsolateCache } from '../../src/auth/token-cache';
import { getConfig } from '../../src/config';
import { AppError } from '../../src/errors';
import type { ServiceDeps } from '../../src/tokens/access';
import { updateUser } from '../../src/tokens/principal-admin';
import { uniqueUser } from '../helpers';
import { failKv } from '../reliability-support';
import { echo, knownUser, knownUserWithToken, scim, scimActive } from './admin-support';
import { getWith, kvKeyFor, waitForKv } from './support';

// SCIM DELETE and first sign-ins against what runs at the same time: KV failing or a late cache fill from another
// isolate, an admin's reactivation, a D1 error half-way, and a second first sign-in of the same user.

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const remove = (id: string) => scim(`/Users/${id}`, { method: 'DELETE' });

afterEach(() => {
  vi.restoreAllMocks();
  resetIsolateCache();
});

/** A user whose token is cached in KV as active, with the creation's own resync over. */
async function cachedUser() {
  const { user, created } = await knownUserWithToken();
  await sleep(2_000);
  expect((await echo(created.token)).status).toBe(200);
  const key = await kvKeyFor(created.token);
  const record = await waitForKv(key, (s) => s.state === 'active' && (s.owner as { active: boolean }).active);
  return { user, created, key, record };
}

describe("a deleted user's tokens are refused by every isolate", () => {
  it('though KV refused the writes during the DELETE (the resync 1.5 s later repairs it)', async () => {
    const { user, created } = await cachedUser();
    failKv({ writes: true });
    expect((await remove(user.id)).status).toBe(204);
    vi.restoreAllMocks();
    await sleep(2_500);
    resetIsolateCache(); // another isolate: only KV and D1
    expect((await echo(created.token)).status).toBe(401);
  }, 20_000);

  it('though another isolate refilled KV with the old record just after it', async () => {
    const { user, created, key, record } = await cachedUser();
    expect((await remove(user.id)).status).toBe(204);
    await env.TOKEN_CACHE.put(key, JSON.stringify(record), { expirationTtl: 3600 });
    await sleep(2_500);
    resetIsolateCache();
    expect((await echo(created.token)).status).toBe(401);
  }, 20_000);
});

describe('a SCIM DELETE racing other changes', () => {
  it('an admin reactivation that lands after it leaves the user deleted and inactive (409 user_deleted)', async () => {
    const { user } = await knownUserWithToken();
    expect((await scim(`/Users/${user.id}`, { method: 'PATCH', json: scimActive(false) })).status).toBe(200);
    const admin = await knownUser('admin');
    let fired = false;
    // The admin's write waits until the provider's DELETE has been answered.
    const d1 = new Proxy(env.DB, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (prop === 'batch')
          return async (statements: D1PreparedStatement[]) => {
            if (!fired) {
              fired = true;
              expect((await remove(user.id)).status).toBe(204);
            }
            return target.batch(statements);
          };
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const deps: ServiceDeps = {
      db: drizzle(d1),
      kv: env.TOKEN_CACHE,
      config: getConfig(env),
      now: Date.now(),
      ctx: { actor: { id: admin.id, kind: 'user' }, ip: null, userAgent: null, requestId: 'race' },
      waitUntil: () => {},
    };
    const refused = await updateUser(deps, user.id, { active: true }, 'admin').catch((error) => error);
    expect(fired).toBe(true);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('user_deleted');
    const row = await env.DB.prepare('select active, deleted_at from principals where id = ?')
      .bind(user.id)
      .first<{ active: number; deleted_at: number | null }>();
    expect(row).toMatchObject({ active: 0, deleted_at: expect.any(Number) });
    expect((await getWith('/currentuser', user.jwt)).status).toBe(403);
  }, 20_000);

  it('one that fails half-way can be sent again, and the old tokens never come back', async () => {
    const { user, created } = await knownUserWithToken();
    const batch = env.DB.batch.bind(env.DB);
    let failed = 0;
    vi.spyOn(env.DB, 'batch').mockImplementation(async (statements) => {
      const text = statements.map((s) => (s as { statement?: string }).statement ?? '').join('\n');
      if (/update "tokens"/i.test(text) && /revoke_reason/.test(text)) {
        failed++;
        throw new Error('D1_ERROR: Network connection lost.');
      }
      return batch(statements);
    });
    expect((await remove(user.id)).status).toBeGreaterThanOrEqual(500);
    expect(failed).toBe(1);
    vi.restoreAllMocks();
    expect((await remove(user.id)).status).toBe(204);
    const again = await scim('/Users', {
      method: 'POST',
      json: { schemas: [USER_SCHEMA], userName: user.subject },
    });
    expect(again.status).toBe(201);
    expect((await echo(created.token)).status).toBe(401);
  }, 20_000);
});

describe('two first sign-ins of one new user at once', () => {
  it('the second gets the account the first created, not 403 subject_conflict', async () => {
    const identity: Identity = {
      subject: uniqueUser('first'),
      name: null,
      email: null,
      role: 'member',
      issuedAt: Math.floor(Date.now() / 1000) * 1000,
    };
    const now = Date.now();
    // The second request's look-alike query (lower()) runs just after the first request inserted the user.
    let fired = false;
    const first = () => upsertUser(drizzle(env.DB), identity, now);
    const wrap = (statement: D1PreparedStatement, sql: string): D1PreparedStatement =>
      new Proxy(statement, {
        get(target, prop) {
          const value = Reflect.get(target, prop);
          if (typeof value !== 'function') return value;
          if (prop === 'bind') return (...args: unknown[]) => wrap(value.apply(target, args), sql);
          if (['first', 'raw', 'all', 'run'].includes(String(prop)) && sql.includes('lower(') && !fired)
            return async (...args: unknown[]) => {
              fired = true;
              await first();
              return value.apply(target, args);
            };
          return value.bind(target);
        },
      });
    const d1 = new Proxy(env.DB, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (prop === 'prepare') return (sql: string) => wrap(target.prepare(sql), sql);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const second = await upsertUser(drizzle(d1), identity, now);
    expect(fired).toBe(true);
    expect(second.principal.subject).toBe(identity.subject);
    expect(second.created).toBe(false);
  });
});
