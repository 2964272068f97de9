import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getConfig } from '../../src/config';
import worker from '../../src/index';
import { generateToken } from '../../src/tokens/format';
import { resyncMany } from '../../src/tokens/kv-sync';
import { BASE } from '../helpers';
import { failKv, recordedD1 } from '../reliability-support';
import { TEST_VARS } from '../vars';
import { echo, knownUser, knownUserWithToken, SCIM_PATCH, uniqueIp } from './admin-support';
import { API, type KvState, kvKeyFor, waitForKv } from './support';

// Changes to hundreds of tokens at once (a leak report, a bulk revoke, a user deleted over SCIM) must reach KV
// although an invocation may make only 1,000 KV operations (https://developers.cloudflare.com/kv/platform/limits/):
// past that, every call throws, and a token whose tombstone was not written keeps its positive record for up to
// KV_RECORD_TTL_SECONDS elsewhere. Here each request and each cron run gets KV as production gives it to one
// invocation: the 1,001st operation throws. What does not fit one invocation is left in kv_outbox, where the
// change's own D1 batch put it, for the minute cron (src/tokens/kv-sync.ts).

type WorkerEnv = Parameters<NonNullable<typeof worker.fetch>>[1];
type WorkerRequest = Parameters<NonNullable<typeof worker.fetch>>[0];

const KV_LIMIT = 1_000;

/** TOKEN_CACHE as one invocation sees it in production: KV_LIMIT operations, then every call throws. */
function invocationKv() {
  const kv = env.TOKEN_CACHE;
  const stats = { ops: 0, refused: 0 };
  const counted =
    (name: 'get' | 'getWithMetadata' | 'put' | 'delete' | 'list') =>
    (...args: unknown[]) => {
      if (stats.ops >= KV_LIMIT) {
        stats.refused++;
        return Promise.reject(new Error('Too many API requests by single worker invocation.'));
      }
      stats.ops++;
      return (kv[name] as (...a: unknown[]) => Promise<unknown>).apply(kv, args);
    };
  const limited = {
    get: counted('get'),
    getWithMetadata: counted('getWithMetadata'),
    put: counted('put'),
    delete: counted('delete'),
    list: counted('list'),
  } as unknown as KVNamespace;
  return { kv: limited, stats };
}

/** One invocation of the Worker (the request and everything it leaves to waitUntil), with its own KV budget. */
async function invoke(path: string, init: RequestInit) {
  const kv = invocationKv();
  const d1 = recordedD1();
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(BASE + path, init) as WorkerRequest,
    { ...env, TOKEN_CACHE: kv.kv, DB: d1.db } as unknown as WorkerEnv,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { res, kv: kv.stats, statements: d1.statements };
}

/**
 * One run of the minute cron, with its own KV budget, `after` ms from now (it leaves changes younger than 5 s to
 * their own resync).
 */
async function minuteCron(after = 10_000) {
  const kv = invocationKv();
  const ctx = createExecutionContext();
  const controller = {
    scheduledTime: Date.now() + after,
    cron: '* * * * *',
    noRetry() {},
  } as ScheduledController;
  await worker.scheduled?.(controller, { ...env, TOKEN_CACHE: kv.kv } as unknown as WorkerEnv, ctx);
  await waitOnExecutionContext(ctx);
  return kv.stats;
}

/** Gateway request through the same module instance (so through this isolate's memory tier). */
async function gateway(token: string): Promise<number> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${BASE}/echo/ping`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } }),
    env as unknown as WorkerEnv,
    ctx,
  );
  await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return res.status;
}

interface Filler {
  id: string;
  token: string;
  key: string;
}

/**
 * `count` more live tokens of the owner of `model` (a token created through the API and used once, so its record
 * is in KV), written straight to D1, each with a positive KV record as a verification elsewhere would have left.
 */
async function moreTokens(model: { id: string; token: string }, count: number): Promise<Filler[]> {
  const record = await waitForKv(await kvKeyFor(model.token));
  const fillers: Filler[] = [];
  for (let i = 0; i < count; i++) {
    const token = generateToken('pat_');
    const id = `tok_f${crypto.randomUUID().replaceAll('-', '').slice(0, 15)}`;
    fillers.push({ id, token, key: await kvKeyFor(token) });
  }
  const insert = env.DB.prepare(
    `insert into tokens (id, owner_id, type, name, name_key, description, scopes, secret_hash, pepper_version, hint,
       created_at, updated_at, created_by, expires_at)
     select ?1, owner_id, type, ?2, ?2, null, scopes, ?3, pepper_version, hint, created_at, updated_at, created_by,
       expires_at from tokens where id = ?4`,
  );
  await env.DB.batch(fillers.map((f) => insert.bind(f.id, `filler ${f.id}`, f.key.slice(4), model.id)));
  for (const f of fillers) await env.TOKEN_CACHE.put(f.key, JSON.stringify({ ...record, id: f.id }));
  return fillers;
}

async function kvStates(keys: string[]): Promise<string[]> {
  const states: string[] = [];
  for (const key of keys) states.push((await env.TOKEN_CACHE.get<KvState>(key, 'json'))?.state ?? 'missing');
  return states;
}

async function outboxRows(): Promise<number> {
  return (await env.DB.prepare('select count(*) as n from kv_outbox').first<{ n: number }>())?.n ?? -1;
}

const count = (values: string[], value: string) => values.filter((v) => v === value).length;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('changes to hundreds of tokens, within what one invocation may do in KV', {
  timeout: 60_000,
}, () => {
  it('a leak report of 600 cached tokens: this isolate refuses them at once, KV has every tombstone after the minute cron', async () => {
    const { created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    const fillers = await moreTokens(created, 600);

    const { res, kv } = await invoke(`${API}/credentials/revoke`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': uniqueIp() },
      body: JSON.stringify({ credentials: fillers.map((f) => f.token) }),
    });
    expect(res.status).toBe(202);
    expect(kv.refused).toBe(0);
    const keys = fillers.map((f) => f.key);
    const before = await kvStates(keys);
    // Two writes a token (now and at the resync) fit 400 of them; the others wait for the cron.
    expect(count(before, 'revoked')).toBeGreaterThanOrEqual(350);
    const waiting = fillers.filter((_, i) => before[i] === 'active');
    expect(waiting.length).toBeGreaterThan(0);
    expect(await outboxRows()).toBe(waiting.length);
    // This isolate knows already, although KV still says active for those.
    for (const f of waiting.slice(0, 20)) expect(await gateway(f.token)).toBe(401);

    const cron = await minuteCron();
    expect(cron.refused).toBe(0);
    expect(count(await kvStates(keys), 'revoked')).toBe(600);
    expect(await outboxRows()).toBe(0);
  });

  it('an admin bulk revoke of 400: every tombstone written in the request, D1 read by the tens, not per token', async () => {
    const { created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    const fillers = await moreTokens(created, 399);
    const admin = await knownUser('admin');
    const { res, kv, statements } = await invoke(`${API}/admin/tokens/bulk-revoke`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${admin.jwt}` },
      body: JSON.stringify({ ids: [created.id, ...fillers.map((f) => f.id)] }),
    });
    expect(res.status).toBe(200);
    expect(kv.refused).toBe(0);
    expect(kv.ops).toBeLessThanOrEqual(810);
    // Eight revocation batches of 50, the resync's reads 90 at a time and its outbox deletes, the caller's lookups.
    expect(statements.length).toBeLessThan(60);
    const states = await kvStates([await kvKeyFor(created.token), ...fillers.map((f) => f.key)]);
    expect(count(states, 'revoked')).toBe(400);
    expect(await outboxRows()).toBe(0);
  });

  it('a user with 400 cached tokens deleted over SCIM: every tombstone within the one request', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    const fillers = await moreTokens(created, 399);
    const { res, kv } = await invoke(`/scim/v2/Users/${user.id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${TEST_VARS.SCIM_BEARER_TOKEN}` },
    });
    expect(res.status).toBe(204);
    expect(kv.refused).toBe(0);
    const states = await kvStates([await kvKeyFor(created.token), ...fillers.map((f) => f.key)]);
    expect(count(states, 'revoked')).toBe(400);
    expect(await outboxRows()).toBe(0);
  });

  it('a user with 600 cached tokens deactivated: denials for those that fit, the rest after the minute cron', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    const fillers = await moreTokens(created, 599);
    const { res, kv } = await invoke(`/scim/v2/Users/${user.id}`, {
      method: 'PATCH',
      headers: {
        Authorization: `Bearer ${TEST_VARS.SCIM_BEARER_TOKEN}`,
        'Content-Type': 'application/scim+json',
      },
      body: JSON.stringify({
        schemas: [SCIM_PATCH],
        Operations: [{ op: 'replace', path: 'active', value: false }],
      }),
    });
    expect(res.status).toBe(200);
    expect(kv.refused).toBe(0);
    const keys = [await kvKeyFor(created.token), ...fillers.map((f) => f.key)];
    const inactive = async () => {
      let n = 0;
      for (const key of keys) {
        const state = await env.TOKEN_CACHE.get<KvState & { owner: { active: boolean } }>(key, 'json');
        if (state?.owner.active === false) n++;
      }
      return n;
    };
    expect(await inactive()).toBeLessThan(600);
    expect(await outboxRows()).toBeGreaterThan(0);
    expect((await minuteCron()).refused).toBe(0);
    expect(await inactive()).toBe(600);
    expect(await outboxRows()).toBe(0);
  });
});

describe('the minute cron retries what KV refused', () => {
  it('a revocation whose KV writes all failed reaches KV at the next run after KV recovers', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    const key = await kvKeyFor(created.token);
    await waitForKv(key);
    failKv({ writes: true });
    const { res } = await invoke(`${API}/tokens/${created.id}/revoke`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${user.jwt}` },
    });
    expect(res.status).toBe(200);
    expect((await env.TOKEN_CACHE.get<KvState>(key, 'json'))?.state).toBe('active');
    expect(await outboxRows()).toBe(1);

    await minuteCron(); // KV still refuses: the row stays
    expect(await outboxRows()).toBe(1);
    vi.restoreAllMocks();
    await minuteCron();
    expect((await env.TOKEN_CACHE.get<KvState>(key, 'json'))?.state).toBe('revoked');
    expect(await outboxRows()).toBe(0);
  });

  it('a change made a moment ago is left to its own resync; one recorded after a resync read D1 stays', async () => {
    const { created } = await knownUserWithToken();
    const hash = (await kvKeyFor(created.token)).slice(4);
    const record = (since: number) =>
      env.DB.prepare('insert or replace into kv_outbox (token_id, hash, since) values (?1, ?2, ?3)')
        .bind(created.id, hash, since)
        .run();
    await record(Date.now());
    await minuteCron(0);
    expect(await outboxRows()).toBe(1);
    // A newer change recorded it again while a resync ran: that resync must not remove it.
    await record(Date.now() + 60_000);
    const deps = { db: drizzle(env.DB), kv: env.TOKEN_CACHE, config: getConfig(env as never) };
    expect(await resyncMany(deps, [{ id: created.id, hash }])).toBe(0);
    expect(await outboxRows()).toBe(1);
    await record(Date.now() - 1);
    expect(await resyncMany(deps, [{ id: created.id, hash }])).toBe(0);
    expect(await outboxRows()).toBe(0);
  });

  it('the daily cron still runs the hygiene job, not the KV sync', async () => {
    const { created } = await knownUserWithToken();
    const hash = (await kvKeyFor(created.token)).slice(4);
    await env.DB.prepare('insert into kv_outbox (token_id, hash, since) values (?1, ?2, ?3)')
      .bind(created.id, hash, Date.now() - 1)
      .run();
    const ctx = createExecutionContext();
    const controller = { scheduledTime: Date.now(), cron: '17 3 * * *', noRetry() {} } as ScheduledController;
    const log = vi.spyOn(console, 'log');
    await worker.scheduled?.(controller, env as unknown as WorkerEnv, ctx);
    await waitOnExecutionContext(ctx);
    expect(log.mock.calls.some(([line]) => String(line).includes('hygiene_run'))).toBe(true);
    expect(await outboxRows()).toBe(1);
    await minuteCron();
    expect(await outboxRows()).toBe(0);
  });
});
