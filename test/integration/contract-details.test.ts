import { describe, expect, it } from 'vitest';
import { bearer, call, createToken } from '../helpers';
import { createServiceAccount, knownUser, knownUserWithToken, scim } from './admin-support';
import { type Doc, loadDoc, validate } from './contract-support';
import { API, expectProblem, patchJson, postJson } from './support';

// Answers /openapi.json once left out, or described otherwise than the API gives them (contract.test.ts walks all).

const responses = (doc: Doc, method: string, path: string) => doc.paths[API + path]![method]!.responses;

describe('/openapi.json declares what the API answers', () => {
  it('PATCH /admin/service-accounts/{id} to a taken name: 409, declared', async () => {
    const doc = await loadDoc();
    const admin = await knownUser('admin');
    const first = await createServiceAccount(admin);
    const second = await createServiceAccount(admin);
    const res = await patchJson(`/admin/service-accounts/${second.id}`, admin.jwt, { name: first.name });
    await expectProblem(res, 409, 'name_taken');
    expect(Object.keys(responses(doc, 'patch', '/admin/service-accounts/{id}'))).toContain('409');
  });

  it('every 401 carries WWW-Authenticate, and every 401 in the document declares it', async () => {
    const doc = await loadDoc();
    const res = await call(`${API}/tokens`);
    await expectProblem(res, 401, 'unauthenticated');
    expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="pat-gateway"');
    const undeclared = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(
          ([, op]) => op.responses['401'] && !('WWW-Authenticate' in (op.responses['401'].headers ?? {})),
        )
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(undeclared).toEqual([]);
  });

  it('403 scope_not_allowed carries `scopes`, a member of the Problem schema', async () => {
    const doc = await loadDoc();
    const member = await knownUser();
    const res = await postJson('/tokens', member.jwt, { name: 'too much', scopes: ['admin'] });
    const problem = await expectProblem(res, 403, 'scope_not_allowed');
    expect(problem.scopes).toEqual(['admin']);
    expect(Object.keys(doc.components.schemas.Problem!.properties!)).toContain('scopes');
  });

  it('revoke_reason `deprovisioned` is a documented value', async () => {
    const doc = await loadDoc();
    const admin = await knownUser('admin');
    const { user, created } = await knownUserWithToken();
    expect((await scim(`/Users/${user.id}`, { method: 'DELETE' })).status).toBe(204);
    const res = await call(`${API}/tokens/${created.id}`, { headers: bearer(admin.jwt) });
    const token = (await res.json()) as { revoke_reason: string };
    expect(validate(doc, { $ref: '#/components/schemas/Token' }, token)).toEqual([]);
    const documented = String(doc.components.schemas.Token!.properties!.revoke_reason!.description);
    expect(documented).toContain(`\`${token.revoke_reason}\``);
  });

  it('DELETE and PATCH /tokens/self are 405 with Allow, not an edit or delete of a token with id "self"', async () => {
    const member = await knownUser();
    const pat = await createToken(member.jwt);
    const out: string[] = [];
    for (const [method, headers] of [
      ['DELETE', bearer(member.jwt)],
      ['PATCH', bearer(member.jwt)],
      ['DELETE', { 'x-pat': pat.token }],
    ] as const) {
      const res = await call(`${API}/tokens/self`, { method, headers, json: { name: 'x' } });
      const body = (await res.json()) as { code: string };
      out.push(`${method} ${res.status} ${body.code} allow=${res.headers.get('Allow')}`);
    }
    // PUT /tokens/self is a 405 with Allow: GET, HEAD (docs.test.ts); the other methods the path lacks should be too.
    expect(out).toEqual([
      'DELETE 405 method_not_allowed allow=GET, HEAD',
      'PATCH 405 method_not_allowed allow=GET, HEAD',
      'DELETE 405 method_not_allowed allow=GET, HEAD',
    ]);
  });
});
