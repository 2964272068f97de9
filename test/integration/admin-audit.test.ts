import { describe, expect, it } from 'vitest';
import { createToken } from '../helpers';
import {
  adminAudit,
  createServiceAccount,
  createServiceToken,
  del,
  knownUser,
  knownUserWithToken,
} from './admin-support';
import { expectProblem, getWith, patchJson, postJson } from './support';

// GET /admin/audit: the whole audit log for admins, filterable by actor, target, action and time range; every
// admin action is in it.

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('every admin action is in the audit log', () => {
  it('service accounts, service tokens, revoke/restore/delete of any token, bulk revoke, (de)activation', async () => {
    const admin = await knownUser('admin');
    const { user, created } = await knownUserWithToken();
    const second = await createToken(user.jwt);
    const third = await createToken(user.jwt);

    const account = await createServiceAccount(admin);
    expect(
      (await patchJson(`/admin/service-accounts/${account.id}`, admin.jwt, { description: 'x' })).status,
    ).toBe(200);
    const service = await createServiceToken(admin, account.id);
    expect((await postJson(`/tokens/${created.id}/revoke`, admin.jwt)).status).toBe(200);
    expect((await postJson(`/tokens/${created.id}/restore`, admin.jwt)).status).toBe(200);
    expect((await postJson(`/admin/tokens/${second.id}/revoke`, admin.jwt)).status).toBe(200);
    expect((await postJson(`/admin/tokens/${second.id}/restore`, admin.jwt)).status).toBe(200);
    expect((await postJson('/admin/tokens/bulk-revoke', admin.jwt, { ids: [third.id] })).status).toBe(200);
    expect((await del(`/admin/tokens/${third.id}`, admin.jwt)).status).toBe(204);
    expect((await postJson(`/admin/users/${user.id}/deactivate`, admin.jwt)).status).toBe(200);
    expect((await postJson(`/admin/users/${user.id}/reactivate`, admin.jwt)).status).toBe(200);
    expect((await patchJson(`/tokens/${service.id}`, admin.jwt, { name: 'renamed' })).status).toBe(200);
    const rotated = await postJson(`/tokens/${service.id}/rotate`, admin.jwt);
    expect(rotated.status).toBe(201);
    const successor = ((await rotated.json()) as { id: string }).id;

    const events = await adminAudit(admin, { actor_id: admin.id });
    // Compared as a set: two events in the same millisecond have no defined order.
    const trail = events.map((e) => `${e.action} ${e.target.id}`).sort();
    const expected = [
      ['user.created', admin.id],
      ['service_account.created', account.id],
      ['service_account.updated', account.id],
      ['token.created', service.id],
      ['token.revoked', created.id],
      ['token.restored', created.id],
      ['token.revoked', second.id],
      ['token.restored', second.id],
      ['token.revoked', third.id],
      ['token.deleted', third.id],
      ['user.deactivated', user.id],
      ['user.reactivated', user.id],
      ['token.updated', service.id],
      ['token.rotated', service.id],
      ['token.created', successor],
    ];
    expect(trail).toEqual(expected.map(([action, id]) => `${action} ${id}`).sort());
    for (const event of events)
      expect(event.actor).toMatchObject({ id: admin.id, kind: 'user', token_id: null });
  });
});

describe('filters', () => {
  it('target_id and action', async () => {
    const admin = await knownUser('admin');
    const { user, created } = await knownUserWithToken();
    await postJson(`/tokens/${created.id}/revoke`, admin.jwt);
    await postJson(`/tokens/${created.id}/restore`, user.jwt).then((r) => expect(r.status).toBe(403));
    await postJson(`/tokens/${created.id}/restore`, admin.jwt);

    const all = await adminAudit(admin, { target_id: created.id });
    expect(all.map((e) => e.action)).toEqual(['token.restored', 'token.revoked', 'token.created']);
    expect(all.find((e) => e.action === 'token.created')?.actor.id).toBe(user.id);

    const revoked = await adminAudit(admin, { target_id: created.id, action: 'token.revoked' });
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatchObject({
      actor: { id: admin.id },
      owner_id: user.id,
      detail: { reason: 'admin' },
    });
  });

  it('actor_id: only what that principal did', async () => {
    const admin = await knownUser('admin');
    const other = await knownUser('admin');
    const account = await createServiceAccount(admin);
    await createServiceAccount(other);
    const mine = await adminAudit(admin, { actor_id: admin.id });
    // The service account, and the admin's own first call (user.created).
    expect(mine.map((e) => e.target.id)).toEqual([account.id, admin.id]);
  });

  it('since (inclusive) and until (exclusive) bound the time range', async () => {
    const admin = await knownUser('admin');
    const { created } = await knownUserWithToken();
    await postJson(`/tokens/${created.id}/revoke`, admin.jwt);
    await pause(20);
    const middle = new Date().toISOString();
    await pause(20);
    await postJson(`/tokens/${created.id}/restore`, admin.jwt);

    const after = await adminAudit(admin, { target_id: created.id, since: middle });
    expect(after.map((e) => e.action)).toEqual(['token.restored']);
    const before = await adminAudit(admin, { target_id: created.id, until: middle });
    expect(before.map((e) => e.action)).toEqual(['token.revoked', 'token.created']);
    expect(await adminAudit(admin, { target_id: created.id, since: middle, until: middle })).toEqual([]);
  });

  it('400 for a date it cannot read and for unknown filters', async () => {
    const admin = await knownUser('admin');
    await expectProblem(await getWith('/admin/audit?since=yesterday', admin.jwt), 400, 'invalid_parameters');
    await expectProblem(await getWith('/admin/audit?actor=x', admin.jwt), 400, 'invalid_parameters');
  });

  it('never contains a token secret', async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    const service = await createServiceToken(admin, account.id);
    const rotated = await postJson(`/tokens/${service.id}/rotate`, admin.jwt);
    const secret = ((await rotated.json()) as { token: string }).token;
    const text = await (await getWith(`/admin/audit?actor_id=${admin.id}&limit=100`, admin.jwt)).text();
    expect(text).not.toContain(service.token);
    expect(text).not.toContain(secret);
  });
});
