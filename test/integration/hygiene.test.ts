import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { createToken } from '../helpers';
import { echo, knownUserWithToken } from './admin-support';
import {
  DAY_MS,
  expectJson,
  expectProblem,
  expireInD1,
  getWith,
  kvKeyFor,
  patchJson,
  postJson,
  type TokenPage,
  tokenRow,
  waitForKv,
} from './support';

// The daily job (cron `17 3 * * *`), run through the Worker's real scheduled handler: expiry notices at 30 and 7
// days and inactivity notices (INACTIVE_TOKEN_DAYS, default 90), each once per token; auto-revocation only when
// AUTO_REVOKE_INACTIVE_DAYS is set. Storage is shared by the tests of this file, so each counts only its own tokens.

type WorkerEnv = Parameters<NonNullable<typeof worker.scheduled>>[1];

async function runCron(at = Date.now(), vars: Record<string, string> = {}): Promise<void> {
  const ctx = createExecutionContext();
  const target = (Object.keys(vars).length ? { ...env, ...vars } : env) as unknown as WorkerEnv;
  const controller = { scheduledTime: at, cron: '17 3 * * *', noRetry() {} } as ScheduledController;
  await worker.scheduled?.(controller, target, ctx);
  await waitOnExecutionContext(ctx);
}

/** Sets a token's times directly in D1 (epoch ms; the API cannot backdate). */
async function setTimes(id: string, times: { created?: number; lastUsed?: number | null }) {
  if (times.created !== undefined)
    // Never changed since: updated_at is its creation time too.
    await env.DB.prepare('update tokens set created_at = ?1, updated_at = ?1 where id = ?2')
      .bind(times.created, id)
      .run();
  if (times.lastUsed !== undefined)
    await env.DB.prepare('update tokens set last_used_at = ? where id = ?').bind(times.lastUsed, id).run();
}

interface EventRow {
  action: string;
  target_id: string;
  actor_kind: string;
  actor_id: string | null;
  owner_id: string;
}

/** How many `action` events each of `ids` has. */
async function notices(ids: string[], action: string): Promise<number[]> {
  const { results } = await env.DB.prepare('select * from audit_events where action = ?')
    .bind(action)
    .all<EventRow>();
  return ids.map((id) => results.filter((e) => e.target_id === id).length);
}

const daysAgo = (days: number) => Date.now() - days * DAY_MS;

describe('expiry notices', () => {
  it('token.expiring_7d and token.expiring_30d, exactly once each, only for live tokens in the window', async () => {
    const { user, created: soon } = await knownUserWithToken('member', { expires_in_days: 5 });
    const mid = await createToken(user.jwt, { expires_in_days: 20 });
    const far = await createToken(user.jwt, { expires_in_days: 60 });
    const revoked = await createToken(user.jwt, { expires_in_days: 5 });
    await postJson(`/tokens/${revoked.id}/revoke`, user.jwt);
    const expired = await createToken(user.jwt, { expires_in_days: 5 });
    await expireInD1(expired.id);

    await runCron();
    await runCron();
    const ids = [soon.id, mid.id, far.id, revoked.id, expired.id];
    expect(await notices(ids, 'token.expiring_7d')).toEqual([1, 0, 0, 0, 0]);
    const thirty = await notices(ids, 'token.expiring_30d');
    expect(thirty.slice(1)).toEqual([1, 0, 0, 0]);
    expect(thirty[0]).toBeLessThanOrEqual(1); // within 30 days too: noted at most once

    const [event] = (
      await env.DB.prepare("select * from audit_events where target_id = ? and action = 'token.expiring_7d'")
        .bind(soon.id)
        .all<EventRow & { detail: string }>()
    ).results;
    expect(event).toMatchObject({ actor_kind: 'system', actor_id: null, owner_id: user.id });
    expect(JSON.parse(event!.detail)).toMatchObject({ expires_at: Date.parse(soon.expires_at!) });
  });

  it('GET /tokens?expiring_within_days=7 lists only the live tokens expiring within 7 days', async () => {
    const { user, created: soon } = await knownUserWithToken('member', { expires_in_days: 5 });
    await createToken(user.jwt, { expires_in_days: 20 });
    const revoked = await createToken(user.jwt, { expires_in_days: 5 });
    await postJson(`/tokens/${revoked.id}/revoke`, user.jwt);
    const expired = await createToken(user.jwt, { expires_in_days: 5 });
    await expireInD1(expired.id);
    const page = await expectJson<TokenPage>(await getWith('/tokens?expiring_within_days=7', user.jwt), 200);
    expect(page.data.map((t) => t.id)).toEqual([soon.id]);
  });
});

describe('inactivity', () => {
  it('token.inactive once for tokens unused for 90 days; nothing is revoked by default', async () => {
    const { user, created: neverUsed } = await knownUserWithToken();
    const usedLongAgo = await createToken(user.jwt);
    const usedRecently = await createToken(user.jwt);
    const young = await createToken(user.jwt);
    await setTimes(neverUsed.id, { created: daysAgo(100), lastUsed: null });
    await setTimes(usedLongAgo.id, { created: daysAgo(200), lastUsed: daysAgo(95) });
    await setTimes(usedRecently.id, { created: daysAgo(200), lastUsed: daysAgo(10) });
    await setTimes(young.id, { created: daysAgo(89) });

    await runCron();
    await runCron();
    const ids = [neverUsed.id, usedLongAgo.id, usedRecently.id, young.id];
    expect(await notices(ids, 'token.inactive')).toEqual([1, 1, 0, 0]);
    for (const id of ids) expect(await tokenRow(id)).toMatchObject({ revoked_at: null });
    expect(await notices(ids, 'token.revoked')).toEqual([0, 0, 0, 0]);
    expect((await echo(neverUsed.token)).status).toBe(200);
  });

  it('with AUTO_REVOKE_INACTIVE_DAYS set, tokens idle that long are revoked (reason inactivity, final)', async () => {
    const { user, created: stale } = await knownUserWithToken();
    const active = await createToken(user.jwt);
    expect((await echo(stale.token)).status).toBe(200); // cached before the job runs
    await setTimes(stale.id, { created: daysAgo(3100), lastUsed: daysAgo(3050) });
    await setTimes(active.id, { created: daysAgo(3100), lastUsed: daysAgo(1) });

    await runCron(Date.now(), { AUTO_REVOKE_INACTIVE_DAYS: '3000' });
    expect(await tokenRow(stale.id)).toMatchObject({ revoke_reason: 'inactivity' });
    expect(await tokenRow(active.id)).toMatchObject({ revoked_at: null });
    expect(await notices([stale.id, active.id], 'token.revoked')).toEqual([1, 0]);
    await expectProblem(await echo(stale.token), 401, 'invalid_token');
    await expectProblem(await postJson(`/tokens/${stale.id}/restore`, user.jwt), 409, 'not_restorable');
  });

  it('a token restored or given a later expiry today is not idle: neither noted nor revoked tonight', async () => {
    const { user, created: restored } = await knownUserWithToken();
    const extended = await createToken(user.jwt);
    const untouched = await createToken(user.jwt);
    for (const t of [restored, extended, untouched])
      await setTimes(t.id, { created: daysAgo(3100), lastUsed: daysAgo(3050) });
    expect((await postJson(`/tokens/${restored.id}/revoke`, user.jwt)).status).toBe(200);
    expect((await postJson(`/tokens/${restored.id}/restore`, user.jwt)).status).toBe(200);
    expect((await patchJson(`/tokens/${extended.id}`, user.jwt, { expires_in_days: 200 })).status).toBe(200);

    await runCron(Date.now(), { AUTO_REVOKE_INACTIVE_DAYS: '3000' });
    const ids = [restored.id, extended.id, untouched.id];
    expect(await notices(ids, 'token.inactive')).toEqual([0, 0, 1]);
    expect(await tokenRow(restored.id)).toMatchObject({ revoked_at: null });
    expect(await tokenRow(extended.id)).toMatchObject({ revoked_at: null });
    expect(await tokenRow(untouched.id)).toMatchObject({ revoke_reason: 'inactivity' });
    expect((await echo(restored.token)).status).toBe(200);
  });

  it("an auto-revocation's delayed resync runs within the job, and covers a stale record written meanwhile", async () => {
    const { created: stale } = await knownUserWithToken();
    expect((await echo(stale.token)).status).toBe(200);
    const key = await kvKeyFor(stale.token);
    await waitForKv(key, (s) => s.state === 'active');
    const live = (await env.TOKEN_CACHE.get(key))!;
    await setTimes(stale.id, { created: daysAgo(3100), lastUsed: daysAgo(3050) });

    const ctx = createExecutionContext();
    const controller = { scheduledTime: Date.now(), cron: '17 3 * * *', noRetry() {} } as ScheduledController;
    const vars = { ...env, AUTO_REVOKE_INACTIVE_DAYS: '3000' } as unknown as WorkerEnv;
    await worker.scheduled?.(controller, vars, ctx);
    // Once the job has revoked the token, another isolate that read it just before writes its active record…
    await waitForKv(key, (s) => s.state === 'revoked');
    await env.TOKEN_CACHE.put(key, live);
    // …and the job is not over until the resync has put the tombstone back.
    await waitOnExecutionContext(ctx);
    expect(JSON.parse((await env.TOKEN_CACHE.get(key))!)).toMatchObject({ state: 'revoked' });
  });

  // Last in this file: it runs the job 100 days in the future, which notes every older token of the file too.
  it('a token used again after its notice and then idle again is noted again', async () => {
    const { created } = await knownUserWithToken('member', { expires_in_days: 300 });
    await setTimes(created.id, { created: daysAgo(120), lastUsed: null });
    await runCron();
    expect(await notices([created.id], 'token.inactive')).toEqual([1]);
    await setTimes(created.id, { lastUsed: Date.now() + 1_000 });
    await runCron(Date.now() + 100 * DAY_MS);
    expect(await notices([created.id], 'token.inactive')).toEqual([2]);
  });
});

describe('notices follow the current expiry', () => {
  it('an expiry extended after its 7-day notice gets a new notice when it approaches again', async () => {
    const { user, created } = await knownUserWithToken('member', { expires_in_days: 5 });
    await runCron();
    expect(await notices([created.id], 'token.expiring_7d')).toEqual([1]);
    const extended = await patchJson(`/tokens/${created.id}`, user.jwt, { expires_in_days: 60 });
    expect(extended.status).toBe(200);
    await runCron(Date.now() + 55 * DAY_MS); // five days before the new expiry
    expect(await notices([created.id], 'token.expiring_7d')).toEqual([2]);
  });
});
