import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resetIsolateCache } from '../../src/auth/token-cache';
import { generateToken } from '../../src/tokens/format';
import { fakeUpstream } from '../gateway-support';
import { bearer, call } from '../helpers';
import {
  expectProblem,
  expireInD1,
  kvKeyFor,
  newUser,
  postJson,
  problemShape,
  userWithToken,
  waitForKv,
} from './support';

// Refusals (RFC 6750 §3): no token is 401 with a bare challenge; a token that does not work is 401
// invalid_token, and every reason (malformed, mistyped, unknown, expired, revoked) looks exactly alike from
// outside; a working token without the route's scope is 403 insufficient_scope naming the scope.

const REALM = 'Bearer realm="pat-gateway"';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('missing token', () => {
  it('is 401 missing_token with exactly `Bearer realm="pat-gateway"`', async () => {
    const upstream = fakeUpstream();
    for (const path of ['/svc/rpc', '/ipfs/api/v0/cat', '/hdr/x', '/strict/x', '/admin-only/x']) {
      const res = await call(path, { headers: { Authorization: 'Token abc', 'x-api-key': 'whatever' } });
      await expectProblem(res, 401, 'missing_token');
      expect(res.headers.get('WWW-Authenticate')).toBe(REALM);
    }
    expect(upstream.requests).toEqual([]);
  });
});

describe('a token that does not work', () => {
  /** A token that has been created, then expired in D1, and never been seen by any cache. */
  async function expiredToken(): Promise<string> {
    const { created } = await userWithToken();
    const key = await kvKeyFor(created.token);
    await waitForKv(key); // creation publishes to KV in waitUntil: wait for it, then remove it
    await env.TOKEN_CACHE.delete(key);
    resetIsolateCache(); // and this isolate's copy, which creation left too
    await expireInD1(created.id);
    return created.token;
  }

  async function revokedToken(): Promise<string> {
    const { user, created } = await userWithToken();
    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    return created.token;
  }

  it('is the same 401 invalid_token whatever the reason', async () => {
    const { created } = await userWithToken();
    const wrongChecksum = created.token.slice(0, -1) + (created.token.endsWith('z') ? 'y' : 'z');
    const tokens: Record<string, string> = {
      malformed: 'pat_not-a-token',
      'wrong prefix': `ghp_${created.token.slice(4)}`,
      'bad checksum': wrongChecksum,
      'unknown well-formed': generateToken('pat_'),
      expired: await expiredToken(),
      revoked: await revokedToken(),
    };
    const upstream = fakeUpstream();
    const shapes = new Map<string, unknown>();
    for (const [reason, token] of Object.entries(tokens)) {
      const res = await call('/svc/rpc', { headers: bearer(token) });
      const problem = await expectProblem(res, 401, 'invalid_token');
      expect(res.headers.get('WWW-Authenticate'), reason).toBe(`${REALM}, error="invalid_token"`);
      shapes.set(reason, problemShape(problem));
    }
    expect(upstream.requests).toEqual([]);
    const first = shapes.get('malformed');
    for (const [reason, shape] of shapes) expect(shape, reason).toEqual(first);
  });

  it('is also invalid_token in x-pat, query and path sources', async () => {
    const { created } = await userWithToken();
    const revoked = await revokedToken();
    const upstream = fakeUpstream();
    const attempts = [
      call('/svc/rpc', { headers: { 'x-pat': revoked } }),
      call(`/svc/rpc?token=${revoked}`),
      call(`/svc/rpc/${revoked}`),
      call(`/ipfs/${revoked}/api/v0/cat`),
    ];
    for (const res of await Promise.all(attempts)) await expectProblem(res, 401, 'invalid_token');
    expect(upstream.requests).toEqual([]);
    expect((await call(`/svc/rpc/${created.token}`)).status).toBe(200);
  });
});

describe('scopes', () => {
  it('a read-only token may GET but not POST: 403 insufficient_scope naming `write`', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    const upstream = fakeUpstream();
    const get = await call('/svc/items', { headers: bearer(created.token) });
    expect(get.status).toBe(200);
    expect(upstream.only().headers.get('x-pat-scopes')).toBe('read');

    const post = await call('/svc/items', { method: 'POST', headers: bearer(created.token), body: 'x' });
    const problem = await expectProblem(post, 403, 'insufficient_scope');
    expect(problem.required_scopes).toEqual(['write']);
    const challenge = post.headers.get('WWW-Authenticate')!;
    expect(challenge).toMatch(/^Bearer realm="pat-gateway"/);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="write"');
    expect(upstream.requests).toHaveLength(1);
  });

  it('HEAD needs read like GET; PUT, PATCH and DELETE need write like POST', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    const upstream = fakeUpstream();
    expect((await call('/svc/items', { method: 'HEAD', headers: bearer(created.token) })).status).toBe(200);
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      await expectProblem(
        await call('/svc/items', { method, headers: bearer(created.token) }),
        403,
        'insufficient_scope',
      );
    }
    expect(upstream.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  it("a method override needs that method's scopes too, and reaches the upstream only then", async () => {
    const { created: reader } = await userWithToken({ scopes: ['read'] });
    const { created: writer } = await userWithToken({ scopes: ['read', 'write'] });
    const upstream = fakeUpstream();
    for (const [path, headers] of [
      ['/svc/items/1', { 'X-HTTP-Method-Override': 'DELETE' }],
      ['/svc/items/1', { 'x-http-method': 'put' }],
      ['/svc/items/1', { 'X-Method-Override': ' patch ' }],
      ['/svc/items/1', { x_http_method_override: 'DELETE' }],
      ['/svc/items/1?_method=DELETE', {}],
      ['/svc/items/1?a=1&_method=get&_method=delete', {}],
      // Spellings a framework decodes or PHP rewrites to `_method`.
      ['/svc/items/1?%5Fmethod=DELETE', {}],
      ['/svc/items/1?%5fmethod=DELETE', {}],
      ['/svc/items/1?_%6Dethod=DELETE', {}],
      ['/svc/items/1?.method=DELETE', {}],
      ['/svc/items/1?_METHOD=delete', {}],
      ['/svc/items/1?_method[]=DELETE', {}],
      ['/svc/items/1?_method=GET%2CDELETE', {}],
    ] as const) {
      const res = await call(path, { headers: { ...bearer(reader.token), ...headers } });
      const problem = await expectProblem(res, 403, 'insufficient_scope');
      expect(problem.required_scopes, path + JSON.stringify(headers)).toEqual(['read', 'write']);
    }
    expect(upstream.requests).toEqual([]);

    const overridden = { 'X-HTTP-Method-Override': 'DELETE' };
    expect((await call('/svc/items/1', { headers: { ...bearer(writer.token), ...overridden } })).status).toBe(
      200,
    );
    // Two override fields arrive joined: each method named needs its scopes (Express takes the first).
    const twice = new Headers(bearer(writer.token));
    twice.append('X-HTTP-Method-Override', 'DELETE');
    twice.append('X-HTTP-Method-Override', 'POST');
    const joined = await call('/del-admin/items/1', { method: 'POST', headers: twice });
    expect((await expectProblem(joined, 403, 'insufficient_scope')).required_scopes).toEqual([
      'write',
      'admin',
    ]);
    const sameMethod = { 'X-HTTP-Method-Override': 'GET' };
    expect((await call('/svc/items/1', { headers: { ...bearer(reader.token), ...sameMethod } })).status).toBe(
      200,
    );
    expect(upstream.requests.map((r) => r.headers.get('x-http-method-override'))).toEqual(['DELETE', 'GET']);
  });

  it('a member’s token cannot use the admin-only route; an admin’s token with `admin` can', async () => {
    const { created: member } = await userWithToken();
    const admin = await newUser('admin');
    const res = await call('/api/v1/tokens', {
      method: 'POST',
      headers: bearer(admin.jwt),
      json: { name: 'admin token', scopes: ['admin', 'read'] },
    });
    expect(res.status).toBe(201);
    const adminToken = (await res.json()) as { token: string };
    const upstream = fakeUpstream();

    const refused = await call('/admin-only/users', { headers: bearer(member.token) });
    await expectProblem(refused, 403, 'insufficient_scope');
    expect(refused.headers.get('WWW-Authenticate')).toContain('scope="admin"');
    expect(upstream.requests).toEqual([]);

    expect((await call('/admin-only/users', { headers: bearer(adminToken.token) })).status).toBe(200);
    expect(upstream.only().headers.get('x-pat-scopes')).toBe('admin read');
  });
});

describe('error responses', () => {
  it('never echo a path token back to the client', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    fakeUpstream();
    const res = await call(`/svc/ext/bc/C/rpc/${created.token}`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain(created.token);
  });
});
