import { describe, expect, it } from 'vitest';
import { bearer, call } from '../helpers';
import { del, knownUser, knownUserWithToken, serviceSetup } from './admin-support';
import {
  API,
  expectProblem,
  getWith,
  type Problem,
  patchJson,
  postJson,
  problemShape,
  tokenRow,
} from './support';

// Cross-user access attempts (issue 4, Tests): another user's token ids on every /tokens/{id} route answer exactly
// like a missing id, and every /admin route refuses members (403 admin_required) and PATs (403 pat_not_allowed)
// without a byte of data.

/** Every admin route, with a valid request body where it takes one, for the given ids. */
function adminRoutes(ids: { token: string; user: string; account: string }, secret: string) {
  return [
    ['GET', '/admin/tokens', undefined],
    ['POST', '/admin/tokens/lookup', { token: secret }],
    ['POST', '/admin/tokens/bulk-revoke', { ids: [ids.token] }],
    ['POST', `/admin/tokens/${ids.token}/revoke`, undefined],
    ['POST', `/admin/tokens/${ids.token}/restore`, undefined],
    ['DELETE', `/admin/tokens/${ids.token}`, undefined],
    ['GET', '/admin/service-accounts', undefined],
    ['POST', '/admin/service-accounts', { name: `sneaky ${crypto.randomUUID()}` }],
    ['GET', `/admin/service-accounts/${ids.account}`, undefined],
    ['PATCH', `/admin/service-accounts/${ids.account}`, { role: 'admin' }],
    ['GET', `/admin/service-accounts/${ids.account}/tokens`, undefined],
    ['POST', `/admin/service-accounts/${ids.account}/tokens`, { name: 'sneaky' }],
    ['GET', '/admin/users', undefined],
    ['POST', `/admin/users/${ids.user}/deactivate`, undefined],
    ['POST', `/admin/users/${ids.user}/reactivate`, undefined],
    ['GET', '/admin/audit', undefined],
  ] as const;
}

function send(method: string, path: string, headers: Record<string, string>, json?: unknown) {
  return call(API + path, { method, headers, ...(json === undefined ? {} : { json }) });
}

/** A problem body with the request-specific members removed and the path the caller sent. */
function leakCheck(problem: Problem, ...secrets: string[]) {
  const text = JSON.stringify(problemShape(problem));
  for (const secret of secrets) expect(text).not.toContain(secret);
}

async function victimSetup() {
  const { user: victim, created } = await knownUserWithToken();
  const { account, created: service } = await serviceSetup();
  const ids = { token: created.id, user: victim.id, account: account.id };
  return { victim, created, account, service, ids };
}

describe('/admin routes refuse anyone but an admin with a JWT', () => {
  it('a member gets 403 admin_required on every /admin route, and nothing changes', async () => {
    const { victim, created, account, service, ids } = await victimSetup();
    const member = await knownUser('member');
    for (const [method, path, json] of adminRoutes(ids, created.token)) {
      const problem = await expectProblem(
        await send(method, path, bearer(member.jwt), json),
        403,
        'admin_required',
      );
      leakCheck(problem, created.token, victim.subject, account.name!, service.id);
    }
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
    expect(await tokenRow(service.id)).toMatchObject({ revoked_at: null });
    expect((await getWith('/tokens', victim.jwt)).status).toBe(200); // still active
  });

  it("an admin's PAT gets 403 pat_not_allowed on every /admin route", async () => {
    const { created, ids } = await victimSetup();
    const { created: adminPat } = await knownUserWithToken('admin', { scopes: ['admin', 'read', 'write'] });
    for (const header of ['Authorization', 'x-pat'] as const) {
      const headers = header === 'Authorization' ? bearer(adminPat.token) : { 'x-pat': adminPat.token };
      for (const [method, path, json] of adminRoutes(ids, created.token)) {
        await expectProblem(await send(method, path, headers, json), 403, 'pat_not_allowed');
      }
    }
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
  });

  it('no credential: 401 on every /admin route', async () => {
    const { created, ids } = await victimSetup();
    for (const [method, path, json] of adminRoutes(ids, created.token)) {
      await expectProblem(await send(method, path, {}, json), 401, 'unauthenticated');
    }
  });
});

describe("another user's token id on every /tokens/{id} route", () => {
  const routes = [
    ['GET', ''],
    ['PATCH', ''],
    ['DELETE', ''],
    ['POST', '/revoke'],
    ['POST', '/restore'],
    ['POST', '/rotate'],
  ] as const;

  function attempt(method: string, id: string, suffix: string, jwt: string) {
    if (method === 'GET') return getWith(`/tokens/${id}`, jwt);
    if (method === 'PATCH') return patchJson(`/tokens/${id}`, jwt, { name: 'taken over' });
    if (method === 'DELETE') return del(`/tokens/${id}`, jwt);
    return postJson(`/tokens/${id}${suffix}`, jwt);
  }

  for (const kind of ['personal', 'service'] as const) {
    it(`a member using a ${kind} token id that is not theirs gets the 404 of a missing id, on every route`, async () => {
      const { created, service } = await victimSetup();
      const target = kind === 'personal' ? created : service;
      const before = await tokenRow(target.id);
      const member = await knownUser('member');
      for (const [method, suffix] of routes) {
        const res = await attempt(method, target.id, suffix, member.jwt);
        const missing = await attempt(method, 'tok_0000000000000000', suffix, member.jwt);
        expect(res.headers.get('Content-Type')).toBe(missing.headers.get('Content-Type'));
        const problem = await expectProblem(res, 404, 'not_found');
        expect(problemShape(problem)).toEqual(problemShape(await expectProblem(missing, 404, 'not_found')));
      }
      expect(await tokenRow(target.id)).toEqual(before);
    });
  }

  it("a member's token list and audit trail never show another user's tokens", async () => {
    const { created, service } = await victimSetup();
    const member = await knownUser('member');
    for (const path of ['/tokens?limit=100', '/audit?limit=100']) {
      const text = await (await getWith(path, member.jwt)).text();
      expect(text).not.toContain(created.id);
      expect(text).not.toContain(service.id);
    }
  });
});
