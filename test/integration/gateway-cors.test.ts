import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeUpstream } from '../gateway-support';
import { bearer, call } from '../helpers';
import { expectProblem, userWithToken } from './support';

// CORS on proxied routes: a route with a `cors` policy (test/vars.ts: /browser with two origins and credentials,
// /public-cors with any origin) lets a browser app on another origin call it with a token in a header. The
// gateway answers preflights itself, and the upstream's own CORS headers give way to the route's policy.

afterEach(() => {
  vi.restoreAllMocks();
});

const APP = 'https://app.example.test';

function preflight(path: string, origin: string, method = 'DELETE', headers = 'x-pat, content-type') {
  return call(path, {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': method,
      'Access-Control-Request-Headers': headers,
    },
  });
}

/** An upstream answer with CORS headers of its own, which the route's policy must replace. */
const upstreamWithCors = () =>
  fakeUpstream(
    () =>
      new Response('{"items":[]}', {
        headers: {
          'content-type': 'application/json',
          'access-control-allow-origin': '*',
          'access-control-allow-methods': 'GET',
          'access-control-expose-headers': 'x-secret-header',
          vary: 'Accept-Encoding',
          'x-upstream-page': '2',
        },
      }),
  );

describe('preflight', () => {
  it('is answered by the gateway for an allowed origin, without a token and without the upstream', async () => {
    const upstream = fakeUpstream();
    const res = await preflight('/browser/items/7', APP);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toBe('DELETE');
    // The token headers the route accepts, then the policy's own.
    expect(res.headers.get('access-control-allow-headers')).toBe(
      'authorization, x-pat, content-type, x-trace',
    );
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-max-age')).toBe('120');
    expect(res.headers.get('vary')).toBe(
      'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    );
    expect(upstream.requests).toHaveLength(0);
  });

  it('names each allowed origin exactly: another one, or a look-alike, gets 403 without CORS headers', async () => {
    const upstream = fakeUpstream();
    for (const origin of [
      'https://evil.test',
      'https://app.example.test.evil.test',
      'http://app.example.test',
      'null',
    ]) {
      const res = await preflight('/browser/items', origin);
      const problem = await expectProblem(res, 403, 'origin_not_allowed');
      expect(problem.detail).not.toContain(origin);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
    // The second configured origin works too.
    const local = await preflight('/browser/items', 'http://localhost:5173', 'GET');
    expect(local.status).toBe(204);
    expect(local.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses a requested method that is not an HTTP method (400)', async () => {
    const res = await preflight('/browser/items', APP, 'GET POST');
    await expectProblem(res, 400, 'invalid_request');
  });

  it('on a route open to any origin: `*`, no credentials, and only that route’s token headers', async () => {
    const res = await preflight('/public-cors/x', 'https://anyone.test', 'POST', 'x-api-token');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    // Neither Bearer nor Basic is accepted there, so Authorization is not offered.
    expect(res.headers.get('access-control-allow-headers')).toBe('x-api-token, content-type');
    expect(res.headers.get('access-control-max-age')).toBe('600');
  });

  it('a route without a CORS policy is unchanged: the preflight carries no token, so 401', async () => {
    const upstream = fakeUpstream();
    const res = await preflight('/svc/items', APP);
    await expectProblem(res, 401, 'missing_token');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('answers and errors', () => {
  it('an allowed origin gets the route’s CORS headers in place of the upstream’s', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    const upstream = upstreamWithCors();
    const res = await call('/browser/items', { headers: { Origin: APP, 'x-pat': created.token } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ items: [] });
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-expose-headers')).toBe(
      'x-pat-token-expiration, x-request-id, retry-after, www-authenticate, x-upstream-page',
    );
    expect(res.headers.get('access-control-allow-methods')).toBeNull();
    expect(res.headers.get('vary')).toBe('Accept-Encoding, Origin');
    expect(res.headers.get('x-upstream-page')).toBe('2');
    // The upstream still learns the origin (it may log or check it), never the token.
    const { headers } = upstream.only();
    expect(headers.get('origin')).toBe(APP);
    expect(headers.get('x-pat')).toBeNull();
  });

  it('another origin is still served (CORS is the browser’s check) but gets no CORS headers', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    upstreamWithCors();
    const res = await call('/browser/items', {
      headers: { Origin: 'https://evil.test', 'x-pat': created.token },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-expose-headers')).toBeNull();
    expect(res.headers.get('vary')).toBe('Accept-Encoding, Origin');
    // Without any Origin (curl, servers) the same.
    const plain = await call('/browser/items', { headers: { 'x-pat': created.token } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('errors carry the CORS headers, so the app can read why (401, 403)', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    const upstream = fakeUpstream();
    const missing = await call('/browser/items', { headers: { Origin: APP } });
    await expectProblem(missing, 401, 'missing_token');
    const invalid = await call('/browser/items', { headers: { Origin: APP, 'x-pat': `${created.token}x` } });
    await expectProblem(invalid, 401, 'invalid_token');
    const scope = await call('/browser/items', {
      method: 'POST',
      headers: { Origin: APP, 'x-pat': created.token },
    });
    await expectProblem(scope, 403, 'insufficient_scope');
    for (const res of [missing, invalid, scope]) {
      expect(res.headers.get('access-control-allow-origin')).toBe(APP);
      expect(res.headers.get('access-control-allow-credentials')).toBe('true');
      expect(res.headers.get('access-control-expose-headers')).toContain('www-authenticate');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="pat-gateway"/);
      expect(res.headers.get('vary')).toBe('Origin');
    }
    const evil = await call('/browser/items', { headers: { Origin: 'https://evil.test' } });
    await expectProblem(evil, 401, 'missing_token');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(upstream.requests).toHaveLength(0);
  });

  it('an OPTIONS request that is not a preflight is proxied with its token as usual', async () => {
    const { created } = await userWithToken({ scopes: ['read', 'write'] });
    const upstream = fakeUpstream(() => new Response(null, { status: 204, headers: { allow: 'GET, POST' } }));
    const res = await call('/browser/items', {
      method: 'OPTIONS',
      headers: { Origin: APP, 'x-pat': created.token },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('allow')).toBe('GET, POST');
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(upstream.only().method).toBe('OPTIONS');
  });

  it('a token in the query on an any-origin route: `*` and no Vary on Origin', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream(() => new Response('ok'));
    const res = await call(`/public-cors/x?token=${created.token}`, {
      headers: { Origin: 'https://anyone.test' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toBeNull();
    expect(upstream.only().url.search).toBe('');
  });

  it('an any-origin route sends `*` with or without an Origin, so a cached answer serves every site', async () => {
    const { created } = await userWithToken();
    fakeUpstream(() => new Response('ok', { headers: { 'cache-control': 'public, max-age=600' } }));
    const res = await call('/public-cors/x', { headers: { 'x-api-token': created.token } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=600');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('x-pat-token-expiration');
    const missing = await call('/public-cors/x');
    await expectProblem(missing, 401, 'missing_token');
    expect(missing.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('a route without a CORS policy relays the upstream’s own CORS headers untouched', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    upstreamWithCors();
    const res = await call('/svc/items', { headers: { Origin: APP, ...bearer(created.token) } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toBe('x-secret-header');
    expect(res.headers.get('vary')).toBe('Accept-Encoding');
  });
});
