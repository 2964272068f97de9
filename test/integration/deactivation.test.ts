import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createToken } from '../helpers';
import { introspect } from '../reliability-support';
import {
  adminAudit,
  createServiceAccount,
  createServiceToken,
  echo,
  knownUser,
  knownUserWithToken,
  type PrincipalBody,
} from './admin-support';
import {
  currentUserWithPat,
  expectJson,
  expectProblem,
  expireInD1,
  getWith,
  kvKeyFor,
  postJson,
  type TokenBody,
  tokenRow,
  waitForKv,
} from './support';

// Deactivation (issue 4, deliver 3), checked through the gateway: a deactivated user's personal tokens stop on the
// very next request without being revoked, service tokens carry on, and reactivation brings back what was not
// revoked or expired meanwhile. SCIM deprovisioning is in scim.test.ts.

const deactivate = (admin: { jwt: string }, id: string) =>
  postJson(`/admin/users/${id}/deactivate`, admin.jwt);
const reactivate = (admin: { jwt: string }, id: string) =>
  postJson(`/admin/users/${id}/reactivate`, admin.jwt);

describe('POST /admin/users/{id}/deactivate', () => {
  it("stops the user's personal token on the very next gateway request, without revoking it", async () => {
    const { user, created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    await waitForKv(await kvKeyFor(created.token)); // cached in memory and KV

    const admin = await knownUser('admin');
    const body = await expectJson<PrincipalBody>(await deactivate(admin, user.id), 200);
    expect(body).toMatchObject({ id: user.id, kind: 'user', active: false });

    const refused = await echo(created.token);
    await expectProblem(refused, 401, 'invalid_token');
    await expectProblem(await echo(created.token, 'GET'), 401, 'invalid_token');
    await expectProblem(await currentUserWithPat(created.token), 401, 'invalid_token');
    // Not revoked: the token itself is untouched.
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null, revoke_reason: null });
  });

  it('an admin cannot deactivate themselves (nobody could then reactivate them), but another admin can', async () => {
    const admin = await knownUser('admin');
    await expectProblem(await deactivate(admin, admin.id), 409, 'cannot_deactivate_self');
    expect((await getWith('/currentuser', admin.jwt)).status).toBe(200);
    const other = await knownUser('admin');
    expect((await deactivate(other, admin.id)).status).toBe(200);
    expect((await reactivate(other, admin.id)).status).toBe(200);
  });

  it('a PAT of a user deactivated elsewhere is refused by the management API at once, cached record or not', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await currentUserWithPat(created.token)).status).toBe(200); // its record is cached here now
    // Deactivated in D1 by another isolate: nothing reached this isolate's cache.
    await env.DB.prepare('update principals set active = 0 where id = ?').bind(user.id).run();
    await expectProblem(await currentUserWithPat(created.token), 401, 'invalid_token');
  });

  it('introspection (RFC 7662) reports the token inactive while its owner is, active again after', async () => {
    const { user, created } = await knownUserWithToken();
    const admin = await knownUser('admin');
    expect(await introspect(created.token)).toMatchObject({ active: true, sub: user.id });
    await deactivate(admin, user.id);
    expect(await introspect(created.token)).toEqual({ active: false });
    await reactivate(admin, user.id);
    expect(await introspect(created.token)).toMatchObject({ active: true });
  });

  it('other locations learn it from KV: the cached record now says the owner is inactive', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    const key = await kvKeyFor(created.token);
    await waitForKv(key, (s) => (s.owner as { active: boolean }).active);
    await deactivate(await knownUser('admin'), user.id);
    const record = await env.TOKEN_CACHE.get<{ state: string; owner: { active: boolean } }>(key, 'json');
    expect(record).toMatchObject({ state: 'active', owner: { active: false } });
  });

  it('the deactivated user can no longer use the management API (403 principal_inactive)', async () => {
    const { user, created } = await knownUserWithToken();
    await deactivate(await knownUser('admin'), user.id);
    await expectProblem(await getWith('/tokens', user.jwt), 403, 'principal_inactive');
    await expectProblem(await postJson('/tokens', user.jwt, { name: 'new' }), 403, 'principal_inactive');
    await expectProblem(await postJson(`/tokens/${created.id}/revoke`, user.jwt), 403, 'principal_inactive');
  });

  it('service tokens created by the deactivated admin keep working; their personal token stops', async () => {
    const leaver = await knownUser('admin');
    const personal = await createToken(leaver.jwt);
    const account = await createServiceAccount(leaver);
    const service = await createServiceToken(leaver, account.id);
    expect((await echo(personal.token)).status).toBe(200);
    expect((await echo(service.token)).status).toBe(200);

    await deactivate(await knownUser('admin'), leaver.id);
    await expectProblem(await echo(personal.token), 401, 'invalid_token');
    const res = await echo(service.token);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { headers: Record<string, string> }).headers['x-pat-user-id']).toBe(
      account.id,
    );
  });

  it('is audited once (user.deactivated, via admin); a second call changes nothing', async () => {
    const { user } = await knownUserWithToken();
    const admin = await knownUser('admin');
    await deactivate(admin, user.id);
    expect((await deactivate(admin, user.id)).status).toBe(200);
    const events = await adminAudit(admin, { target_id: user.id, action: 'user.deactivated' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: { id: admin.id, kind: 'user' }, detail: { via: 'admin' } });
  });

  it('404 for an unknown id and for a service account (only users are deactivated)', async () => {
    const admin = await knownUser('admin');
    await expectProblem(await deactivate(admin, 'usr_0000000000000000'), 404, 'not_found');
    const account = await createServiceAccount(admin);
    await expectProblem(await deactivate(admin, account.id), 404, 'not_found');
  });
});

describe('POST /admin/users/{id}/reactivate', () => {
  it('brings the personal token back, but one revoked or expired meanwhile stays refused', async () => {
    const { user, created: kept } = await knownUserWithToken();
    const revoked = await createToken(user.jwt);
    const expired = await createToken(user.jwt);
    for (const t of [kept, revoked, expired]) expect((await echo(t.token)).status).toBe(200);

    const admin = await knownUser('admin');
    await deactivate(admin, user.id);
    // Meanwhile: an admin revokes one token, another one expires.
    expect((await postJson(`/tokens/${revoked.id}/revoke`, admin.jwt)).status).toBe(200);
    await expireInD1(expired.id);

    const body = await expectJson<PrincipalBody>(await reactivate(admin, user.id), 200);
    expect(body.active).toBe(true);
    expect((await echo(kept.token)).status).toBe(200);
    await expectProblem(await echo(revoked.token), 401, 'invalid_token');
    await expectProblem(await echo(expired.token), 401, 'invalid_token');

    // The user can manage again, and sees the revocation as an admin's.
    const mine = await expectJson<TokenBody>(await getWith(`/tokens/${revoked.id}`, user.jwt), 200);
    expect(mine).toMatchObject({ status: 'revoked', revoke_reason: 'admin' });
    const events = await adminAudit(admin, { target_id: user.id, action: 'user.reactivated' });
    expect(events).toHaveLength(1);
  });

  it('a token created before deactivation that was never used works after reactivation', async () => {
    const { user, created } = await knownUserWithToken();
    const admin = await knownUser('admin');
    await deactivate(admin, user.id);
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    await reactivate(admin, user.id);
    expect((await echo(created.token)).status).toBe(200);
  });
});

describe('a cache fill that raced the change', () => {
  // A verification in another isolate that read D1 just before the change can write its (old) record to KV just
  // after the change's own KV write. Token changes repair this with a second write ~1.5 s later (src/tokens/access.ts
  // publish()); the same race applies to an owner's deactivation. Each test first waits out the follow-up write
  // of the token's creation, so only the change under test can repair KV.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 1_800));

  it('control: a stale record written just after a revoke is overwritten again within seconds', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    const key = await kvKeyFor(created.token);
    const stale = await waitForKv(key, (s) => s.state === 'active');
    await settle();
    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    await env.TOKEN_CACHE.put(key, JSON.stringify(stale));
    await waitForKv(key, (s) => s.state === 'revoked', 5_000);
    await expectProblem(await echo(created.token), 401, 'invalid_token');
  }, 15_000);

  it('a stale "owner active" record written just after a deactivation is overwritten again within seconds', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    const key = await kvKeyFor(created.token);
    const stale = await waitForKv(key, (s) => (s.owner as { active: boolean }).active);
    await settle();
    expect((await deactivate(await knownUser('admin'), user.id)).status).toBe(200);
    await env.TOKEN_CACHE.put(key, JSON.stringify(stale));
    await waitForKv(key, (s) => !(s.owner as { active: boolean }).active, 5_000);
    await expectProblem(await echo(created.token), 401, 'invalid_token');
  }, 15_000);
});
