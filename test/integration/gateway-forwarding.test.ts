import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeUpstream, gatewayFetch, leaks } from '../gateway-support';
import { bearer, call } from '../helpers';
import { expectProblem, getWith, type TokenBody, userWithToken } from './support';

// What the upstream receives besides the request itself: who is calling (headers and a signed JWT it can
// verify), the route's injected headers, clean hop-by-hop hygiene, and nothing a client could spoof.

afterEach(() => {
  vi.restoreAllMocks();
});

async function gatewayKeys() {
  const res = await call('/.well-known/jwks.json');
  expect(res.status).toBe(200);
  return createLocalJWKSet((await res.json()) as JSONWebKeySet);
}

describe('identity', () => {
  it('replaces spoofed identity headers with the gateway’s own', async () => {
    const { user, created } = await userWithToken({ scopes: ['read'] });
    const upstream = fakeUpstream();
    const res = await call('/svc/me', {
      headers: {
        ...bearer(created.token),
        'x-pat-user-id': 'usr_attacker',
        'X-PAT-Scopes': 'admin read write',
        'x-pat-identity': 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhdHRhY2tlciJ9.',
        'x-pat-token-id': 'tok_forged',
        'x-pat-subject': 'someone-else',
      },
    });
    expect(res.status).toBe(200);
    const { owner_id } = (await (await getWith(`/tokens/${created.id}`, user.jwt)).json()) as TokenBody;
    const { headers } = upstream.only();
    expect(headers.get('x-pat-user-id')).toBe(owner_id);
    expect(headers.get('x-pat-token-id')).toBe(created.id);
    expect(headers.get('x-pat-scopes')).toBe('read');
    expect(headers.get('x-pat-subject')).toBe(user.subject);
    expect(headers.get('x-pat-identity')).not.toContain('eyJhbGciOiJub25lIn0');
  });

  it.each([
    [
      '/svc',
      [
        'x-pat-identity',
        'x-pat-scopes',
        'x-pat-subject',
        'x-pat-token-id',
        'x-pat-token-type',
        'x-pat-user-id',
      ],
    ],
    ['/id-headers', ['x-pat-scopes', 'x-pat-subject', 'x-pat-token-id', 'x-pat-token-type', 'x-pat-user-id']],
    ['/id-jwt', ['x-pat-identity']],
    ['/id-none', []],
  ])('route identity setting: %s sends %j, and never what the client sent', async (route, expected) => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    for (let i = 0; i < 2; i++) {
      const res = await call(`${route}/me`, {
        headers: { ...bearer(created.token), 'x-pat-user-id': 'usr_attacker', 'x-pat-identity': 'forged' },
      });
      expect(res.status).toBe(200);
      // The expiry header goes to the client whatever the setting.
      expect(res.headers.get('x-pat-token-expiration')).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    for (const { headers } of upstream.requests) {
      const sent = [...headers.keys()].filter((name) => name.startsWith('x-pat-')).sort();
      expect(sent).toEqual(expected);
      expect(headers.get('x-pat-user-id')).not.toBe('usr_attacker');
      expect(headers.get('x-pat-identity')).not.toBe('forged');
    }
  });

  it('drops identity headers spelled with underscores, which CGI, WSGI and Rack read as dashes', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const res = await call('/svc/me', {
      headers: { ...bearer(created.token), x_pat_user_id: 'usr_attacker', 'x-pat_token-id': 'tok_forged' },
    });
    expect(res.status).toBe(200);
    const names = [...upstream.only().headers.keys()];
    expect(
      names.filter((name) => name.replaceAll('_', '-').startsWith('x-pat-') && name.includes('_')),
    ).toEqual([]);
  });

  it('drops address claims, cf-* and injected header names spelled with underscores; keeps other underscore names', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const res = await call('/svc/rpc', {
      headers: {
        ...bearer(created.token),
        x_real_ip: '6.6.6.6',
        true_client_ip: '6.6.6.6',
        cf_connecting_ip: '6.6.6.6',
        x_forwarded_for: '6.6.6.6',
        x_upstream_key: 'client-chosen',
        x_tenant_hint: 'kept',
      },
    });
    expect(res.status).toBe(200);
    const { headers } = upstream.only();
    expect([...headers.keys()].filter((n) => n.includes('_'))).toEqual(['x_tenant_hint']);
    expect(headers.get('x-upstream-key')).toBe('upstream-secret-value');
  });

  it('a WebSocket handshake keeps Connection: upgrade, and nothing else listed there', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream(() => new Response('no websocket here'));
    await call('/svc/ws', {
      headers: {
        ...bearer(created.token),
        Upgrade: 'websocket',
        Connection: 'Upgrade, x-pat-identity, x-pat-user-id, x-upstream-key, x-forwarded-for',
      },
    });
    const { headers } = upstream.only();
    expect(headers.get('connection')).toBe('upgrade');
    expect(headers.get('upgrade')).toBe('websocket');
    expect(headers.get('x-upstream-key')).toBe('upstream-secret-value');
  });

  it('sends an ES256 JWT that verifies against /.well-known/jwks.json, bound to the route', async () => {
    const { user, created } = await userWithToken();
    const upstream = fakeUpstream();
    expect((await call('/svc/me', { headers: bearer(created.token) })).status).toBe(200);
    const jwt = upstream.only().headers.get('x-pat-identity')!;
    const { owner_id, expires_at } = (await (
      await getWith(`/tokens/${created.id}`, user.jwt)
    ).json()) as TokenBody;

    const keys = await gatewayKeys();
    const { payload, protectedHeader } = await jwtVerify(jwt, keys, {
      issuer: 'pat-gateway',
      audience: 'svc',
      algorithms: ['ES256'],
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'test-signing-key' });
    expect(payload).toMatchObject({ sub: owner_id, scope: 'read write', token_id: created.id });
    expect(payload.exp! * 1000).toBeGreaterThan(Date.now());
    expect(payload.exp! * 1000).toBeLessThanOrEqual(Date.parse(expires_at!));
    // Another route's upstream must not accept it.
    await expect(jwtVerify(jwt, keys, { issuer: 'pat-gateway', audience: 'ipfs' })).rejects.toThrow();
  });

  it('tells the client when its token expires (x-pat-token-expiration)', async () => {
    const { created } = await userWithToken();
    fakeUpstream();
    const res = await call('/svc/me', { headers: bearer(created.token) });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-pat-token-expiration')).toBe(new Date(created.expires_at!).toISOString());
  });
});

describe('header hygiene', () => {
  it('strips hop-by-hop headers and those named in Connection, keeps end-to-end ones', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const res = await call('/svc/rpc', {
      headers: {
        ...bearer(created.token),
        Connection: 'keep-alive, X-Session-Hint',
        'Keep-Alive': 'timeout=5',
        TE: 'trailers',
        'Proxy-Authorization': 'Basic cHJveHk6c2VjcmV0',
        'X-Session-Hint': 'drop me',
        Accept: 'application/json',
        'User-Agent': 'gateway-test/1.0',
        'X-Custom': 'keep me',
      },
    });
    expect(res.status).toBe(200);
    const { headers } = upstream.only();
    for (const name of ['connection', 'keep-alive', 'te', 'proxy-authorization', 'x-session-hint']) {
      expect(headers.has(name), name).toBe(false);
    }
    expect(headers.get('accept')).toBe('application/json');
    expect(headers.get('user-agent')).toBe('gateway-test/1.0');
    expect(headers.get('x-custom')).toBe('keep me');
  });

  it('adds the route’s injected headers, overriding any the client sent', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    await call('/svc/rpc', {
      headers: { ...bearer(created.token), 'x-upstream-key': 'client-guess', 'x-static': 'no' },
    });
    expect(upstream.only().headers.get('x-upstream-key')).toBe('upstream-secret-value');
    expect(upstream.only().headers.get('x-static')).toBe('yes');
  });

  it('injects nothing on routes without inject_headers', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    await call('/keep/x', { headers: bearer(created.token) });
    expect(upstream.only().headers.has('x-upstream-key')).toBe(false);
  });

  it('sets x-forwarded-for from cf-connecting-ip, replacing a client-sent value', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    await call('/svc/rpc', {
      headers: { ...bearer(created.token), 'cf-connecting-ip': '203.0.113.7', 'x-forwarded-for': '10.6.6.6' },
    });
    expect(upstream.only().headers.get('x-forwarded-for')).toBe('203.0.113.7');
    // With no address from the edge, the client's claim is dropped, not passed on.
    await call('/svc/rpc', { headers: { ...bearer(created.token), 'x-forwarded-for': '10.6.6.6' } });
    expect(upstream.requests[1]!.headers.has('x-forwarded-for')).toBe(false);
  });

  it("does not pass on a client's own claims about its address (Forwarded, X-Real-IP and kin)", async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const claims = {
      forwarded: 'for=1.2.3.4;proto=https',
      'x-real-ip': '1.2.3.4',
      'x-client-ip': '1.2.3.4',
      'true-client-ip': '1.2.3.4',
      'x-forwarded-port': '1',
      'x-original-url': '/admin',
      'x-original-uri': '/admin',
      'x-forwarded-uri': '/admin',
      'x-forwarded-path': '/admin',
      'x-envoy-original-path': '/admin',
      x_forwarded_uri: '/admin',
    };
    await call('/svc/rpc', {
      headers: { ...bearer(created.token), 'cf-connecting-ip': '203.0.113.7', ...claims },
    });
    const { headers } = upstream.only();
    for (const name of Object.keys(claims)) expect(headers.has(name), name).toBe(false);
    expect(headers.get('x-forwarded-for')).toBe('203.0.113.7');
  });

  it('drops any other header that carries a token (a cookie, a custom header)', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    await call('/svc/rpc', {
      headers: {
        'x-pat': created.token,
        Cookie: `session=abc; pat=${created.token}`,
        'X-Debug': created.token,
        'X-Encoded': `v=${created.token.replace('_', '%5F')}`,
      },
    });
    expect(leaks(upstream.only(), created.token)).toEqual([]);
    expect(upstream.only().headers.has('x-encoded')).toBe(false);
  });

  it("never forwards the gateway's own credentials: Cloudflare Access (header and cookie), the UI session", async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const access = 'eyJhbGciOiJSUzI1NiJ9.access.jwt';
    const send = (cookie: string) =>
      call('/svc/rpc', {
        headers: {
          ...bearer(created.token),
          'Cf-Access-Jwt-Assertion': access,
          'Cf-Access-Client-Secret': 'service-secret',
          Cookie: cookie,
        },
      });
    expect((await send(`a=1; CF_Authorization=${access}; __Secure-pat_session=sess; b=2`)).status).toBe(200);
    expect((await send(`CF_Authorization=${access}`)).status).toBe(200);
    const [mixed, only] = upstream.requests;
    expect(mixed!.headers.get('cookie')).toBe('a=1; b=2');
    expect(only!.headers.has('cookie')).toBe(false);
    // Two Cookie fields, which the runtime joins with ", ".
    const twice = new Headers(bearer(created.token));
    twice.append('cookie', 'a=1');
    twice.append('cookie', `__Secure-pat_session=sess; CF_Authorization=${access}; j={"x":1,"y":2}`);
    expect((await call('/svc/rpc', { headers: twice })).status).toBe(200);
    expect(upstream.requests[2]!.headers.get('cookie')).toBe('a=1; j={"x":1,"y":2}');
    for (const received of upstream.requests) {
      expect(received.headers.has('cf-access-jwt-assertion')).toBe(false);
      expect(received.headers.has('cf-access-client-secret')).toBe(false);
      expect(leaks(received, access)).toEqual([]);
      expect(leaks(received, 'sess')).toEqual([]);
    }
  });
});

describe('URL mapping', () => {
  it('strip_prefix false forwards /keep/x as /keep/x', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    expect((await call('/keep/x?y=1', { headers: bearer(created.token) })).status).toBe(200);
    expect(upstream.only().url.href).toBe('http://upstream.test/keep/x?y=1');
  });

  it("keeps the upstream URL's own query first, and a client cannot repeat its parameters", async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    await call('/keyed/items?page=2&tenant=evil&api_key=mine', { headers: bearer(created.token) });
    expect(upstream.only().url.href).toBe('http://upstream.test/v2/items?tenant=acme&api_key=k%201&page=2');
  });

  it('forwards the other query parameters byte for byte when a query token is removed', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    await call(`/svc/rpc?q=a%20b&token=${created.token}&path=/x/y&flag`);
    expect(upstream.only().url.search).toBe('?q=a%20b&path=/x/y&flag');
  });

  it('the hosted route matches on Host and forwards the whole path', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const res = await gatewayFetch('http://api.example.test/v1/things?q=1', {
      headers: bearer(created.token),
    });
    expect(res.status).toBe(200);
    expect(upstream.only().url.href).toBe('http://host-upstream.test/v1/things?q=1');
    expect(upstream.only().headers.get('x-forwarded-host')).toBe('api.example.test');
    // The same path on another host matches no route.
    await expectProblem(await call('/v1/things', { headers: bearer(created.token) }), 404, 'not_found');
    expect(upstream.requests).toHaveLength(1);
  });

  it('a host name that carries a token is a 400, so the token never reaches the upstream in x-forwarded-host', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const res = await gatewayFetch(`http://${created.token}.gw.test/svc/rpc`, {
      headers: bearer(created.token),
    });
    const problem = await expectProblem(res, 400, 'invalid_request');
    expect(JSON.stringify(problem).toLowerCase()).not.toContain(created.token.toLowerCase());
    expect(upstream.requests).toEqual([]);
    // A host name that merely holds the prefix is fine.
    expect(
      (await gatewayFetch('http://pat_docs.gw.test/svc/rpc', { headers: bearer(created.token) })).status,
    ).toBe(200);
  });

  it('a path no route matches is a 404 not_found, never proxied', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    for (const path of ['/nowhere', '/svcx/rpc', '/api/v1/unknown', '/api/v1/tokens/x/y/z']) {
      await expectProblem(await call(path, { headers: bearer(created.token) }), 404, 'not_found');
    }
    expect(upstream.requests).toEqual([]);
  });

  it('reserved gateway paths are never proxied, even on a host-bound route', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const res = await gatewayFetch('http://api.example.test/api/v1/unknown', {
      headers: bearer(created.token),
    });
    await expectProblem(res, 404, 'not_found');
    expect(upstream.requests).toEqual([]);
  });
});
