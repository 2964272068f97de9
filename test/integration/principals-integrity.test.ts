import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { call, createToken, dumpStorage, jwtFor, uniqueUser } from '../helpers';
import { adminAudit, knownUser, knownUserWithToken, SCIM_PATCH, scim } from './admin-support';
import { API, expectJson, expectProblem, getWith, patchJson, postJson } from './support';

// What users and admins type, and what identity providers send, is kept exactly, never holds a secret, and cannot
// undo a change made after it.

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const demote = (id: string) =>
  scim(`/Users/${id}`, {
    method: 'PATCH',
    json: { schemas: [SCIM_PATCH], Operations: [{ op: 'replace', path: 'roles', value: [] }] },
  });

afterEach(() => {
  vi.useRealTimers();
});

describe('a token pasted where it does not belong', () => {
  it('is refused in a description (422 contains_secret), and D1 and the admin inventory never hold it', async () => {
    const { user, created } = await knownUserWithToken();
    const admin = await knownUser('admin');
    const res = await patchJson(`/tokens/${created.id}`, user.jwt, {
      description: `CI key: ${created.token}`,
    });
    const problem = await expectProblem(res, 422, 'validation_failed');
    expect(problem.errors).toEqual([
      expect.objectContaining({ field: 'description', code: 'contains_secret' }),
    ]);
    expect(JSON.stringify(problem)).not.toContain(created.token);
    // A long identifier after an underscore is not a token: its checksum does not match.
    const sha = 'deploy_3f786850e387550fdab836ed7e6dc881de23001b';
    expect((await patchJson(`/tokens/${created.id}`, user.jwt, { description: sha })).status).toBe(200);
    const inventory = await getWith(`/admin/tokens?owner_id=${created.owner_id}`, admin.jwt);
    expect(await inventory.text()).not.toContain(created.token);
    expect(await dumpStorage()).not.toContain(created.token);
  });

  it('is refused in a token name and a service account name', async () => {
    const user = await knownUser();
    const first = await createToken(user.jwt);
    const res = await postJson('/tokens', user.jwt, { name: `copy of ${first.token}` });
    expect((await expectProblem(res, 422, 'validation_failed')).errors).toEqual([
      expect.objectContaining({ field: 'name', code: 'contains_secret' }),
    ]);
    const admin = await knownUser('admin');
    const account = await postJson('/admin/service-accounts', admin.jwt, {
      name: first.token,
      role: 'member',
    });
    await expectProblem(account, 422, 'validation_failed');
    expect(await dumpStorage()).not.toContain(first.token);
  });

  it('is not repeated in a 400 that names it as an unknown query field', async () => {
    const { user, created } = await knownUserWithToken();
    const res = await call(`${API}/tokens?${created.token}=1`, {
      headers: { Authorization: `Bearer ${user.jwt}` },
    });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text).toContain('unknown_field');
    expect(text).not.toContain(created.token);
  });
});

describe('names that look the same are one name', () => {
  it('invisible characters at either end are trimmed, inside they do not count; bidi controls are refused', async () => {
    const user = await knownUser();
    await createToken(user.jwt, { name: 'deploy' });
    await expectProblem(
      await postJson('/tokens', user.jwt, { name: '\u200Bdeploy\u2060' }),
      409,
      'name_taken',
    );
    await expectProblem(await postJson('/tokens', user.jwt, { name: 'de\u200Bploy' }), 409, 'name_taken');
    const rlo = await postJson('/tokens', user.jwt, { name: 'prod\u202Etxt.yek' });
    expect((await expectProblem(rlo, 422, 'validation_failed')).errors).toEqual([
      expect.objectContaining({ field: 'name', code: 'invalid_characters' }),
    ]);
    // Emoji keep their variation selector, and a right-to-left name its marks inside.
    const kept = await createToken(user.jwt, { name: 'ship it \u2764\uFE0F' });
    expect(kept.name).toBe('ship it \u2764\uFE0F');
    expect((await createToken(user.jwt, { name: 'שלום\u200Fעולם' })).name).toBe('שלום\u200Fעולם');
  });
});

describe('profiles from identity providers', () => {
  it('a display name longer than 200 is cut on a character boundary, never into U+FFFD', async () => {
    const subject = uniqueUser();
    const jwt = await jwtFor(subject, { role: 'member', name: `a${'😀'.repeat(250)}` });
    const me = await expectJson<{ name: string }>(await getWith('/currentuser', jwt), 200);
    expect([...me.name]).toHaveLength(200);
    expect(me.name).not.toContain('\uFFFD');
    const row = await env.DB.prepare('select name from principals where subject = ?')
      .bind(subject)
      .first<{ name: string }>();
    expect(row?.name).toBe(me.name);
  });

  it('a first sign-in whose JWT carries no name or e-mail keeps what SCIM provisioned', async () => {
    const subject = uniqueUser('profile');
    const res = await scim('/Users', {
      method: 'POST',
      json: {
        schemas: [USER_SCHEMA],
        userName: subject,
        displayName: 'Pat Provisioned',
        emails: [{ value: 'pat@example.test', primary: true }],
      },
    });
    expect(res.status).toBe(201);
    const me = await expectJson<{ name: string | null; email: string | null }>(
      await getWith('/currentuser', await jwtFor(subject, { role: 'member' })),
      200,
    );
    expect(me).toMatchObject({ name: 'Pat Provisioned', email: 'pat@example.test' });
    // A JWT that carries them replaces them.
    const named = await jwtFor(subject, { role: 'member', name: 'Pat', email: 'pat@corp.test' });
    expect(await expectJson(await getWith('/currentuser', named), 200)).toMatchObject({
      name: 'Pat',
      email: 'pat@corp.test',
    });
  });

  it('a subject that differs only in case from an existing user is refused (403 subject_conflict), not a second account', async () => {
    const subject = uniqueUser('dormant');
    const provisioned = await scim('/Users', {
      method: 'POST',
      json: { schemas: [USER_SCHEMA], userName: subject.toUpperCase(), active: false },
    });
    expect(provisioned.status).toBe(201);
    await expectProblem(
      await getWith('/currentuser', await jwtFor(subject, { role: 'member' })),
      403,
      'subject_conflict',
    );
    const list = await scim(`/Users?filter=${encodeURIComponent(`userName eq "${subject}"`)}`);
    expect(((await list.json()) as { totalResults: number }).totalResults).toBe(1);
    // The provisioned subject itself is the user: deactivated, as SCIM said.
    await expectProblem(
      await getWith('/currentuser', await jwtFor(subject.toUpperCase(), { role: 'member' })),
      403,
      'principal_inactive',
    );
  });
});

describe('a role change made by SCIM is not undone by a JWT issued before it', () => {
  it('even one dated ahead by an issuer whose clock runs fast (within the accepted skew)', async () => {
    const user = await knownUser('admin');
    const skewed = await jwtFor(user.subject, {
      role: 'admin',
      issuedAt: Math.floor(Date.now() / 1000) + 30,
    });
    expect((await demote(user.id)).status).toBe(200);
    await expectProblem(await getWith('/admin/users', skewed), 403, 'admin_required');
  });

  it('a JWT dated further ahead than the skew is refused outright', async () => {
    const user = await knownUser('admin');
    const future = await jwtFor(user.subject, {
      role: 'admin',
      issuedAt: Math.floor(Date.now() / 1000) + 3600,
    });
    await expectProblem(await getWith('/currentuser', future), 401, 'invalid_token');
  });

  it('a JWT issued once the skew has passed applies, as newer news', async () => {
    const user = await knownUser('admin');
    expect((await demote(user.id)).status).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    const later = await jwtFor(user.subject, { role: 'admin' });
    expect((await getWith('/admin/users', later)).status).toBe(200);
  });
});

describe('changes to a principal are audited with what changed', () => {
  it('a first sign-in records user.created, a role from a JWT claim user.role_changed (the user as actor)', async () => {
    const user = await knownUser('member');
    const promoted = await jwtFor(user.subject, { role: 'admin' });
    expect((await expectJson<{ role: string }>(await getWith('/currentuser', promoted), 200)).role).toBe(
      'admin',
    );
    const events = await adminAudit(await knownUser('admin'), { target_id: user.id });
    expect(events.map((e) => [e.action, e.detail])).toEqual([
      ['user.role_changed', { from: 'member', to: 'admin', via: 'jwt' }],
      ['user.created', { role: 'member', via: 'jwt' }],
    ]);
    expect(events.map((e) => e.actor.id)).toEqual([user.id, user.id]);
  });

  it("a service account's change records each field from and to; restating a value records nothing", async () => {
    const admin = await knownUser('admin');
    const account = await expectJson<{ id: string; name: string }>(
      await postJson('/admin/service-accounts', admin.jwt, { name: `svc ${uniqueUser()}`, role: 'admin' }),
      201,
    );
    await expectJson(
      await patchJson(`/admin/service-accounts/${account.id}`, admin.jwt, {
        role: 'member',
        name: account.name,
      }),
      200,
    );
    await expectJson(
      await patchJson(`/admin/service-accounts/${account.id}`, admin.jwt, { role: 'member' }),
      200,
    );
    const events = await adminAudit(admin, { target_id: account.id, action: 'service_account.updated' });
    expect(events.map((e) => e.detail)).toEqual([
      { changed: ['role'], role: { from: 'admin', to: 'member' } },
    ]);
  });
});
