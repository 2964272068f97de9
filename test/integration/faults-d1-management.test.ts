import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeUpstream } from '../gateway-support';
import { bearer, type CreatedTokenBody, call, createToken } from '../helpers';
import { type D1Fault, expectUnavailable, failD1, ownerState } from '../reliability-support';
import { type KnownUser, knownUser } from './admin-support';
import { API, patchJson, postJson } from './support';

// Management writes while D1 fails: a clear 503 `unavailable` with Retry-After, and nothing half done. Each change
// is one D1 batch (the row and its audit event), so after a failure either both landed or neither did — and when
// neither did, the caches were not touched either (a failed revoke must not stop a valid token).

afterEach(() => {
  vi.restoreAllMocks();
});

interface Fixture {
  user: KnownUser;
  active: CreatedTokenBody;
  revoked: CreatedTokenBody;
}

async function fixture(): Promise<Fixture> {
  const user = await knownUser();
  const active = await createToken(user.jwt);
  const revoked = await createToken(user.jwt);
  expect((await postJson(`/tokens/${revoked.id}/revoke`, user.jwt)).status).toBe(200);
  return { user, active, revoked };
}

const WRITES: [name: string, run: (f: Fixture) => Promise<Response>][] = [
  ['create', (f) => postJson('/tokens', f.user.jwt, { name: 'made during the outage' })],
  ['patch', (f) => patchJson(`/tokens/${f.active.id}`, f.user.jwt, { name: 'renamed', expires_in_days: 7 })],
  ['revoke', (f) => postJson(`/tokens/${f.active.id}/revoke`, f.user.jwt)],
  ['restore', (f) => postJson(`/tokens/${f.revoked.id}/restore`, f.user.jwt)],
  ['rotate', (f) => postJson(`/tokens/${f.active.id}/rotate`, f.user.jwt)],
  ['delete', (f) => call(`${API}/tokens/${f.active.id}`, { method: 'DELETE', headers: bearer(f.user.jwt) })],
];

const rpc = (token: string) => call('/svc/rpc', { headers: bearer(token) });

describe.each<D1Fault>(['down', 'writes'])('D1 %s: writes answer 503 and change nothing', (mode) => {
  it.each(WRITES)('%s', async (_name, run) => {
    const f = await fixture();
    const before = await ownerState(f.user.id);
    const d1 = failD1(mode);
    await expectUnavailable(await run(f));
    expect(d1.failures).toBeGreaterThan(0);
    vi.restoreAllMocks();
    expect(await ownerState(f.user.id)).toEqual(before);
    // Nor were the caches told about a change that did not happen: the tokens behave exactly as before.
    fakeUpstream();
    expect((await rpc(f.active.token)).status).toBe(200);
    expect((await rpc(f.revoked.token)).status).toBe(401);
  });
});

/**
 * The audit trail and the tokens agree: every token row has the event that made it, every revoked row the event
 * that revoked it, every deleted token its deletion event, and nothing else is recorded.
 */
async function expectConsistent(ownerId: string) {
  const { tokens, audit } = await ownerState(ownerId);
  const rows = new Map(tokens.map((t) => [t.id as string, t]));
  const events = audit.map((e) => ({
    action: e.action as string,
    target: e.target_id as string,
    detail: JSON.parse((e.detail as string | null) ?? '{}') as Record<string, unknown>,
  }));
  const has = (action: string, target: string) =>
    events.some((e) => e.action === action && e.target === target);
  for (const [id, row] of rows) {
    const born =
      has('token.created', id) ||
      events.some((e) => e.action === 'token.rotated' && e.detail.replaced_by === id);
    expect(born, `${id} has no creation event`).toBe(true);
    if (row.revoked_at !== null)
      expect(has('token.revoked', id) || has('token.rotated', id), `${id} revoked silently`).toBe(true);
    expect(has('token.deleted', id), `${id} is marked deleted but exists`).toBe(false);
  }
  for (const e of events.filter((e) => e.action === 'token.created' || e.action === 'token.rotated')) {
    const made = e.action === 'token.created' ? e.target : (e.detail.replaced_by as string);
    expect(rows.has(made) || has('token.deleted', made), `${made} has an event but no row`).toBe(true);
  }
  const renamed = events.filter((e) => e.action === 'token.updated').length;
  expect(tokens.filter((t) => t.name === 'renamed').length).toBeLessThanOrEqual(renamed);
}

describe('D1 commits but the answer is lost: the client sees 503, the row and its event agree', () => {
  it.each(WRITES)('%s', async (name, run) => {
    const f = await fixture();
    const before = await ownerState(f.user.id);
    failD1('commit-then-fail');
    await expectUnavailable(await run(f));
    vi.restoreAllMocks();
    const after = await ownerState(f.user.id);
    // The write really landed (so this test exercises the "answer lost" case), with its audit event (a rotation
    // has two: token.rotated, and token.created for the successor).
    expect(after.audit.length, name).toBe(before.audit.length + (name === 'rotate' ? 2 : 1));
    await expectConsistent(f.user.id);
  });

  it('a revoke whose answer was lost, retried, stops the token', async () => {
    const f = await fixture();
    fakeUpstream();
    expect((await rpc(f.active.token)).status).toBe(200);
    failD1('commit-then-fail');
    await expectUnavailable(await postJson(`/tokens/${f.active.id}/revoke`, f.user.jwt));
    vi.restoreAllMocks();
    expect((await postJson(`/tokens/${f.active.id}/revoke`, f.user.jwt)).status).toBe(409);
    fakeUpstream();
    expect((await rpc(f.active.token)).status).toBe(401);
  });
});

describe('admin writes', () => {
  it('deactivating a user while D1 is down answers 503 and leaves the user active', async () => {
    const admin = await knownUser('admin');
    const target = await knownUser();
    const before = await env.DB.prepare('select * from principals where id = ?').bind(target.id).first();
    failD1('writes');
    await expectUnavailable(await postJson(`/admin/users/${target.id}/deactivate`, admin.jwt));
    vi.restoreAllMocks();
    expect(await env.DB.prepare('select * from principals where id = ?').bind(target.id).first()).toEqual(
      before,
    );
  });

  it('bulk revocation while D1 rejects writes answers 503 and revokes nothing', async () => {
    const admin = await knownUser('admin');
    const f = await fixture();
    const before = await ownerState(f.user.id);
    failD1('writes');
    await expectUnavailable(await postJson('/admin/tokens/bulk-revoke', admin.jwt, { ids: [f.active.id] }));
    vi.restoreAllMocks();
    expect(await ownerState(f.user.id)).toEqual(before);
  });
});
