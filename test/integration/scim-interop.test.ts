import { describe, expect, it } from 'vitest';
import { uniqueUser } from '../helpers';
import { echo, knownUser, knownUserWithToken, SCIM_PATCH, scim, scimActive, scimJson } from './admin-support';
import { expectProblem } from './support';

// Requests shaped exactly as Okta and Microsoft Entra ID document sending them, each one an interoperability defect
// of the SCIM subset (src/scim/routes.ts) that these tests show. Every test cites the provider's documentation.

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const CORE_USER = `${USER_SCHEMA}:`;

interface ScimUser {
  id: string;
  userName: string;
  active: boolean;
  roles: { value: string }[];
  name?: { givenName?: string; familyName?: string; formatted?: string };
}
interface ScimList {
  schemas: string[];
  totalResults: number;
  Resources: unknown[];
}
interface ScimErrorBody {
  schemas: string[];
  status: string;
  scimType?: string;
  detail: string;
}

const patch = (id: string, Operations: unknown[]) =>
  scim(`/Users/${id}`, { method: 'PATCH', json: { schemas: [SCIM_PATCH], Operations } });
const filtered = (filter: string) => scim(`/Users?filter=${encodeURIComponent(filter)}`);
const idsOf = async (res: Response) =>
  (await scimJson<ScimList>(res, 200)).Resources.map((r) => (r as ScimUser).id);
const roleOf = async (id: string) =>
  (await scimJson<ScimUser>(await scim(`/Users/${id}`), 200)).roles.map((r) => r.value);

describe('Microsoft Entra ID', () => {
  // https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes#provisioning-a-role-to-a-scim-app
  // (AppRoleAssignmentsComplex and SingleAppRoleAssignment, "Example output (PATCH)"): the role reaches a PATCH as
  // `roles` items whose `value` is the JSON-encoded app role, unlike the POST, which sends plain {value: "Admin"}.
  it('AppRoleAssignmentsComplex: an Add of roles whose value is the JSON-encoded app role promotes', async () => {
    const user = await knownUser('member');
    const res = await patch(user.id, [
      {
        op: 'Add',
        path: 'roles',
        value: [
          { value: '{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"admin","displayName":"Admin"}' },
        ],
      },
    ]);
    expect((await scimJson<ScimUser>(res, 200)).roles).toEqual([{ value: 'admin' }]);
    expect(await roleOf(user.id)).toEqual(['admin']);
  });

  // RFC 7644 §3.10: an attribute may be named by its full URN (`urn:ietf:params:scim:schemas:core:2.0:User:active`);
  // providers, Entra ID among them (https://github.com/rancher/rancher/pull/54896), send PATCH paths that way.
  // The subset treats every `urn:` path as an ignorable extension attribute: the deprovisioning answers 200 and
  // does nothing.
  it('a fully qualified core path (urn:…:core:2.0:User:active / :roles) deprovisions and demotes, never a silent 200', async () => {
    const notApplied: string[] = [];
    for (const [label, operation] of [
      ['path', { op: 'Replace', path: `${CORE_USER}active`, value: false }],
      ['value key', { op: 'replace', value: { [`${CORE_USER}active`]: false } }],
    ] as const) {
      const { user, created } = await knownUserWithToken();
      const status = (await patch(user.id, [operation])).status;
      if ((await echo(created.token)).status === 200)
        notApplied.push(`active (${label}): ${status}, still active`);
    }
    const admin = await knownUser('admin');
    const status = (await patch(admin.id, [{ op: 'Replace', path: `${CORE_USER}roles`, value: [] }])).status;
    if ((await roleOf(admin.id)).includes('admin')) notApplied.push(`roles (path): ${status}, still admin`);
    expect(notApplied).toEqual([]);
  });

  // Entra ID sends a changed UPN as `Replace userName` (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups#update-user-single-valued-properties)
  // in the same PatchOp as the other changed attributes (…/application-provisioning-config-problem-scim-compatibility
  // "Requests to replace multiple attributes"). A soft-deleted Entra user's UPN is renamed to <objectId hex><UPN>
  // and arrives together with active=False (https://github.com/onyx-dot-app/onyx/pull/14074). The whole PatchOp is
  // refused (400 mutability), so the user keeps working, and every later PATCH for them fails the same way.
  it('a deactivation that arrives with a changed userName (soft-deleted Entra user) still deprovisions', async () => {
    const { user, created } = await knownUserWithToken();
    const res = await patch(user.id, [
      { op: 'Replace', path: 'userName', value: `283405f5c2a44e6c9b0d7a1e2f3b4c5d${user.subject}` },
      { op: 'Replace', path: 'active', value: 'False' },
    ]);
    expect(res.status, await res.text()).toBe(200);
    await expectProblem(await echo(created.token), 401, 'invalid_token');
  });

  // https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes#provisioning-a-role-to-a-scim-app
  // (SingleAppRoleAssignment): "There are three role attributes to choose from (roles[primary eq "True"].display,
  // roles[primary eq "True"].type, and roles[primary eq "True"].value). You can choose to include any or all".
  // `.value` is read; `.display` / `.type` beside it make the whole update a 400.
  it('SingleAppRoleAssignment mapped to roles[primary eq "True"].value and .display applies the role', async () => {
    const user = await knownUser('member');
    const res = await patch(user.id, [
      { op: 'Add', path: 'roles[primary eq "True"].value', value: 'admin' },
      { op: 'Add', path: 'roles[primary eq "True"].display', value: 'Admin' },
      { op: 'Add', path: 'roles[primary eq "True"].type', value: 'WindowsAzureActiveDirectoryRole' },
    ]);
    expect(res.status, await res.text()).toBe(200);
    expect(await roleOf(user.id)).toEqual(['admin']);
  });
});

describe('Groups and discovery (not implemented): how the answer lets providers degrade', () => {
  // Entra ID: "Microsoft Entra ID makes requests to fetch a random user and group to ensure that the endpoint and the
  // credentials are valid. It's also done as a part of the Test Connection flow." and groups are queried as
  // GET /Groups?excludedAttributes=members&filter=displayName eq "…"
  // (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups#get-group-by-displayname).
  // Okta imports groups with GET /Groups?startIndex=1&count=100 (https://developer.okta.com/docs/reference/scim/scim-20/#retrieve-groups)
  // and its spec test ("Optional Test: Verify Groups endpoint") expects 200, totalResults 0 meaning "No Groups found".
  // A server without groups has none: an empty ListResponse, as for a user query that matches nobody.
  it('GET /Groups queries answer an empty ListResponse, not 404', async () => {
    for (const query of [
      `?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "0f1b6a3c-5d1e-4a8e-9c1d-2b7f3e4a5c6d"')}`,
      '?startIndex=1&count=100',
      '',
    ]) {
      const list = await scimJson<ScimList>(await scim(`/Groups${query}`), 200);
      expect(list, query).toMatchObject({ schemas: [LIST_SCHEMA], totalResults: 0, Resources: [] });
    }
  });

  // RFC 7644 §4; Entra ID lists "Support the /Schemas endpoint" among what "your application must support"
  // (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups#understand-the-microsoft-entra-scim-implementation);
  // Okta's SCIM 2.0 spec test checks GET /ServiceProviderConfig (patch, filter, authenticationSchemes…),
  // /ResourceTypes and /Schemas (ListResponses with Resources).
  it('GET /ServiceProviderConfig, /ResourceTypes and /Schemas describe the subset', async () => {
    const config = await scimJson<Record<string, unknown>>(await scim('/ServiceProviderConfig'), 200);
    expect(config).toMatchObject({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
      patch: { supported: true },
      filter: { supported: true },
      bulk: { supported: false },
      authenticationSchemes: [expect.objectContaining({ type: 'oauthbearertoken' })],
    });
    for (const path of ['/ResourceTypes', '/Schemas']) {
      const list = await scimJson<ScimList>(await scim(path), 200);
      expect(list.schemas, path).toEqual([LIST_SCHEMA]);
      expect(list.Resources.length, path).toBeGreaterThan(0);
    }
  });

  // RFC 7644 §4: each ResourceType and Schema is also read alone, by id, at its `meta.location`.
  it('each resource type and schema answers at its meta.location; an unknown id is a 404 SCIM error', async () => {
    for (const path of ['/ResourceTypes', '/Schemas']) {
      const list = await scimJson<ScimList>(await scim(path), 200);
      for (const resource of list.Resources as { id: string; meta: { location: string } }[]) {
        const location = new URL(resource.meta.location);
        expect(location.pathname, path).toBe(`/scim/v2${path}/${resource.id}`);
        const alone = await scimJson<Record<string, unknown>>(await scim(`${path}/${resource.id}`), 200);
        expect(alone, path).toEqual(resource);
      }
      const unknown = await scimJson<ScimErrorBody>(await scim(`${path}/Group`), 404);
      expect(unknown, path).toMatchObject({ schemas: [ERROR_SCHEMA], status: '404' });
    }
    const posted = await scim(`/Schemas/${USER_SCHEMA}`, { method: 'POST', json: {} });
    expect(posted.headers.get('Allow')).toBe('GET, HEAD');
    await scimJson<ScimErrorBody>(posted, 405);
  });
});

describe('Lookups before a create: the matching attributes providers filter on', () => {
  // Entra ID tries its matching attributes in turn, e.g. `userName eq` then `externalId eq`, and POSTs the user only
  // when every filtered GET found nobody (Microsoft's answer at
  // https://docs.microsoft.com/en-us/answers/questions/552440/how-can-we-customize-scim-query-filter-in-azure.html).
  // The gateway keeps no externalId: nobody has one, so the list is empty and the provider goes on to its POST; a 400
  // stopped every create.
  it('externalId eq "…" is an empty ListResponse, not a 400', async () => {
    const user = await knownUser();
    for (const filter of [
      'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"',
      `externalId eq "${user.subject}"`,
      `${CORE_USER}externalId eq "${user.id}"`,
    ]) {
      const list = await scimJson<ScimList>(await filtered(filter), 200);
      expect(list, filter).toMatchObject({ schemas: [LIST_SCHEMA], totalResults: 0, Resources: [] });
    }
  });

  // Entra ID may match on `emails[type eq "work"].value` (mapped from `mail`) before it creates a user (a SCIM
  // vendor's list of Entra's calls: https://docs.delinea.com/online-help/delinea-platform/identity-providers/entra-id/entra-id-scim-provisioning-scim-endpoints.htm);
  // `emails.value eq` is the same lookup without the type. The e-mail kept is not an identity (the latest JWT's
  // claim, maybe unverified, maybe shared): a match would let the provider deactivate or promote the wrong account.
  // Nobody matches, and the provider goes on to its POST.
  it('emails[type eq "work"].value eq and emails.value eq are an empty ListResponse, even for an address kept', async () => {
    const user = await knownUser();
    const email = `${user.subject}@example.test`;
    // The address is kept (it is in the user's resource), and still not matched.
    const resource = await scimJson<ScimUser>(await scim(`/Users/${user.id}`), 200);
    expect(JSON.stringify(resource)).toContain(email);
    for (const filter of [
      `emails[type eq "work"].value eq "${email}"`,
      `emails.value eq "${email.toUpperCase()}"`,
      `emails[value eq "${email}"]`,
      `${CORE_USER}emails[type eq "work"].value eq "${email}"`,
    ]) {
      const list = await scimJson<ScimList>(await filtered(filter), 200);
      expect(list, filter).toMatchObject({ schemas: [LIST_SCHEMA], totalResults: 0, Resources: [] });
    }
    expect(await idsOf(await filtered(`userName eq "${user.subject}"`))).toEqual([user.id]);

    // Another type, or another operator, is still not a filter this subset evaluates: 400 invalidFilter.
    for (const filter of [
      `emails[type eq "home"].value eq "${email}"`,
      `emails.value co "${user.subject}"`,
    ]) {
      const body = await scimJson<ScimErrorBody>(await filtered(filter), 400);
      expect(body, filter).toMatchObject({
        schemas: [ERROR_SCHEMA],
        status: '400',
        scimType: 'invalidFilter',
      });
      expect(body.detail).toContain('`filter`');
    }
  });
});

describe('Filter values', () => {
  // RFC 7644 §3.4.2.2: a filter's value is a JSON string, so a quote or a backslash in a userName arrives escaped.
  it('a userName with a quote and a backslash is found by its escaped value; a bad escape is a 400', async () => {
    const subject = `${uniqueUser('quote')}-o"b\\c`;
    const created = await scimJson<ScimUser>(
      await scim('/Users', { method: 'POST', json: { schemas: [USER_SCHEMA], userName: subject } }),
      201,
    );
    const escaped = JSON.stringify(subject);
    expect(await idsOf(await filtered(`userName eq ${escaped}`))).toEqual([created.id]);
    expect(await idsOf(await filtered(`userName eq ${escaped.toUpperCase()}`))).toEqual([created.id]);
    for (const filter of ['userName eq "a\\q"', 'userName eq "a\\"', 'userName eq "a" or userName eq "b"']) {
      const body = await scimJson<ScimErrorBody>(await filtered(filter), 400);
      expect(body, filter).toMatchObject({ status: '400', scimType: 'invalidFilter' });
    }
  });
});

describe('Methods and URLs outside the subset', () => {
  // RFC 9110 §15.5.6: a method the target does not support is a 405 with `Allow`; a 404 said the endpoint does not
  // exist, which sends a provider's administrator looking for a wrong base URL. The body is SCIM's error (RFC 7644
  // §3.12), as for every SCIM error.
  it('a method an endpoint does not support is a 405 SCIM error with Allow', async () => {
    const user = await knownUser();
    for (const [method, path, allow] of [
      ['POST', '/ServiceProviderConfig', 'GET, HEAD'],
      ['DELETE', '/Schemas', 'GET, HEAD'],
      ['PATCH', '/ResourceTypes/', 'GET, HEAD'],
      ['POST', '/Groups', 'GET, HEAD'],
      ['PUT', '/Users', 'GET, HEAD, POST'],
      ['DELETE', '/Users', 'GET, HEAD, POST'],
      ['POST', `/Users/${user.id}`, 'GET, HEAD, PUT, PATCH, DELETE'],
    ] as const) {
      const res = await scim(path, { method, json: { schemas: [USER_SCHEMA], userName: user.subject } });
      const label = `${method} ${path}`;
      expect(res.headers.get('Allow'), label).toBe(allow);
      const body = await scimJson<ScimErrorBody>(res, 405);
      expect(body, label).toEqual({ schemas: [ERROR_SCHEMA], status: '405', detail: expect.any(String) });
      expect(body.detail, label).toContain(`${method} is not supported`);
      expect(body.detail, label).toContain(allow);
    }
    // The user is untouched, HEAD (listed in Allow) answers, an unknown endpoint is still a 404, and a 405 is only
    // told to the provider.
    expect(await scimJson<ScimUser>(await scim(`/Users/${user.id}`), 200)).toMatchObject({ active: true });
    expect((await scim('/Schemas', { method: 'HEAD' })).status).toBe(200);
    expect((await scimJson<ScimErrorBody>(await scim('/Nothing'), 404)).status).toBe('404');
    const anonymous = await scim('/Schemas', { method: 'DELETE', token: null });
    expect((await scimJson<ScimErrorBody>(anonymous, 401)).status).toBe('401');
  });

  // Clients that join a base URL ending in `/` ask for `/Users/`. Answered as without the slash rather than
  // redirected: a redirected POST or PATCH loses its method or body in many HTTP clients.
  it('a trailing slash is answered as without it, for reads and writes', async () => {
    const { user, created } = await knownUserWithToken();
    const list = await scimJson<ScimList>(
      await scim(`/Users/?filter=${encodeURIComponent(`userName eq "${user.subject}"`)}`),
      200,
    );
    expect(list.Resources.map((r) => (r as ScimUser).id)).toEqual([user.id]);
    expect(await scimJson<ScimUser>(await scim(`/Users/${user.id}/`), 200)).toMatchObject({ id: user.id });
    const config = await scimJson<{ schemas: string[] }>(await scim('/ServiceProviderConfig/'), 200);
    expect(config.schemas).toEqual(['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
    for (const path of ['/ResourceTypes/', '/Schemas/', '/Groups/'])
      expect((await scimJson<ScimList>(await scim(path), 200)).schemas, path).toEqual([LIST_SCHEMA]);

    const patched = await scim(`/Users/${user.id}/`, { method: 'PATCH', json: scimActive(false) });
    expect((await scimJson<ScimUser>(patched, 200)).active).toBe(false);
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    const subject = uniqueUser('slash');
    const posted = await scim('/Users/', {
      method: 'POST',
      json: { schemas: [USER_SCHEMA], userName: subject },
    });
    expect((await scimJson<ScimUser>(posted, 201)).userName).toBe(subject);
  });
});
