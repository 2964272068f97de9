import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeUpstream } from '../gateway-support';
import { bearer, call, createToken, jwtFor, uniqueUser } from '../helpers';
import {
  adminAudit,
  createServiceAccount,
  createServiceToken,
  echo,
  knownUser,
  knownUserWithToken,
  SCIM_PATCH,
  scim,
  scimActive,
  scimJson,
} from './admin-support';
import { expectJson, expectProblem, getWith, postJson } from './support';

// The SCIM 2.0 subset (RFC 7644) an identity provider uses to deprovision users: list with `userName eq`, get,
// PATCH `active`. Deprovisioning stops the user's personal tokens through the gateway, exactly like the admin API.

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

interface ScimUser {
  schemas: string[];
  id: string;
  userName: string;
  active: boolean;
  roles: { value: string }[];
  emails?: { value: string }[];
  meta: { resourceType: string; location: string };
}
interface ScimList {
  schemas: string[];
  totalResults: number;
  Resources: ScimUser[];
}

async function scimError(res: Response, status: number, scimType?: string) {
  const body = await scimJson<{ schemas: string[]; status: string; scimType?: string }>(res, status);
  expect(body).toMatchObject({ schemas: [ERROR_SCHEMA], status: String(status) });
  if (scimType) expect(body.scimType).toBe(scimType);
}

afterEach(() => {
  vi.useRealTimers();
});

/** Moves this worker's clock past the skew a role set by SCIM is dated ahead by, so a JWT issued now is newer. */
function afterTheSkew() {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + 61_000);
}

const byUserName = (name: string) => scim(`/Users?filter=${encodeURIComponent(`userName eq "${name}"`)}`);

describe('SCIM authentication', () => {
  it('401 without a bearer and with a wrong one, and nothing changes', async () => {
    const { user, created } = await knownUserWithToken();
    for (const token of [null, 'wrong-scim-bearer-0123456789abcdef0123456789', '']) {
      const res = scim(`/Users/${user.id}`, { method: 'PATCH', json: scimActive(false), token });
      const answered = await res;
      expect(answered.headers.get('WWW-Authenticate')).toMatch(/^Bearer /);
      await scimError(answered, 401);
    }
    await scimError(await scim('/Users', { token: null }), 401);
    expect((await echo(created.token)).status).toBe(200);
  });

  it('a management JWT is not a SCIM credential', async () => {
    const admin = await knownUser('admin');
    await scimError(await scim('/Users', { token: admin.jwt }), 401);
  });
});

describe('GET /scim/v2/Users', () => {
  it('finds a user by userName (the identity provider subject)', async () => {
    const user = await knownUser();
    const list = await scimJson<ScimList>(await byUserName(user.subject), 200);
    expect(list.totalResults).toBe(1);
    expect(list.Resources[0]).toMatchObject({
      schemas: [USER_SCHEMA],
      id: user.id,
      userName: user.subject,
      active: true,
      emails: [{ value: `${user.subject}@example.test` }],
      meta: {
        resourceType: 'User',
        location: expect.stringMatching(new RegExp(`/scim/v2/Users/${user.id}$`)),
      },
    });
    expect((await scimJson<ScimList>(await byUserName(`${user.subject}-nobody`), 200)).totalResults).toBe(0);
    // userName is not case-exact (RFC 7643 §4.1.1).
    const upper = await scimJson<ScimList>(await byUserName(user.subject.toUpperCase()), 200);
    expect(upper.Resources.map((r) => r.id)).toEqual([user.id]);
  });

  it('pages with startIndex and count, totalResults counting every user', async () => {
    await knownUser();
    await knownUser();
    const all = await scimJson<ScimList & { itemsPerPage: number; startIndex: number }>(
      await scim('/Users?count=200'),
      200,
    );
    expect(all.totalResults).toBeGreaterThanOrEqual(2);
    const ids = all.Resources.map((r) => r.id);
    const second = await scimJson<ScimList & { itemsPerPage: number; startIndex: number }>(
      await scim('/Users?startIndex=2&count=1'),
      200,
    );
    expect(second).toMatchObject({ totalResults: all.totalResults, startIndex: 2, itemsPerPage: 1 });
    expect(second.Resources.map((r) => r.id)).toEqual([ids[1]]);
    const none = await scimJson<ScimList>(await scim('/Users?count=0'), 200);
    expect(none).toMatchObject({ totalResults: all.totalResults, Resources: [] });
    const beyond = await scimJson<ScimList>(await scim('/Users?startIndex=99999999999999999999'), 200);
    expect(beyond).toMatchObject({ totalResults: all.totalResults, Resources: [] });
  });

  it('lists users only, never service accounts', async () => {
    const admin = await knownUser('admin');
    await createServiceAccount(admin);
    const list = await scimJson<ScimList>(await scim('/Users?count=200'), 200);
    expect(list.Resources.length).toBeGreaterThan(0);
    expect(list.Resources.every((r) => r.id.startsWith('usr_'))).toBe(true);
  });

  it('400 invalidFilter for filters outside the subset', async () => {
    for (const filter of [
      'emails eq "a@example.test"',
      'userName co "a"',
      'userName eq "a" or userName eq "b"',
    ]) {
      await scimError(await scim(`/Users?filter=${encodeURIComponent(filter)}`), 400, 'invalidFilter');
    }
  });

  it('GET /Users/{id}: the user; 404 for an unknown id and for a service account', async () => {
    const user = await knownUser();
    expect(await scimJson<ScimUser>(await scim(`/Users/${user.id}`), 200)).toMatchObject({ id: user.id });
    await scimError(await scim('/Users/usr_0000000000000000'), 404);
    const account = await createServiceAccount(await knownUser('admin'));
    await scimError(await scim(`/Users/${account.id}`), 404);
  });
});

describe('PATCH /scim/v2/Users/{id} — deprovisioning', () => {
  it('active=false (path form) stops the personal token at once; active=true brings it back', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);

    const off = await scimJson<ScimUser>(
      await scim(`/Users/${user.id}`, { method: 'PATCH', json: scimActive(false) }),
      200,
    );
    expect(off.active).toBe(false);
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    await expectProblem(await getWith('/tokens', user.jwt), 403, 'principal_inactive');
    expect((await scimJson<ScimList>(await byUserName(user.subject), 200)).Resources[0]?.active).toBe(false);

    const on = await scimJson<ScimUser>(
      await scim(`/Users/${user.id}`, { method: 'PATCH', json: scimActive(true) }),
      200,
    );
    expect(on.active).toBe(true);
    expect((await echo(created.token)).status).toBe(200);

    const admin = await knownUser('admin');
    const events = await adminAudit(admin, { target_id: user.id });
    expect(events.map((e) => [e.action, e.detail?.via])).toEqual([
      ['user.reactivated', 'scim'],
      ['user.deactivated', 'scim'],
      ['user.created', 'jwt'],
    ]);
  });

  it('the {op: replace, value: {active: false}} form deprovisions too', async () => {
    const { user, created } = await knownUserWithToken();
    const res = await scim(`/Users/${user.id}`, { method: 'PATCH', json: scimActive(false, 'value') });
    expect((await scimJson<ScimUser>(res, 200)).active).toBe(false);
    await expectProblem(await echo(created.token), 401, 'invalid_token');
  });

  it('accepts what some providers send: "Replace" and the string "False", with application/json', async () => {
    const { user, created } = await knownUserWithToken();
    const json = { schemas: [SCIM_PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] };
    const res = await scim(`/Users/${user.id}`, { method: 'PATCH', json, contentType: 'application/json' });
    expect((await scimJson<ScimUser>(res, 200)).active).toBe(false);
    await expectProblem(await echo(created.token), 401, 'invalid_token');
  });

  it("a deprovisioned admin's service tokens keep working", async () => {
    const leaver = await knownUser('admin');
    const personal = await createToken(leaver.jwt);
    const service = await createServiceToken(leaver, (await createServiceAccount(leaver)).id);
    await scim(`/Users/${leaver.id}`, { method: 'PATCH', json: scimActive(false) });
    await expectProblem(await echo(personal.token), 401, 'invalid_token');
    expect((await echo(service.token)).status).toBe(200);
  });

  it('400 for operations outside the subset, and the user stays active', async () => {
    const { user, created } = await knownUserWithToken();
    const bodies = [
      { schemas: [SCIM_PATCH], Operations: [{ op: 'remove', path: 'active' }] },
      { schemas: [SCIM_PATCH], Operations: [{ op: 'replace', path: 'favoriteColor', value: 'red' }] },
      // A misspelt attribute is an error, not a silent no-op (and an active beside it is not applied either).
      { schemas: [SCIM_PATCH], Operations: [{ op: 'replace', value: { actve: false } }] },
      {
        schemas: [SCIM_PATCH],
        Operations: [{ op: 'replace', value: { active: false, favoriteColor: 'red' } }],
      },
      {
        schemas: [SCIM_PATCH],
        Operations: [{ op: 'replace', path: 'roles[type eq "work"].value', value: 'x' }],
      },
      { schemas: [SCIM_PATCH], Operations: [{ op: 'replace', value: [false] }] },
      { schemas: [SCIM_PATCH], Operations: [{ op: 'replace', path: 'active', value: 'maybe' }] },
      { schemas: [SCIM_PATCH], Operations: [] },
      { Operations: [{ op: 'replace', path: 'active', value: false }] },
      // Wrong JSON types anywhere: still a SCIM 400, never a 500.
      { schemas: [SCIM_PATCH], Operations: [{ op: 'replace', path: 5, value: false }] },
      { schemas: { includes: 1 }, Operations: [] },
      { schemas: SCIM_PATCH, Operations: [{ op: 'replace', path: 'active', value: false }] },
      { schemas: [SCIM_PATCH], Operations: [{ op: 7, path: 'active', value: false }] },
      { schemas: [SCIM_PATCH], Operations: [null] },
      { schemas: [SCIM_PATCH], Operations: { op: 'replace', path: 'active', value: false } },
      { schemas: [SCIM_PATCH], Operations: [{ op: 'replace', value: 'false' }] },
      [SCIM_PATCH],
      null,
    ];
    for (const json of bodies) {
      await scimError(await scim(`/Users/${user.id}`, { method: 'PATCH', json }), 400, 'invalidValue');
    }
    await scimError(
      await scim(`/Users/${user.id}`, { method: 'PATCH', raw: '{not json' }),
      400,
      'invalidSyntax',
    );
    expect((await echo(created.token)).status).toBe(200);
  });

  it('an update as Entra ID sends it (profile attributes with active) applies active and ignores the rest', async () => {
    const { user, created } = await knownUserWithToken();
    const json = {
      schemas: [SCIM_PATCH],
      Operations: [
        { op: 'Replace', path: 'displayName', value: 'Someone Else' },
        { op: 'Replace', path: 'name.givenName', value: 'Some' },
        { op: 'Add', path: 'emails[type eq "work"].value', value: 'else@example.test' },
        { op: 'Replace', path: 'externalId', value: 'ext-1' },
        {
          op: 'Replace',
          path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager',
          value: 'm',
        },
        { op: 'Add', path: 'urn:example:custom:2.0:User:costCenter', value: '42' },
        { op: 'Replace', path: 'userName', value: user.subject.toUpperCase() },
        { op: 'Replace', value: { active: 'False', title: 'Engineer', name: { familyName: 'Else' } } },
      ],
    };
    const res = await scim(`/Users/${user.id}`, { method: 'PATCH', json });
    const body = await scimJson<ScimUser & { displayName?: string }>(res, 200);
    // Deprovisioned; the profile is still the one the user's JWTs gave.
    expect(body).toMatchObject({
      active: false,
      userName: user.subject,
      emails: [{ value: `${user.subject}@example.test` }],
    });
    await expectProblem(await echo(created.token), 401, 'invalid_token');
  });

  it('400 mutability for a userName that is not the user’s, in either PatchOp form, and nothing changes', async () => {
    const { user, created } = await knownUserWithToken();
    for (const op of [
      { op: 'replace', path: 'userName', value: 'mallory' },
      { op: 'replace', value: { userName: 'mallory', active: true } },
      // A deactivation with a new userName applies (scim-interop.test.ts), but not beside a promotion.
      { op: 'replace', value: { userName: 'mallory', active: false, roles: [{ value: 'admin' }] } },
    ])
      await scimError(
        await scim(`/Users/${user.id}`, {
          method: 'PATCH',
          json: { schemas: [SCIM_PATCH], Operations: [op] },
        }),
        400,
        'mutability',
      );
    expect((await echo(created.token)).status).toBe(200);
  });

  it("400 for an active value named like an object's own properties, and a deprovisioned user stays so", async () => {
    const { user, created } = await knownUserWithToken();
    expect((await scim(`/Users/${user.id}`, { method: 'PATCH', json: scimActive(false) })).status).toBe(200);
    for (const value of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      const json = { schemas: [SCIM_PATCH], Operations: [{ op: 'replace', path: 'active', value }] };
      await scimError(await scim(`/Users/${user.id}`, { method: 'PATCH', json }), 400, 'invalidValue');
    }
    await expectProblem(await echo(created.token), 401, 'invalid_token');
  });

  it("the user's own audit shows the deprovisioning, but not the identity provider's address", async () => {
    const user = await knownUser();
    const provider = { 'cf-connecting-ip': '192.0.2.44', 'User-Agent': 'Okta SCIM Client 1.0' };
    for (const active of [false, true])
      expect(
        (await scim(`/Users/${user.id}`, { method: 'PATCH', json: scimActive(active), headers: provider }))
          .status,
      ).toBe(200);
    const res = await getWith('/audit?limit=100', user.jwt);
    const events = (await res.json()) as {
      data: { action: string; ip: string | null; user_agent: string | null }[];
    };
    const mine = events.data.filter(
      (e) => e.action === 'user.deactivated' || e.action === 'user.reactivated',
    );
    expect(mine.map((e) => [e.action, e.ip, e.user_agent])).toEqual([
      ['user.reactivated', null, null],
      ['user.deactivated', null, null],
    ]);
  });

  it('415 for a body that is not SCIM JSON; 404 for an unknown user', async () => {
    const user = await knownUser();
    const res = await scim(`/Users/${user.id}`, {
      method: 'PATCH',
      json: scimActive(false),
      contentType: 'text/plain',
    });
    await scimError(res, 415);
    expect((await scimJson<ScimUser>(await scim(`/Users/${user.id}`), 200)).active).toBe(true);
    await scimError(
      await scim('/Users/usr_0000000000000000', { method: 'PATCH', json: scimActive(false) }),
      404,
    );
  });
});

// Roles (RFC 7643 §4.1.2): a value in AUTH_ADMIN_VALUES (here `admin`) makes an admin, as in the JWT's role claim.
// Without this, a demotion in the identity provider reached the gateway only with the user's next management call,
// and a user who never made one kept admin scopes on their tokens.
describe('SCIM roles', () => {
  const adminOnly = (token: string) => call('/admin-only/x', { headers: bearer(token) });
  const rolesOp = (op: string, path: string | undefined, value?: unknown) => ({
    schemas: [SCIM_PATCH],
    Operations: [{ op, ...(path === undefined ? {} : { path }), ...(value === undefined ? {} : { value }) }],
  });
  const patch = (id: string, json: unknown) => scim(`/Users/${id}`, { method: 'PATCH', json });
  const roleOf = async (id: string) =>
    (await scimJson<ScimUser>(await scim(`/Users/${id}`), 200)).roles.map((r) => r.value);
  const adminWithToken = () => knownUserWithToken('admin', { scopes: ['admin', 'read', 'write'] });

  it('replacing the roles with a member value demotes at once: tokens lose admin, the older admin JWT too', async () => {
    fakeUpstream();
    const { user, created } = await adminWithToken();
    expect((await adminOnly(created.token)).status).toBe(200);
    expect(await roleOf(user.id)).toEqual(['admin']);

    const res = await patch(user.id, rolesOp('replace', 'roles', [{ value: 'member' }]));
    expect((await scimJson<ScimUser>(res, 200)).roles).toEqual([]);
    const refused = await expectProblem(await adminOnly(created.token), 403, 'insufficient_scope');
    expect(refused.required_scopes).toEqual(['admin']);
    expect((await echo(created.token)).status).toBe(200);

    // The admin JWT the user holds was issued before the change: it does not set the role back.
    await expectProblem(await getWith('/admin/users', user.jwt), 403, 'admin_required');
    expect((await expectJson<{ role: string }>(await getWith('/currentuser', user.jwt), 200)).role).toBe(
      'member',
    );
    await expectProblem(await adminOnly(created.token), 403, 'insufficient_scope');
    // A JWT issued after it (and after the clock skew the gateway allows an issuer) is newer news, and applies.
    afterTheSkew();
    const later = await jwtFor(user.subject, { role: 'admin' });
    expect((await getWith('/admin/users', later)).status).toBe(200);

    const admin = await knownUser('admin');
    const events = await adminAudit(admin, { target_id: user.id, action: 'user.role_changed' });
    expect(events.map((e) => e.detail)).toEqual([
      { from: 'member', to: 'admin', via: 'jwt' },
      { from: 'admin', to: 'member', via: 'scim' },
    ]);
  });

  it('a role stated that equals the stored one still outranks an older JWT', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    // The stored claims come from a JWT of 100 s ago; an admin JWT of 50 s ago has not been used yet.
    const subject = uniqueUser();
    const first = await jwtFor(subject, { role: 'member', issuedAt: nowS - 100 });
    const user = {
      subject,
      ...(await expectJson<{ id: string }>(await getWith('/currentuser', first), 200)),
    };
    const olderAdmin = await jwtFor(user.subject, { role: 'admin', issuedAt: nowS - 50 });
    const res = await patch(user.id, rolesOp('replace', 'roles', []));
    expect((await scimJson<ScimUser>(res, 200)).roles).toEqual([]);
    await expectProblem(await getWith('/admin/users', olderAdmin), 403, 'admin_required');
    expect((await expectJson<{ role: string }>(await getWith('/currentuser', olderAdmin), 200)).role).toBe(
      'member',
    );
    // Nothing changed, so nothing is audited.
    const events = await adminAudit(await knownUser('admin'), {
      target_id: user.id,
      action: 'user.role_changed',
    });
    expect(events).toEqual([]);
  });

  it('adding an admin value promotes a member; adding another value changes nothing', async () => {
    const user = await knownUser('member');
    expect((await patch(user.id, rolesOp('add', 'roles', [{ value: 'auditor' }]))).status).toBe(200);
    expect(await roleOf(user.id)).toEqual([]);
    expect((await patch(user.id, rolesOp('Add', 'roles', [{ value: 'admin' }]))).status).toBe(200);
    expect(await roleOf(user.id)).toEqual(['admin']);
    expect((await getWith('/admin/users', user.jwt)).status).toBe(200);
  });

  it('every remove form of an admin value demotes; removing another value does not', async () => {
    const forms = [
      rolesOp('remove', 'roles'),
      rolesOp('remove', 'roles', [{ value: 'admin' }]),
      rolesOp('Remove', 'roles[value eq "admin"]'),
      rolesOp('replace', undefined, { roles: [] }),
      rolesOp('replace', 'roles', []),
    ];
    for (const json of forms) {
      const user = await knownUser('admin');
      expect((await patch(user.id, rolesOp('remove', 'roles[value eq "auditor"]'))).status).toBe(200);
      expect((await patch(user.id, rolesOp('remove', 'roles', ['auditor']))).status).toBe(200);
      expect((await patch(user.id, rolesOp('remove', 'roles', []))).status).toBe(200);
      expect(await roleOf(user.id)).toEqual(['admin']);
      expect((await patch(user.id, json)).status, JSON.stringify(json)).toBe(200);
      expect(await roleOf(user.id), JSON.stringify(json)).toEqual([]);
    }
  });

  it('Entra ID\'s single app role (roles[primary eq "True"].value) sets, replaces and removes the role', async () => {
    const primary = 'roles[primary eq "True"].value';
    const user = await knownUser('member');
    expect((await patch(user.id, rolesOp('Add', primary, 'admin'))).status).toBe(200);
    expect(await roleOf(user.id)).toEqual(['admin']);
    expect((await getWith('/admin/users', user.jwt)).status).toBe(200);
    // The one role is replaced, so another value demotes (unlike adding a value to a list).
    expect((await patch(user.id, rolesOp('Replace', primary, 'Reader'))).status).toBe(200);
    expect(await roleOf(user.id)).toEqual([]);
    expect(
      (await patch(user.id, rolesOp('replace', 'roles[primary eq true].value', [{ value: 'admin' }]))).status,
    ).toBe(200);
    expect(await roleOf(user.id)).toEqual(['admin']);
    expect((await patch(user.id, rolesOp('Remove', primary))).status).toBe(200);
    expect(await roleOf(user.id)).toEqual([]);
    const events = await adminAudit(await knownUser('admin'), {
      target_id: user.id,
      action: 'user.role_changed',
    });
    expect(events.map((e) => e.detail?.to)).toEqual(['member', 'admin', 'member', 'admin']);
  });

  it('active and roles in one operation: both apply, each audited', async () => {
    const { user, created } = await adminWithToken();
    const res = await patch(user.id, rolesOp('replace', undefined, { active: false, roles: [] }));
    expect(await scimJson<ScimUser>(res, 200)).toMatchObject({ active: false, roles: [] });
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    const events = await adminAudit(await knownUser('admin'), { target_id: user.id });
    expect(events.map((e) => e.action).sort()).toEqual([
      'user.created',
      'user.deactivated',
      'user.role_changed',
    ]);
  });

  it('400 for roles this subset cannot read, and the role stays', async () => {
    const { user, created } = await adminWithToken();
    const bodies = [
      rolesOp('replace', 'roles', 5),
      rolesOp('replace', 'roles', [{}]),
      rolesOp('replace', 'roles', [{ value: 3 }]),
      rolesOp('replace', 'roles', [null]),
      rolesOp('add', 'roles'),
      rolesOp('replace', 'roles[value eq "admin"]'),
      rolesOp('remove', 'roles[value eq "admin"]', [{ value: 'admin' }]),
      rolesOp('replace', 'roles.value', 'member'),
      rolesOp('replace', 'roles[primary eq "True"].value', 5),
      rolesOp('replace', 'roles[primary eq "True"].value', ['member', 'reader']),
      rolesOp('add', 'roles[primary eq "True"].value'),
      rolesOp('replace', 'roles[primary eq "False"].value', 'member'),
      rolesOp('replace', undefined, { roles: { display: 'member' }, active: true }),
      rolesOp('replace', undefined, { roles: [{ value: 'member' }], active: 'maybe' }),
      rolesOp('remove', undefined, { roles: [] }),
      // A valid operation does not carry an invalid one through.
      {
        schemas: [SCIM_PATCH],
        Operations: [
          { op: 'replace', path: 'roles', value: [] },
          { op: 'replace', path: 'id', value: 'usr_other' },
        ],
      },
    ];
    for (const json of bodies) await scimError(await patch(user.id, json), 400, 'invalidValue');
    expect(await roleOf(user.id)).toEqual(['admin']);
    expect((await adminOnly(created.token)).status).toBe(200);
  });
});

describe('PUT /scim/v2/Users/{id}', () => {
  const put = (id: string, json: unknown, init: { contentType?: string } = {}) =>
    scim(`/Users/${id}`, { method: 'PUT', json, ...init });
  const resource = (userName: string, extra: Record<string, unknown> = {}) => ({
    schemas: [USER_SCHEMA],
    userName,
    name: { givenName: 'Any', familyName: 'Thing' },
    emails: [{ value: 'ignored@example.test', primary: true }],
    ...extra,
  });

  it('active: false deprovisions (as Okta sends it), true brings the token back; absent roles keep the role', async () => {
    const { user, created } = await knownUserWithToken('admin');
    const off = await scimJson<ScimUser>(await put(user.id, resource(user.subject, { active: false })), 200);
    expect(off).toMatchObject({ active: false, roles: [{ value: 'admin' }], userName: user.subject });
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    const on = await scimJson<ScimUser>(await put(user.id, resource(user.subject, { active: 'True' })), 200);
    expect(on.active).toBe(true);
    expect((await echo(created.token)).status).toBe(200);
  });

  it('roles in a PUT replace the role; userName may differ in case only', async () => {
    const user = await knownUser('admin');
    const res = await put(user.id, resource(user.subject.toUpperCase(), { roles: [{ value: 'member' }] }));
    expect((await scimJson<ScimUser>(res, 200)).roles).toEqual([]);
    await expectProblem(await getWith('/admin/users', user.jwt), 403, 'admin_required');
  });

  it('400 for a renamed userName, a missing schema or bad values; 404 and 415 as for PATCH; nothing changes', async () => {
    const { user, created } = await knownUserWithToken('admin');
    await scimError(await put(user.id, resource('someone-else', { active: true })), 400, 'mutability');
    await scimError(await put(user.id, resource('someone-else')), 400, 'mutability');
    for (const json of [
      { userName: user.subject, active: false },
      resource(user.subject, { active: 'maybe' }),
      resource(user.subject, { roles: [{ value: 1 }], active: false }),
      { schemas: [USER_SCHEMA], active: false },
      [resource(user.subject)],
    ])
      await scimError(await put(user.id, json), 400, 'invalidValue');
    await scimError(await put('usr_0000000000000000', resource(user.subject, { active: false })), 404);
    await scimError(
      await put(user.id, resource(user.subject, { active: false }), { contentType: 'text/plain' }),
      415,
    );
    expect(await scimJson<ScimUser>(await scim(`/Users/${user.id}`), 200)).toMatchObject({
      active: true,
      roles: [{ value: 'admin' }],
    });
    expect((await echo(created.token)).status).toBe(200);
  });
});

describe('POST /scim/v2/Users (provisioning before the first sign-in)', () => {
  const post = (json: unknown, contentType?: string) =>
    scim('/Users', { method: 'POST', json, ...(contentType ? { contentType } : {}) });
  const resource = (userName: string, extra: Record<string, unknown> = {}) => ({
    schemas: [USER_SCHEMA],
    userName,
    displayName: 'Pat Provisioned',
    emails: [
      { value: 'other@example.test', primary: false },
      { value: 'pat@example.test', primary: true },
    ],
    ...extra,
  });

  it('creates the user their first JWT then finds, with the role and profile the provider sent', async () => {
    const subject = uniqueUser('provisioned');
    const res = await post(resource(subject, { roles: [{ value: 'admin' }] }));
    const created = await scimJson<ScimUser & { displayName: string }>(res, 201);
    expect(created).toMatchObject({
      userName: subject,
      active: true,
      roles: [{ value: 'admin' }],
      displayName: 'Pat Provisioned',
      emails: [{ value: 'pat@example.test', primary: true }],
    });
    expect(res.headers.get('Location')).toBe(created.meta.location);
    expect((await scimJson<ScimList>(await byUserName(subject), 200)).Resources.map((r) => r.id)).toEqual([
      created.id,
    ]);
    // The first sign-in: the same principal, not a second one. Its JWT, issued before the provisioning, keeps the
    // provider's role; one issued later brings its own.
    const nowS = Math.floor(Date.now() / 1000);
    const early = await jwtFor(subject, { role: 'member', issuedAt: nowS - 30 });
    expect(
      await expectJson<{ id: string; role: string }>(await getWith('/currentuser', early), 200),
    ).toMatchObject({
      id: created.id,
      role: 'admin',
    });
    afterTheSkew();
    const later = await jwtFor(subject, { role: 'member' });
    expect((await expectJson<{ role: string }>(await getWith('/currentuser', later), 200)).role).toBe(
      'member',
    );
    const events = await adminAudit(await knownUser('admin'), {
      target_id: created.id,
      action: 'user.provisioned',
    });
    expect(events.map((e) => e.detail)).toEqual([{ role: 'admin', active: true, via: 'scim' }]);
  });

  it('provisioned inactive: the first sign-in is refused; without roles the user is a member', async () => {
    const subject = uniqueUser('dormant');
    const created = await scimJson<ScimUser>(
      await post({ schemas: [USER_SCHEMA], userName: subject, active: false }),
      201,
    );
    expect(created).toMatchObject({ active: false, roles: [] });
    await expectProblem(await getWith('/currentuser', await jwtFor(subject)), 403, 'principal_inactive');
  });

  it('409 uniqueness for a userName that exists in any case, and nothing is created', async () => {
    const user = await knownUser();
    await scimError(await post(resource(user.subject.toUpperCase())), 409, 'uniqueness');
    expect((await scimJson<ScimList>(await byUserName(user.subject), 200)).totalResults).toBe(1);
  });

  it('400 for a missing or malformed userName and bad values, 415 for a body that is not JSON', async () => {
    const subject = uniqueUser('bad');
    for (const json of [
      { schemas: [USER_SCHEMA] },
      { userName: subject },
      resource(''),
      resource(` ${subject}`),
      resource(`${subject}\n`),
      resource('x'.repeat(256)),
      resource(subject, { active: 'maybe' }),
      resource(subject, { roles: [{ value: 7 }] }),
      [resource(subject)],
    ])
      await scimError(await post(json), 400, 'invalidValue');
    await scimError(await post(resource(subject), 'text/plain'), 415);
    expect((await scimJson<ScimList>(await byUserName(subject), 200)).totalResults).toBe(0);
  });
});

describe('DELETE /scim/v2/Users/{id} (the provider removed the user for good)', () => {
  const remove = (id: string) => scim(`/Users/${id}`, { method: 'DELETE' });

  it('204: the personal tokens stop and are revoked for good, and the user is gone for every SCIM operation', async () => {
    const { user, created } = await knownUserWithToken();
    const second = await createToken(user.jwt);
    const res = await remove(user.id);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    await expectProblem(await echo(second.token), 401, 'invalid_token');
    // A JWT issued before the deletion gets no account back, nor one issued after it (the provider would not).
    await expectProblem(await getWith('/currentuser', user.jwt), 403, 'principal_inactive');
    const promoted = await jwtFor(user.subject, { role: 'admin', name: 'Renamed' });
    await expectProblem(await getWith('/currentuser', promoted), 403, 'principal_inactive');

    await scimError(await scim(`/Users/${user.id}`), 404);
    await scimError(await scim(`/Users/${user.id}`, { method: 'PATCH', json: scimActive(true) }), 404);
    await scimError(
      await scim(`/Users/${user.id}`, {
        method: 'PUT',
        json: { schemas: [USER_SCHEMA], userName: user.subject, active: true },
      }),
      404,
    );
    await scimError(await remove(user.id), 404);
    expect((await scimJson<ScimList>(await byUserName(user.subject), 200)).totalResults).toBe(0);

    const admin = await knownUser('admin');
    const inventory = await expectJson<{ data: { id: string; status: string; revoke_reason: string }[] }>(
      await getWith(`/admin/tokens?owner_id=${user.id}`, admin.jwt),
      200,
    );
    expect(inventory.data.map((t) => [t.status, t.revoke_reason])).toEqual([
      ['revoked', 'deprovisioned'],
      ['revoked', 'deprovisioned'],
    ]);
    await expectProblem(
      await postJson(`/admin/tokens/${created.id}/restore`, admin.jwt),
      409,
      'not_restorable',
    );
    await expectProblem(await postJson(`/admin/users/${user.id}/reactivate`, admin.jwt), 409, 'user_deleted');
    const users = await expectJson<{ data: { id: string; active: boolean; deleted_at: string | null }[] }>(
      await getWith(`/admin/users?limit=100&q=${encodeURIComponent(user.subject)}`, admin.jwt),
      200,
    );
    expect(users.data.find((u) => u.id === user.id)).toMatchObject({
      active: false,
      deleted_at: expect.any(String),
    });

    // Compared as a set: events in the same millisecond have no defined order.
    // The JWT after the deletion changed nothing: no role change, no event.
    const events = await adminAudit(admin, { target_id: user.id });
    expect(events.map((e) => `${e.action} ${e.detail?.via}`).sort()).toEqual([
      'user.created jwt',
      'user.deactivated scim',
      'user.deleted scim',
    ]);
    const revoked = await adminAudit(admin, { target_id: created.id, action: 'token.revoked' });
    expect(revoked.map((e) => e.detail)).toEqual([{ reason: 'deprovisioned' }]);
  });

  it("the user's service accounts' tokens carry on", async () => {
    const leaver = await knownUser('admin');
    const service = await createServiceToken(leaver, (await createServiceAccount(leaver)).id);
    expect((await remove(leaver.id)).status).toBe(204);
    expect((await echo(service.token)).status).toBe(200);
  });

  it('provisioning the same userName again brings the user back, without their old tokens', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await remove(user.id)).status).toBe(204);
    const res = await scim('/Users', {
      method: 'POST',
      json: { schemas: [USER_SCHEMA], userName: user.subject, roles: [{ value: 'member' }] },
    });
    const back = await scimJson<ScimUser>(res, 201);
    expect(back).toMatchObject({ id: user.id, userName: user.subject, active: true });
    expect((await scim(`/Users/${user.id}`)).status).toBe(200);
    // A JWT issued after the provisioning signs in; the old token stays revoked.
    afterTheSkew();
    const jwt = await jwtFor(user.subject, { role: 'member' });
    expect((await getWith('/currentuser', jwt)).status).toBe(200);
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    // Provisioned again while present: a conflict, as for any existing user.
    await scimError(
      await scim('/Users', { method: 'POST', json: { schemas: [USER_SCHEMA], userName: user.subject } }),
      409,
      'uniqueness',
    );
    const events = await adminAudit(await knownUser('admin'), {
      target_id: user.id,
      action: 'user.provisioned',
    });
    expect(events.map((e) => e.detail)).toEqual([{ role: 'member', active: true, via: 'scim', again: true }]);
  });

  it('404 for an unknown id and for a service account', async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    await scimError(await remove('usr_doesnotexist0000'), 404);
    await scimError(await remove(account.id), 404);
    await scimError(await scim('/Users/x', { method: 'DELETE', token: null }), 401);
  });
});
