import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { generateToken } from '../../src/tokens/format';
import { createToken, dumpStorage } from '../helpers';
import {
  type AdminTokenBody,
  createServiceAccount,
  createServiceToken,
  echo,
  knownUser,
  knownUserWithToken,
} from './admin-support';
import {
  DAY_MS,
  expectJson,
  expectProblem,
  expireInD1,
  getWith,
  postJson,
  problemShape,
  utcDate,
} from './support';

// GET /admin/tokens (the inventory across owners, with filters and the owner attached, never a secret) and
// POST /admin/tokens/lookup (find a token by its value, which is hashed and never stored).

type Page = { data: AdminTokenBody[]; next_cursor: string | null };

async function inventory(admin: { jwt: string }, query: Record<string, string>): Promise<AdminTokenBody[]> {
  const res = await getWith(`/admin/tokens?${new URLSearchParams({ limit: '100', ...query })}`, admin.jwt);
  return (await expectJson<Page>(res, 200)).data;
}

const ids = (tokens: { id: string }[]) => tokens.map((t) => t.id).sort();

/** Two members and a service account, each with one token whose name carries `marker`. */
async function threeOwners() {
  const marker = `inv-${crypto.randomUUID()}`;
  const admin = await knownUser('admin');
  const a = await knownUserWithToken('member', { name: `${marker} a` });
  const b = await knownUserWithToken('member', { name: `${marker} b` });
  const account = await createServiceAccount(admin);
  const service = await createServiceToken(admin, account.id, { name: `${marker} svc` });
  return {
    marker,
    admin,
    a,
    b,
    account,
    service,
    secrets: [a.created.token, b.created.token, service.token],
  };
}

describe('GET /admin/tokens — the inventory across owners', () => {
  it('lists every owner’s tokens with an owner summary and never a secret', async () => {
    const { marker, admin, a, b, account, service, secrets } = await threeOwners();
    const res = await getWith(`/admin/tokens?q=${marker}`, admin.jwt);
    const text = await res.clone().text();
    const data = (await expectJson<Page>(res, 200)).data;
    expect(ids(data)).toEqual(ids([a.created, b.created, service]));
    const byId = new Map(data.map((t) => [t.id, t]));
    expect(byId.get(a.created.id)?.owner).toEqual({
      id: a.user.id,
      kind: 'user',
      name: `Name of ${a.user.subject}`,
      email: `${a.user.subject}@example.test`,
      subject: a.user.subject,
      active: true,
    });
    expect(byId.get(service.id)).toMatchObject({
      type: 'service',
      owner_id: account.id,
      owner: { id: account.id, kind: 'service_account', name: account.name, subject: null, active: true },
    });
    for (const secret of secrets) expect(text).not.toContain(secret);
    for (const token of data) expect(token).not.toHaveProperty('token');
    expect(text).not.toMatch(/secret_hash|secretHash/);
  });

  it('owner_id and type narrow it down', async () => {
    const { marker, admin, a, b, account, service } = await threeOwners();
    expect(ids(await inventory(admin, { owner_id: a.user.id }))).toEqual([a.created.id]);
    expect(ids(await inventory(admin, { owner_id: account.id }))).toEqual([service.id]);
    expect(ids(await inventory(admin, { q: marker, type: 'service' }))).toEqual([service.id]);
    expect(ids(await inventory(admin, { q: marker, type: 'personal' }))).toEqual(ids([a.created, b.created]));
    expect(await inventory(admin, { owner_id: a.user.id, type: 'service' })).toEqual([]);
  });

  it('status: active, revoked, expired', async () => {
    const { user, created: active } = await knownUserWithToken();
    const revoked = await createToken(user.jwt);
    const expired = await createToken(user.jwt);
    await postJson(`/tokens/${revoked.id}/revoke`, user.jwt);
    await expireInD1(expired.id);
    const admin = await knownUser('admin');
    for (const [status, token] of [
      ['active', active],
      ['revoked', revoked],
      ['expired', expired],
    ] as const) {
      const found = await inventory(admin, { owner_id: user.id, status });
      expect(ids(found), status).toEqual([token.id]);
      expect(found[0]?.status).toBe(status);
    }
  });

  it('expiring_before: only tokens expiring before that date, never the never-expiring', async () => {
    const { user, created: soon } = await knownUserWithToken('member', { expires_in_days: 5 });
    const later = await createToken(user.jwt, { expires_in_days: 60 });
    const admin = await knownUser('admin');
    expect(ids(await inventory(admin, { owner_id: user.id, expiring_before: utcDate(10) }))).toEqual([
      soon.id,
    ]);
    expect(ids(await inventory(admin, { owner_id: user.id, expiring_before: utcDate(90) }))).toEqual(
      ids([soon, later]),
    );
    await env.DB.prepare('update tokens set expires_at = null where id = ?').bind(later.id).run();
    expect(ids(await inventory(admin, { owner_id: user.id, expiring_before: utcDate(3000) }))).toEqual([
      soon.id,
    ]);
  });

  it('last_used_before: tokens last used (or never used) before that date', async () => {
    const { user, created: stale } = await knownUserWithToken();
    const fresh = await createToken(user.jwt);
    const never = await createToken(user.jwt);
    expect((await echo(fresh.token)).status).toBe(200);
    await env.DB.prepare('update tokens set last_used_at = ? where id = ?')
      .bind(Date.now() - 100 * DAY_MS, stale.id)
      .run();
    await env.DB.prepare('update tokens set last_used_at = ? where id = ?').bind(Date.now(), fresh.id).run();
    const admin = await knownUser('admin');
    const found = await inventory(admin, { owner_id: user.id, last_used_before: utcDate(-30) });
    expect(ids(found)).toEqual(ids([stale, never]));
  });

  it('400 for a date it cannot read; unknown query parameters are refused', async () => {
    const admin = await knownUser('admin');
    await expectProblem(
      await getWith('/admin/tokens?expiring_before=soon', admin.jwt),
      400,
      'invalid_parameters',
    );
    await expectProblem(await getWith('/admin/tokens?owner=x', admin.jwt), 400, 'invalid_parameters');
  });
});

describe('POST /admin/tokens/lookup — find a token by its value', () => {
  it('answers the token with its owner, even when revoked, and never stores the value', async () => {
    const { user, created } = await knownUserWithToken();
    const admin = await knownUser('admin');
    const res = await postJson('/admin/tokens/lookup', admin.jwt, { token: created.token });
    const text = await res.clone().text();
    const found = await expectJson<AdminTokenBody>(res, 200);
    expect(found).toMatchObject({ id: created.id, status: 'active', owner: { id: user.id, kind: 'user' } });
    expect(text).not.toContain(created.token);

    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    const again = await postJson('/admin/tokens/lookup', admin.jwt, { token: created.token });
    expect(await expectJson(again, 200)).toMatchObject({ id: created.id, status: 'revoked' });
    expect(await dumpStorage()).not.toContain(created.token);
  });

  it('404 for an unknown or malformed value, identical either way, and neither value is stored', async () => {
    const admin = await knownUser('admin');
    const unknown = generateToken('pat_');
    const a = await expectProblem(
      await postJson('/admin/tokens/lookup', admin.jwt, { token: unknown }),
      404,
      'not_found',
    );
    const b = await expectProblem(
      await postJson('/admin/tokens/lookup', admin.jwt, { token: 'not-a-token-at-all' }),
      404,
      'not_found',
    );
    expect(problemShape(a)).toEqual(problemShape(b));
    const storage = await dumpStorage();
    expect(storage).not.toContain(unknown);
    expect(storage).not.toContain('not-a-token-at-all');
  });

  it('422 without a token; a member gets 403 admin_required and learns nothing', async () => {
    const admin = await knownUser('admin');
    expect((await postJson('/admin/tokens/lookup', admin.jwt, {})).status).toBe(422);
    const { created } = await knownUserWithToken();
    const member = await knownUser('member');
    const res = await postJson('/admin/tokens/lookup', member.jwt, { token: created.token });
    const problem = await expectProblem(res, 403, 'admin_required');
    expect(JSON.stringify(problem)).not.toContain(created.id);
  });
});
