import { afterEach, describe, expect, it, vi } from 'vitest';
import { SORTS } from '../../src/tokens/repository';
import { bearer, call, createToken } from '../helpers';
import { failD1, failKv } from '../reliability-support';
import { knownUser } from './admin-support';
import { Contract, loadDoc } from './contract-support';

// Walks every operation of /openapi.json with valid and invalid input, as members, admins, PATs and nobody, and
// checks each real answer against the document (status, media type, body schema, headers).

const API = '/api/v1';
type Init = { headers?: Record<string, string>; json?: unknown; body?: string };

describe('the API answers what /openapi.json declares', () => {
  it('every answer of every operation is declared and validates', async () => {
    const contract = new Contract(await loadDoc());
    const ask = async (label: string, method: string, template: string, path: string, init: Init = {}) => {
      const res = await call(API + path, { method, ...init });
      const etag = res.headers.get('etag');
      const body = (await contract.check(label, method, API + template, res)) as Record<
        string,
        unknown
      > | null;
      return { status: res.status, body, etag };
    };

    const member = await knownUser();
    const other = await knownUser();
    const admin = await knownUser('admin');
    const m = bearer(member.jwt);
    const a = bearer(admin.jwt);

    // Identity and policy.
    await ask('jwt', 'GET', '/currentuser', '/currentuser', { headers: m });
    await ask('none', 'GET', '/currentuser', '/currentuser');
    await ask('bad bearer', 'GET', '/currentuser', '/currentuser', {
      headers: { Authorization: 'Bearer nope' },
    });
    await ask('bad scheme', 'GET', '/currentuser', '/currentuser', {
      headers: { Authorization: 'Basic eA==' },
    });
    await ask('anon', 'GET', '/policy', '/policy');

    // Create.
    const created = await ask('valid', 'POST', '/tokens', '/tokens', {
      headers: m,
      json: { name: 'contract one', description: 'd', expires_in_days: 30, scopes: ['read'] },
    });
    const id = created.body!.id as string;
    const secret = created.body!.token as string;
    await ask('duplicate name', 'POST', '/tokens', '/tokens', { headers: m, json: { name: 'contract one' } });
    await ask('scope beyond role', 'POST', '/tokens', '/tokens', {
      headers: m,
      json: { name: 'x1', scopes: ['admin'] },
    });
    await ask('unknown scope', 'POST', '/tokens', '/tokens', {
      headers: m,
      json: { name: 'x2', scopes: ['nope'] },
    });
    await ask('blank name', 'POST', '/tokens', '/tokens', { headers: m, json: { name: '  ' } });
    await ask('both expirations', 'POST', '/tokens', '/tokens', {
      headers: m,
      json: { name: 'x3', expires_in_days: 3, expires_at: '2030-01-01' },
    });
    await ask('never, policy requires', 'POST', '/tokens', '/tokens', {
      headers: m,
      json: { name: 'x4', expires_at: null },
    });
    await ask('bad json', 'POST', '/tokens', '/tokens', {
      headers: { ...m, 'Content-Type': 'application/json' },
      body: '{"name":',
    });
    await ask('text/plain', 'POST', '/tokens', '/tokens', {
      headers: { ...m, 'Content-Type': 'text/plain' },
      body: 'x',
    });
    await ask('no body', 'POST', '/tokens', '/tokens', { headers: m });
    await ask('pat', 'POST', '/tokens', '/tokens', {
      headers: { 'x-pat': secret },
      json: { name: 'by pat' },
    });
    await ask('cross-site', 'POST', '/tokens', '/tokens', {
      headers: { ...m, 'Sec-Fetch-Site': 'cross-site' },
      json: { name: 'xs' },
    });

    // PAT routes.
    await ask('pat', 'GET', '/currentuser', '/currentuser', { headers: { 'x-pat': secret } });
    await ask('pat', 'GET', '/tokens/self', '/tokens/self', { headers: { 'x-pat': secret } });
    await ask('jwt', 'GET', '/tokens/self', '/tokens/self', { headers: m });
    await ask('none', 'GET', '/tokens/self', '/tokens/self');
    await ask('jwt', 'POST', '/tokens/self/revoke', '/tokens/self/revoke', { headers: m });
    await ask('pat to a jwt-only route', 'GET', '/tokens', '/tokens', { headers: { 'x-pat': secret } });

    // List.
    await ask('default', 'GET', '/tokens', '/tokens', { headers: m });
    for (const sort of SORTS)
      await ask(`sort ${sort}`, 'GET', '/tokens', `/tokens?sort=${sort}&limit=1`, { headers: m });
    for (const status of ['active', 'expired', 'revoked'])
      await ask(`status ${status}`, 'GET', '/tokens', `/tokens?status=${status}`, { headers: m });
    await ask('filters', 'GET', '/tokens', '/tokens?q=contract&expiring_within_days=60&limit=100', {
      headers: m,
    });
    await ask('bad sort', 'GET', '/tokens', '/tokens?sort=bogus', { headers: m });
    await ask('unknown param', 'GET', '/tokens', '/tokens?owner_id=x', { headers: m });
    await ask('limit 0', 'GET', '/tokens', '/tokens?limit=0', { headers: m });
    await ask('bad cursor', 'GET', '/tokens', '/tokens?cursor=abc', { headers: m });

    // One token.
    const got = await ask('own', 'GET', '/tokens/{id}', `/tokens/${id}`, { headers: m });
    await ask("other's", 'GET', '/tokens/{id}', `/tokens/${id}`, { headers: bearer(other.jwt) });
    await ask('long id', 'GET', '/tokens/{id}', `/tokens/${'x'.repeat(65)}`, { headers: m });
    await ask('head', 'HEAD', '/tokens/{id}', `/tokens/${id}`, { headers: m }).catch(() => undefined);
    await ask('rename', 'PATCH', '/tokens/{id}', `/tokens/${id}`, {
      headers: m,
      json: { name: 'contract renamed' },
    });
    await ask('stale if-match', 'PATCH', '/tokens/{id}', `/tokens/${id}`, {
      headers: { ...m, 'If-Match': got.etag! },
      json: { description: 'stale' },
    });
    await createToken(member.jwt, { name: 'contract taken' });
    await ask('name taken', 'PATCH', '/tokens/{id}', `/tokens/${id}`, {
      headers: m,
      json: { name: 'contract taken' },
    });
    await ask('unknown field', 'PATCH', '/tokens/{id}', `/tokens/${id}`, {
      headers: m,
      json: { scopes: ['read'] },
    });
    await ask('missing', 'PATCH', '/tokens/{id}', '/tokens/tok_missing', { headers: m, json: { name: 'n' } });

    // Revoke, restore, rotate, delete.
    await ask('revoke', 'POST', '/tokens/{id}/revoke', `/tokens/${id}/revoke`, { headers: m });
    await ask('revoke again', 'POST', '/tokens/{id}/revoke', `/tokens/${id}/revoke`, { headers: m });
    await ask('rotate revoked', 'POST', '/tokens/{id}/rotate', `/tokens/${id}/rotate`, { headers: m });
    await ask('restore stale', 'POST', '/tokens/{id}/restore', `/tokens/${id}/restore`, {
      headers: { ...m, 'If-Match': got.etag! },
    });
    await ask('restore', 'POST', '/tokens/{id}/restore', `/tokens/${id}/restore`, { headers: m });
    await ask('restore active', 'POST', '/tokens/{id}/restore', `/tokens/${id}/restore`, { headers: m });
    const rotated = await ask('rotate, no body', 'POST', '/tokens/{id}/rotate', `/tokens/${id}/rotate`, {
      headers: m,
    });
    const newId = rotated.body!.id as string;
    await ask('rotate, body', 'POST', '/tokens/{id}/rotate', `/tokens/${newId}/rotate`, {
      headers: { ...m, 'If-Match': got.etag! },
      json: { expires_in_days: 7 },
    });
    await ask('rotate bad body', 'POST', '/tokens/{id}/rotate', `/tokens/${newId}/rotate`, {
      headers: m,
      json: { expires_in_days: 0 },
    });
    await ask('restore rotated', 'POST', '/tokens/{id}/restore', `/tokens/${id}/restore`, { headers: m });
    await ask('delete stale', 'DELETE', '/tokens/{id}', `/tokens/${id}`, {
      headers: { ...m, 'If-Match': '"x"' },
    });
    await ask('delete', 'DELETE', '/tokens/{id}', `/tokens/${id}`, { headers: m });
    await ask('delete again', 'DELETE', '/tokens/{id}', `/tokens/${id}`, { headers: m });
    const selfToken = await createToken(member.jwt);
    await ask('self revoke', 'POST', '/tokens/self/revoke', '/tokens/self/revoke', {
      headers: { 'x-pat': selfToken.token },
    });

    // Audit.
    await ask('own', 'GET', '/audit', '/audit?limit=100', { headers: m });
    await ask('bad limit', 'GET', '/audit', '/audit?limit=101', { headers: m });

    // Admin: tokens.
    await ask('member', 'GET', '/admin/tokens', '/admin/tokens', { headers: m });
    await ask('admin', 'GET', '/admin/tokens', `/admin/tokens?owner_id=${member.id}&limit=100`, {
      headers: a,
    });
    await ask(
      'filters',
      'GET',
      '/admin/tokens',
      '/admin/tokens?type=personal&status=active&q=t&expiring_before=2099-01-01&last_used_before=2099-01-01T00:00:00Z&sort=name',
      { headers: a },
    );
    await ask('bad date', 'GET', '/admin/tokens', '/admin/tokens?expiring_before=tomorrow', { headers: a });
    const victim = await createToken(member.jwt);
    await ask('lookup', 'POST', '/admin/tokens/lookup', '/admin/tokens/lookup', {
      headers: a,
      json: { token: victim.token },
    });
    await ask('lookup unknown', 'POST', '/admin/tokens/lookup', '/admin/tokens/lookup', {
      headers: a,
      json: { token: 'pat_nope' },
    });
    await ask('bulk', 'POST', '/admin/tokens/bulk-revoke', '/admin/tokens/bulk-revoke', {
      headers: a,
      json: { ids: [victim.id, 'tok_none'] },
    });
    await ask('bulk empty', 'POST', '/admin/tokens/bulk-revoke', '/admin/tokens/bulk-revoke', {
      headers: a,
      json: { ids: [] },
    });
    await ask('restore', 'POST', '/admin/tokens/{id}/restore', `/admin/tokens/${victim.id}/restore`, {
      headers: a,
    });
    await ask('restore active', 'POST', '/admin/tokens/{id}/restore', `/admin/tokens/${victim.id}/restore`, {
      headers: a,
    });
    await ask('revoke', 'POST', '/admin/tokens/{id}/revoke', `/admin/tokens/${victim.id}/revoke`, {
      headers: a,
    });
    await ask('revoke missing', 'POST', '/admin/tokens/{id}/revoke', '/admin/tokens/tok_none/revoke', {
      headers: a,
    });
    await ask('long id', 'POST', '/admin/tokens/{id}/revoke', `/admin/tokens/${'x'.repeat(65)}/revoke`, {
      headers: a,
    });
    await ask('delete stale', 'DELETE', '/admin/tokens/{id}', `/admin/tokens/${victim.id}`, {
      headers: { ...a, 'If-Match': '"x"' },
    });
    await ask('delete', 'DELETE', '/admin/tokens/{id}', `/admin/tokens/${victim.id}`, { headers: a });

    // Admin: service accounts.
    const svcName = `contract svc ${crypto.randomUUID()}`;
    const svc = await ask('create', 'POST', '/admin/service-accounts', '/admin/service-accounts', {
      headers: a,
      json: { name: svcName },
    });
    const svcId = svc.body!.id as string;
    await ask('duplicate', 'POST', '/admin/service-accounts', '/admin/service-accounts', {
      headers: a,
      json: { name: svcName },
    });
    await ask('invalid', 'POST', '/admin/service-accounts', '/admin/service-accounts', {
      headers: a,
      json: { name: 'x', role: 'root' },
    });
    await ask('list', 'GET', '/admin/service-accounts', '/admin/service-accounts?active=true&limit=100', {
      headers: a,
    });
    await ask('bad active', 'GET', '/admin/service-accounts', '/admin/service-accounts?active=yes', {
      headers: a,
    });
    await ask('get', 'GET', '/admin/service-accounts/{id}', `/admin/service-accounts/${svcId}`, {
      headers: a,
    });
    await ask('get a user', 'GET', '/admin/service-accounts/{id}', `/admin/service-accounts/${member.id}`, {
      headers: a,
    });
    const second = await ask('create 2', 'POST', '/admin/service-accounts', '/admin/service-accounts', {
      headers: a,
      json: { name: `${svcName} two` },
    });
    await ask('patch', 'PATCH', '/admin/service-accounts/{id}', `/admin/service-accounts/${svcId}`, {
      headers: a,
      json: { role: 'admin', description: 'x' },
    });
    await ask(
      'patch to a taken name',
      'PATCH',
      '/admin/service-accounts/{id}',
      `/admin/service-accounts/${second.body!.id}`,
      {
        headers: a,
        json: { name: svcName },
      },
    );
    const svcToken = await ask(
      'create token',
      'POST',
      '/admin/service-accounts/{id}/tokens',
      `/admin/service-accounts/${svcId}/tokens`,
      {
        headers: a,
        json: { name: 'svc tok', scopes: ['admin'] },
      },
    );
    await ask(
      'duplicate token name',
      'POST',
      '/admin/service-accounts/{id}/tokens',
      `/admin/service-accounts/${svcId}/tokens`,
      {
        headers: a,
        json: { name: 'svc tok' },
      },
    );
    await ask(
      'list tokens',
      'GET',
      '/admin/service-accounts/{id}/tokens',
      `/admin/service-accounts/${svcId}/tokens?sort=name`,
      { headers: a },
    );
    await ask(
      'list tokens, unknown account',
      'GET',
      '/admin/service-accounts/{id}/tokens',
      '/admin/service-accounts/svc_none/tokens',
      { headers: a },
    );
    await ask('service pat self', 'GET', '/tokens/self', '/tokens/self', {
      headers: { 'x-pat': svcToken.body!.token as string },
    });
    await ask('service pat me', 'GET', '/currentuser', '/currentuser', {
      headers: { 'x-pat': svcToken.body!.token as string },
    });

    // Admin: users.
    await ask('list', 'GET', '/admin/users', `/admin/users?q=${encodeURIComponent(member.subject)}`, {
      headers: a,
    });
    await ask('self', 'POST', '/admin/users/{id}/deactivate', `/admin/users/${admin.id}/deactivate`, {
      headers: a,
    });
    await ask('deactivate', 'POST', '/admin/users/{id}/deactivate', `/admin/users/${other.id}/deactivate`, {
      headers: a,
    });
    await ask('deactivated user', 'GET', '/tokens', '/tokens', { headers: bearer(other.jwt) });
    await ask('reactivate', 'POST', '/admin/users/{id}/reactivate', `/admin/users/${other.id}/reactivate`, {
      headers: a,
    });
    await ask('unknown', 'POST', '/admin/users/{id}/reactivate', '/admin/users/usr_none/reactivate', {
      headers: a,
    });

    // Admin: audit.
    await ask(
      'filters',
      'GET',
      '/admin/audit',
      `/admin/audit?actor_id=${admin.id}&since=2020-01-01&until=2099-01-01T00:00:00Z&limit=100`,
      { headers: a },
    );
    await ask('bad since', 'GET', '/admin/audit', '/admin/audit?since=yesterday', { headers: a });

    // Leak reports and development sessions.
    await ask('report', 'POST', '/credentials/revoke', '/credentials/revoke', {
      json: { credentials: ['pat_x'] },
    });
    await ask('empty', 'POST', '/credentials/revoke', '/credentials/revoke', { json: { credentials: [] } });
    await ask('dev', 'POST', '/dev/session', '/dev/session', { json: { user: 'alice', role: 'admin' } });
    await ask('dev invalid', 'POST', '/dev/session', '/dev/session', { json: { user: 'a b' } });

    // Every operation of the document was exercised at least once.
    const untried = Object.entries(contract.doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .map((method) => `${method.toUpperCase()} ${path}`)
        .filter((key) => !contract.seen.has(key)),
    );
    expect(untried).toEqual([]);
    expect(contract.problems).toEqual([]);
  });

  afterEach(() => vi.restoreAllMocks());

  it('outages and rate limits are declared too, with Retry-After', async () => {
    const contract = new Contract(await loadDoc());
    const admin = await knownUser('admin');
    const a = bearer(admin.jwt);
    const created = await createToken(admin.jwt);
    const bodies: Record<string, unknown> = {
      'POST /tokens': { name: 'outage' },
      'PATCH /tokens/{id}': { name: 'outage' },
      'POST /admin/tokens/lookup': { token: created.token },
      'POST /admin/tokens/bulk-revoke': { ids: [created.id] },
      'POST /admin/service-accounts': { name: `svc ${crypto.randomUUID()}` },
      'PATCH /admin/service-accounts/{id}': { name: `svc ${crypto.randomUUID()}` },
      'POST /admin/service-accounts/{id}/tokens': { name: 'outage' },
      'POST /credentials/revoke': { credentials: [created.token] },
      'POST /dev/session': { user: 'alice' },
    };
    for (const mode of ['d1', 'kv'] as const) {
      for (const [path, ops] of Object.entries(contract.doc.paths))
        for (const method of Object.keys(ops)) {
          const template = path.slice(API.length);
          const key = `${method.toUpperCase()} ${template}`;
          const url = path.replace('{id}', template.startsWith('/admin/users') ? admin.id : created.id);
          if (mode === 'd1') failD1('down');
          else failKv({ reads: true, writes: true });
          const json = bodies[key];
          const res = await call(url, {
            method: method.toUpperCase(),
            headers: template.startsWith('/tokens/self') ? { 'x-pat': created.token } : a,
            ...(json ? { json } : {}),
          });
          vi.restoreAllMocks();
          await contract.check(`${mode} down`, method, path, res);
        }
    }
    // Leak reports: the 11th in a minute from one address.
    for (let i = 0; i < 11; i++) {
      const res = await call(`${API}/credentials/revoke`, {
        method: 'POST',
        headers: { 'cf-connecting-ip': '198.51.100.77' },
        json: { credentials: ['pat_x'] },
      });
      await contract.check(`report ${i}`, 'POST', `${API}/credentials/revoke`, res);
    }
    expect(contract.seen.get(`POST ${API}/credentials/revoke`)).toContain('429');
    expect(contract.problems).toEqual([]);
  });
});
