import { describe, expect, it } from 'vitest';
import { jwtFor } from '../helpers';
import {
  adminAudit,
  createServiceAccount,
  createServiceToken,
  echo,
  knownUser,
  type PrincipalBody,
} from './admin-support';
import {
  expectFieldError,
  expectJson,
  expectProblem,
  getWith,
  patchJson,
  postJson,
  type TokenPage,
} from './support';

// Service accounts (seed 004: created by admins, with name, description and role) and their tokens, and the
// admin's list of users.

type PrincipalPage = { data: PrincipalBody[]; next_cursor: string | null };

describe('service accounts', () => {
  it('create: 201 with Location, a service_account principal, member by default', async () => {
    const admin = await knownUser('admin');
    const name = `deploy bot ${crypto.randomUUID()}`;
    const res = await postJson('/admin/service-accounts', admin.jwt, { name, description: 'CI deploys' });
    const account = await expectJson<PrincipalBody>(res, 201);
    expect(account).toMatchObject({
      kind: 'service_account',
      name,
      description: 'CI deploys',
      role: 'member',
      active: true,
      subject: null,
      email: null,
    });
    expect(account.id).toMatch(/^svc_/);
    expect(res.headers.get('Location')).toBe(`/api/v1/admin/service-accounts/${account.id}`);
    expect(await expectJson(await getWith(`/admin/service-accounts/${account.id}`, admin.jwt), 200)).toEqual(
      account,
    );
  });

  it('list: service accounts only, searchable by name', async () => {
    const admin = await knownUser('admin');
    const marker = crypto.randomUUID();
    const one = await createServiceAccount(admin, { name: `${marker} one` });
    const two = await createServiceAccount(admin, { name: `${marker} two`, role: 'admin' });
    const page = await expectJson<PrincipalPage>(
      await getWith(`/admin/service-accounts?q=${marker}`, admin.jwt),
      200,
    );
    expect(page.data.map((p) => p.id).sort()).toEqual([one.id, two.id].sort());
    const all = await expectJson<PrincipalPage>(
      await getWith('/admin/service-accounts?limit=100', admin.jwt),
      200,
    );
    expect(all.data.every((p) => p.kind === 'service_account')).toBe(true);
  });

  it('409 name_taken for a duplicate name, case-insensitive', async () => {
    const admin = await knownUser('admin');
    const name = `Billing ${crypto.randomUUID()}`;
    await createServiceAccount(admin, { name });
    const res = await postJson('/admin/service-accounts', admin.jwt, { name: name.toUpperCase() });
    await expectProblem(res, 409, 'name_taken');
  });

  // SQLite's lower() and LIKE fold ASCII only; the keys are lower-cased in JavaScript (principalKeys).
  it('names and search fold case beyond ASCII: Équipe Иван is équipe иван', async () => {
    const admin = await knownUser('admin');
    const marker = crypto.randomUUID();
    const name = `Équipe Иван ${marker}`;
    const account = await createServiceAccount(admin, { name });
    const duplicate = await postJson('/admin/service-accounts', admin.jwt, { name: name.toLowerCase() });
    await expectProblem(duplicate, 409, 'name_taken');
    const other = await createServiceAccount(admin);
    const rename = await patchJson(`/admin/service-accounts/${other.id}`, admin.jwt, {
      name: name.toUpperCase(),
    });
    await expectProblem(rename, 409, 'name_taken');
    // Also typed decomposed (E + U+0301): searches are normalized as names are.
    for (const q of [
      `ÉQUIPE ИВАН ${marker.toUpperCase()}`,
      `équipe иван ${marker}`,
      `E\u0301quipe иван ${marker}`,
    ]) {
      const page = await getWith(`/admin/service-accounts?q=${encodeURIComponent(q)}`, admin.jwt);
      expect(
        (await expectJson<PrincipalPage>(page, 200)).data.map((p) => p.id),
        q,
      ).toEqual([account.id]);
    }
  });

  it('422 for a blank name, an unknown role and unknown fields', async () => {
    const admin = await knownUser('admin');
    await expectFieldError(await postJson('/admin/service-accounts', admin.jwt, { name: '   ' }), 'name');
    await expectFieldError(
      await postJson('/admin/service-accounts', admin.jwt, { name: 'x', role: 'owner' }),
      'role',
    );
    const extra = await postJson('/admin/service-accounts', admin.jwt, { name: 'y', kind: 'user' });
    expect(extra.status).toBe(422);
  });

  it('patch: name, description and role change, and the change is audited', async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    const name = `renamed ${crypto.randomUUID()}`;
    const res = await patchJson(`/admin/service-accounts/${account.id}`, admin.jwt, {
      name,
      description: 'now documented',
      role: 'admin',
    });
    expect(await expectJson(res, 200)).toMatchObject({
      id: account.id,
      name,
      description: 'now documented',
      role: 'admin',
    });
    expect(
      await expectJson(await getWith(`/admin/service-accounts/${account.id}`, admin.jwt), 200),
    ).toMatchObject({
      name,
      role: 'admin',
    });
    const [event, ...more] = await adminAudit(admin, {
      target_id: account.id,
      action: 'service_account.updated',
    });
    expect(more).toEqual([]);
    expect(event).toMatchObject({ actor: { id: admin.id } });
    expect([...((event?.detail?.changed as string[] | undefined) ?? [])].sort()).toEqual([
      'description',
      'name',
      'role',
    ]);
  });

  it('patch: 404 for an unknown id or a user, 422 for an invalid role', async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    await expectProblem(
      await patchJson('/admin/service-accounts/svc_0000000000000000', admin.jwt, { name: 'x' }),
      404,
      'not_found',
    );
    await expectProblem(
      await patchJson(`/admin/service-accounts/${admin.id}`, admin.jwt, { name: 'x' }),
      404,
      'not_found',
    );
    await expectFieldError(
      await patchJson(`/admin/service-accounts/${account.id}`, admin.jwt, { role: 'root' }),
      'role',
    );
    await expectProblem(await getWith(`/admin/service-accounts/${admin.id}`, admin.jwt), 404, 'not_found');
  });

  it('patch: 409 name_taken when renaming onto another account’s name', async () => {
    const admin = await knownUser('admin');
    const taken = await createServiceAccount(admin);
    const other = await createServiceAccount(admin);
    const res = await patchJson(`/admin/service-accounts/${other.id}`, admin.jwt, {
      name: taken.name!.toUpperCase(),
    });
    await expectProblem(res, 409, 'name_taken');
    // Its own name in another case is not a conflict.
    const self = await patchJson(`/admin/service-accounts/${other.id}`, admin.jwt, {
      name: other.name!.toUpperCase(),
    });
    expect(await expectJson(self, 200)).toMatchObject({ name: other.name!.toUpperCase() });
  });
});

describe('service tokens', () => {
  it('create and list: type service, owned by the account, working through the gateway', async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    const created = await createServiceToken(admin, account.id);
    expect(created).toMatchObject({ type: 'service', owner_id: account.id, scopes: ['read', 'write'] });
    expect(created.token).toMatch(/^pat_/);

    const page = await expectJson<TokenPage>(
      await getWith(`/admin/service-accounts/${account.id}/tokens`, admin.jwt),
      200,
    );
    expect(page.data.map((t) => t.id)).toEqual([created.id]);
    expect(JSON.stringify(page)).not.toContain(created.token);

    const res = await echo(created.token);
    expect(res.status).toBe(200);
    const headers = ((await res.json()) as { headers: Record<string, string> }).headers;
    expect(headers).toMatchObject({ 'x-pat-user-id': account.id, 'x-pat-token-type': 'service' });
  });

  it('the creating admin does not see service tokens in their own GET /tokens', async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    await createServiceToken(admin, account.id);
    expect((await expectJson<TokenPage>(await getWith('/tokens', admin.jwt), 200)).data).toEqual([]);
  });

  it('404 for tokens of an unknown account; 409 for a duplicate token name on one account', async () => {
    const admin = await knownUser('admin');
    await expectProblem(
      await getWith('/admin/service-accounts/svc_0000000000000000/tokens', admin.jwt),
      404,
      'not_found',
    );
    const account = await createServiceAccount(admin);
    await createServiceToken(admin, account.id, { name: 'deploy' });
    const again = await postJson(`/admin/service-accounts/${account.id}/tokens`, admin.jwt, {
      name: 'Deploy',
    });
    await expectProblem(again, 409, 'name_taken');
  });
});

describe('GET /admin/users', () => {
  it('finds a user by a name with non-ASCII capitals, in any case', async () => {
    const admin = await knownUser('admin');
    const marker = crypto.randomUUID().slice(0, 8);
    const jwt = await jwtFor(`elise-${marker}`, { name: `Élise Ødegård ${marker}` });
    const me = await expectJson<{ id: string }>(await getWith('/currentuser', jwt), 200);
    for (const q of [`Élise Ødegård ${marker}`, `élise ødegård`, `ÉLISE`]) {
      const page = await getWith(`/admin/users?q=${encodeURIComponent(q)}&limit=100`, admin.jwt);
      expect(
        (await expectJson<PrincipalPage>(page, 200)).data.map((p) => p.id),
        q,
      ).toContain(me.id);
    }
  });

  it('lists users (not service accounts), filterable by active', async () => {
    const admin = await knownUser('admin');
    const user = await knownUser();
    const found = await expectJson<PrincipalPage>(
      await getWith(`/admin/users?q=${user.subject}`, admin.jwt),
      200,
    );
    expect(found.data).toEqual([
      expect.objectContaining({ id: user.id, kind: 'user', role: 'member', active: true }),
    ]);

    await postJson(`/admin/users/${user.id}/deactivate`, admin.jwt);
    const inactive = await getWith(`/admin/users?q=${user.subject}&active=false`, admin.jwt);
    expect((await expectJson<PrincipalPage>(inactive, 200)).data.map((p) => p.id)).toEqual([user.id]);
    const active = await getWith(`/admin/users?q=${user.subject}&active=true`, admin.jwt);
    expect((await expectJson<PrincipalPage>(active, 200)).data).toEqual([]);
  });
});
