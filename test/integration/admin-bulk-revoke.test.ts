import { describe, expect, it } from 'vitest';
import { createToken, jwtFor } from '../helpers';
import {
  type AdminTokenBody,
  adminAudit,
  del,
  echo,
  knownUser,
  knownUserWithToken,
  serviceSetup,
} from './admin-support';
import {
  expectJson,
  expectProblem,
  getWith,
  kvKeyFor,
  postJson,
  type TokenBody,
  tokenRow,
  waitForKv,
} from './support';

// POST /admin/tokens/bulk-revoke and the admin aliases for single tokens (/admin/tokens/{id}/revoke|restore,
// DELETE /admin/tokens/{id}): any owner's tokens, audited, refused by the gateway on the next request.

interface BulkResult {
  revoked: string[];
  skipped: string[];
}

const bulk = (admin: { jwt: string }, ids: string[]) =>
  postJson('/admin/tokens/bulk-revoke', admin.jwt, { ids });

describe('POST /admin/tokens/bulk-revoke', () => {
  it('revokes live tokens across owners, skips revoked and unknown ids, and the gateway refuses them next', async () => {
    const { user, created: first } = await knownUserWithToken();
    const second = await createToken(user.jwt);
    const already = await createToken(user.jwt);
    await postJson(`/tokens/${already.id}/revoke`, user.jwt);
    const { created: service } = await serviceSetup();
    for (const t of [first, second, service]) {
      expect((await echo(t.token)).status).toBe(200);
      await waitForKv(await kvKeyFor(t.token)); // cached everywhere before the revocation
    }
    const admin = await knownUser('admin');
    const missing = 'tok_0000000000000000';
    const ids = [first.id, second.id, already.id, missing, first.id, service.id];
    const result = await expectJson<BulkResult>(await bulk(admin, ids), 200);
    expect([...result.revoked].sort()).toEqual([first.id, second.id, service.id].sort());
    expect([...result.skipped].sort()).toEqual([already.id, missing].sort());

    for (const t of [first, second, service]) await expectProblem(await echo(t.token), 401, 'invalid_token');
    expect(await tokenRow(first.id)).toMatchObject({ revoke_reason: 'admin' });
    expect(await tokenRow(already.id)).toMatchObject({ revoke_reason: 'user' });
  });

  it('writes one token.revoked event per revoked token, none for the skipped', async () => {
    const { user, created } = await knownUserWithToken();
    const already = await createToken(user.jwt);
    await postJson(`/tokens/${already.id}/revoke`, user.jwt);
    const admin = await knownUser('admin');
    await bulk(admin, [created.id, already.id]);

    const events = await adminAudit(admin, { actor_id: admin.id, action: 'token.revoked' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: { id: admin.id, kind: 'user' },
      target: { type: 'token', id: created.id },
      owner_id: user.id,
      detail: { reason: 'admin' },
    });
  });

  it('a second identical call revokes nothing', async () => {
    const { created } = await knownUserWithToken();
    const admin = await knownUser('admin');
    expect((await expectJson<BulkResult>(await bulk(admin, [created.id]), 200)).revoked).toEqual([
      created.id,
    ]);
    expect(await expectJson<BulkResult>(await bulk(admin, [created.id]), 200)).toEqual({
      revoked: [],
      skipped: [created.id],
    });
  });

  it('bulk-revoked personal tokens cannot be restored by their owner (only by an admin)', async () => {
    const { user, created } = await knownUserWithToken();
    const admin = await knownUser('admin');
    await bulk(admin, [created.id]);
    await expectProblem(await postJson(`/tokens/${created.id}/restore`, user.jwt), 403, 'not_permitted');
    expect((await postJson(`/tokens/${created.id}/restore`, admin.jwt)).status).toBe(200);
    expect((await echo(created.token)).status).toBe(200);
  });

  it("an admin's own tokens are revoked as the owner's: still restorable by them after a demotion", async () => {
    const { user: admin, created: own } = await knownUserWithToken('admin');
    const { created: theirs } = await knownUserWithToken();
    const result = await expectJson<BulkResult>(await bulk(admin, [own.id, theirs.id]), 200);
    expect([...result.revoked].sort()).toEqual([own.id, theirs.id].sort());
    expect(await tokenRow(own.id)).toMatchObject({ revoke_reason: 'user' });
    expect(await tokenRow(theirs.id)).toMatchObject({ revoke_reason: 'admin' });
    const events = await adminAudit(admin, { actor_id: admin.id, action: 'token.revoked' });
    expect(Object.fromEntries(events.map((e) => [e.target.id, e.detail?.reason]))).toEqual({
      [own.id]: 'user',
      [theirs.id]: 'admin',
    });
    const demoted = await jwtFor(admin.subject, {
      role: 'member',
      issuedAt: Math.floor(Date.now() / 1000) + 1,
    });
    expect((await postJson(`/tokens/${own.id}/restore`, demoted)).status).toBe(200);
    expect((await echo(own.token)).status).toBe(200);
  });

  it('422 for an empty list and for more than 400 ids (the per-call cap)', async () => {
    const admin = await knownUser('admin');
    expect((await bulk(admin, [])).status).toBe(422);
    const many = Array.from({ length: 401 }, (_, i) => `tok_${String(i).padStart(16, '0')}`);
    expect((await bulk(admin, many)).status).toBe(422);
  });
});

describe('admin aliases for one token', () => {
  it("revoke, restore and delete another user's token, answered with the owner attached", async () => {
    const { user, created } = await knownUserWithToken();
    const admin = await knownUser('admin');
    const revoked = await expectJson<AdminTokenBody>(
      await postJson(`/admin/tokens/${created.id}/revoke`, admin.jwt),
      200,
    );
    expect(revoked).toMatchObject({
      id: created.id,
      status: 'revoked',
      revoke_reason: 'admin',
      owner: { id: user.id },
    });
    await expectProblem(await echo(created.token), 401, 'invalid_token');

    const restored = await postJson(`/admin/tokens/${created.id}/restore`, admin.jwt);
    expect(await expectJson(restored, 200)).toMatchObject({ status: 'active', owner: { id: user.id } });
    expect((await echo(created.token)).status).toBe(200);

    expect((await del(`/admin/tokens/${created.id}`, admin.jwt)).status).toBe(204);
    expect(await tokenRow(created.id)).toBeNull();
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    await expectProblem(await getWith(`/tokens/${created.id}`, user.jwt), 404, 'not_found');
  });

  it('404 for an unknown id, 409 when already revoked', async () => {
    const { created } = await knownUserWithToken();
    const admin = await knownUser('admin');
    await expectProblem(
      await postJson('/admin/tokens/tok_0000000000000000/revoke', admin.jwt),
      404,
      'not_found',
    );
    await postJson(`/admin/tokens/${created.id}/revoke`, admin.jwt);
    await expectProblem(
      await postJson(`/admin/tokens/${created.id}/revoke`, admin.jwt),
      409,
      'already_revoked',
    );
  });

  it('another admin sees and manages a service token they did not create', async () => {
    const { created } = await serviceSetup();
    const other = await knownUser('admin');
    const seen = await expectJson<TokenBody>(await getWith(`/tokens/${created.id}`, other.jwt), 200);
    expect(seen).toMatchObject({ id: created.id, type: 'service' });
    expect(seen).not.toHaveProperty('token');
    expect((await postJson(`/tokens/${created.id}/revoke`, other.jwt)).status).toBe(200);
  });
});
