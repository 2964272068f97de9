import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeFully } from '../../src/lib/percent';
import { fakeUpstream, leaks } from '../gateway-support';
import { bearer, call } from '../helpers';
import { expectProblem, userWithToken } from './support';

// Every way a client can present its token (issue 3 §7), and the promise that goes with each: the request is
// authenticated, and the token reaches the upstream nowhere: not in the URL, not in a header, not in the body.

afterEach(() => {
  vi.restoreAllMocks();
});

const basic = (user: string, pass: string) => ({ Authorization: `Basic ${btoa(`${user}:${pass}`)}` });
const BODY = '{"jsonrpc":"2.0","method":"eth_blockNumber","id":1}';

interface SourceCase {
  source: string;
  request: (token: string) => { path: string; headers?: Record<string, string> };
  upstreamUrl: string;
  inUrl: boolean;
}

const CASES: SourceCase[] = [
  {
    source: 'Authorization: Bearer',
    request: (t) => ({ path: '/svc/ext/rpc?x=1', headers: bearer(t) }),
    upstreamUrl: 'http://upstream.test/base/ext/rpc?x=1',
    inUrl: false,
  },
  {
    source: 'Authorization: Basic, token as password',
    request: (t) => ({ path: '/svc/ext/rpc?x=1', headers: basic('x-access-token', t) }),
    upstreamUrl: 'http://upstream.test/base/ext/rpc?x=1',
    inUrl: false,
  },
  {
    source: 'Authorization: Basic, token as user name',
    request: (t) => ({ path: '/svc/ext/rpc?x=1', headers: basic(t, 'x-oauth-basic') }),
    upstreamUrl: 'http://upstream.test/base/ext/rpc?x=1',
    inUrl: false,
  },
  {
    source: 'x-pat header',
    request: (t) => ({ path: '/svc/ext/rpc?x=1', headers: { 'x-pat': t } }),
    upstreamUrl: 'http://upstream.test/base/ext/rpc?x=1',
    inUrl: false,
  },
  {
    source: 'x-auth-token header',
    request: (t) => ({ path: '/svc/ext/rpc?x=1', headers: { 'X-Auth-Token': t } }),
    upstreamUrl: 'http://upstream.test/base/ext/rpc?x=1',
    inUrl: false,
  },
  {
    source: '?token=',
    request: (t) => ({ path: `/svc/ext/rpc?x=1&token=${t}&y=2` }),
    upstreamUrl: 'http://upstream.test/base/ext/rpc?x=1&y=2',
    inUrl: true,
  },
  {
    source: '?access_token=',
    request: (t) => ({ path: `/svc/ext/rpc?access_token=${t}` }),
    upstreamUrl: 'http://upstream.test/base/ext/rpc',
    inUrl: true,
  },
  {
    source: 'last path segment on svc',
    request: (t) => ({ path: `/svc/ext/bc/C/rpc/${t}` }),
    upstreamUrl: 'http://upstream.test/base/ext/bc/C/rpc',
    inUrl: true,
  },
  {
    // The README's Avalanche shape: nothing but the token after the prefix. No slash is added upstream.
    source: 'the token as the only segment',
    request: (t) => ({ path: `/svc/${t}` }),
    upstreamUrl: 'http://upstream.test/base',
    inUrl: true,
  },
  {
    source: 'last path segment before a trailing slash',
    request: (t) => ({ path: `/svc/ext/bc/C/rpc/${t}/` }),
    upstreamUrl: 'http://upstream.test/base/ext/bc/C/rpc/',
    inUrl: true,
  },
  {
    source: 'first path segment on ipfs',
    request: (t) => ({ path: `/ipfs/${t}/api/v0/cat?arg=QmHash` }),
    upstreamUrl: 'http://ipfs.test/api/v0/cat?arg=QmHash',
    inUrl: true,
  },
];

describe('each token source authenticates, and the token never reaches the upstream', () => {
  for (const { source, request, upstreamUrl, inUrl } of CASES) {
    it(source, async () => {
      const { created } = await userWithToken();
      const upstream = fakeUpstream(
        () => new Response('{"result":"0x1"}', { headers: { 'Cache-Control': 'public, max-age=60' } }),
      );
      const { path, headers } = request(created.token);
      const res = await call(path, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: BODY,
      });

      expect(res.status, await res.clone().text()).toBe(200);
      expect(await res.text()).toBe('{"result":"0x1"}');
      const received = upstream.only();
      expect(received.method).toBe('POST');
      expect(received.url.href).toBe(upstreamUrl);
      expect(received.headers.has('authorization')).toBe(false);
      expect(new TextDecoder().decode(received.body)).toBe(BODY);
      expect(received.headers.get('x-pat-token-id')).toBe(created.id);
      expect(leaks(received, created.token)).toEqual([]);
      // A token in the URL must not be cached by anyone or leak onward through Referer.
      if (inUrl) {
        expect(res.headers.get('Cache-Control')).toBe('private, no-store');
        expect(res.headers.get('Referrer-Policy')).toBe('no-referrer');
      } else {
        expect(res.headers.get('Cache-Control')).toBe('public, max-age=60');
      }
    });
  }
});

describe('path segments', () => {
  it('a last segment that is not a well-formed token is never taken as one', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const badChecksum = created.token.slice(0, -1) + (created.token.endsWith('A') ? 'B' : 'A');
    for (const segment of ['notatoken', badChecksum]) {
      const res = await call(`/svc/ext/bc/C/rpc/${segment}`);
      await expectProblem(res, 401, 'missing_token');
    }
    expect(upstream.requests).toEqual([]);

    const res = await call('/svc/ext/bc/C/rpc/notatoken', { headers: bearer(created.token) });
    expect(res.status).toBe(200);
    expect(upstream.only().url.href).toBe('http://upstream.test/base/ext/bc/C/rpc/notatoken');
  });

  it('on ipfs only the first segment is a token source; one further along is stripped but not used', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    await expectProblem(await call(`/ipfs/api/v0/${created.token}`), 401, 'missing_token');
    expect(upstream.requests).toEqual([]);
  });

  it('a percent-encoded token segment is recognised and removed too', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const encoded = created.token.replace('_', '%5F');
    expect((await call(`/svc/rpc/${encoded}`)).status).toBe(200);
    expect(upstream.only().url.href).toBe('http://upstream.test/base/rpc');
    expect(leaks(upstream.only(), created.token)).toEqual([]);
    expect(upstream.only().url.href).not.toContain(encoded);
  });
  it('a token inside a segment (`/files/pat_….json`, `;key=`, encoded twice) is a 400, and nothing is forwarded', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const t = created.token;
    const twice = encodeURIComponent(encodeURIComponent(t).replace('_', '%5F'));
    for (const path of [`/svc/files/${t}.json`, `/svc/rpc;key=${t}`, `/svc/v1/x-${t}`, `/svc/rpc/${twice}`]) {
      const res = await call(path, { headers: bearer(t) });
      const body = await expectProblem(res, 400, 'invalid_request');
      // Not even percent-encoded (`instance` is the path with token-like segments redacted).
      expect(decodeFully(JSON.stringify(body)), path).not.toContain(t);
    }
    expect(upstream.requests).toEqual([]);
  });
});

describe('query parameters', () => {
  it('a token under a parameter name that is not valid UTF-8 (%C0%AF, %FF) is removed too', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    for (const name of ['%C0%AF', '%FF', 'x%80']) {
      const res = await call(`/svc/rpc?a=1&${name}=${created.token}&b=2`, { headers: bearer(created.token) });
      expect(res.status).toBe(200);
    }
    for (const received of upstream.requests) {
      expect(received.url.search).toBe('?a=1&b=2');
      expect(leaks(received, created.token)).toEqual([]);
    }
    expect(upstream.requests).toHaveLength(3);
  });

  it('a token under a parameter name that starts with `?` (`??token=`, `&?x=`) is removed too', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const t = created.token;
    for (const query of [`??token=${t}`, `?a=1&?x=${t}`, `?a=1&?${t}=1`, `??access_token=${t}&b=2`]) {
      expect((await call(`/svc/rpc${query}`, { headers: bearer(t) })).status).toBe(200);
    }
    expect(upstream.requests.map((r) => r.url.search)).toEqual(['', '?a=1', '?a=1', '?b=2']);
    for (const received of upstream.requests) expect(leaks(received, t)).toEqual([]);
  });

  it('a token in a parameter value, plain or percent-encoded once or twice, is removed', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const once = created.token.replace('_', '%5F');
    for (const value of [`x${created.token}`, once, encodeURIComponent(once)]) {
      expect((await call(`/svc/rpc?q=${value}&keep=1`, { headers: bearer(created.token) })).status).toBe(200);
    }
    for (const received of upstream.requests) expect(received.url.search).toBe('?keep=1');
  });
});

describe('more than one token', () => {
  it('two different tokens are a 400 invalid_request, and nothing is forwarded', async () => {
    const { created: a } = await userWithToken();
    const { created: b } = await userWithToken();
    const upstream = fakeUpstream();
    const attempts = [
      call(`/svc/rpc?token=${b.token}`, { headers: bearer(a.token) }),
      call(`/svc/rpc/${b.token}`, { headers: { 'x-pat': a.token } }),
      call(`/svc/rpc?token=${a.token}&access_token=${b.token}`),
      // As Basic user name and password at once.
      call('/svc/rpc', { headers: basic(a.token, b.token) }),
    ];
    for (const res of await Promise.all(attempts)) {
      await expectProblem(res, 400, 'invalid_request');
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="pat-gateway", error="invalid_request"');
    }
    expect(upstream.requests).toEqual([]);
  });

  it('the same token as Basic user name and password is one token', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    expect((await call('/svc/rpc', { headers: basic(created.token, created.token) })).status).toBe(200);
    expect(upstream.only().headers.get('x-pat-token-id')).toBe(created.id);
  });

  // A field sent twice reaches the Worker as one value joined with ", " (x-pat + X-PAT, two Authorization lines).
  it('a header field sent twice: the same token is fine, two different ones are a 400', async () => {
    const { created: a } = await userWithToken();
    const { created: b } = await userWithToken();
    const upstream = fakeUpstream();
    const twice = (name: string, first: string, second: string) => {
      const headers = new Headers();
      headers.append(name, first);
      headers.append(name, second);
      return call('/svc/rpc', { headers });
    };
    expect((await twice('x-pat', a.token, a.token)).status).toBe(200);
    expect((await twice('authorization', `Bearer ${a.token}`, `Bearer ${a.token}`)).status).toBe(200);
    await expectProblem(await twice('x-pat', a.token, b.token), 400, 'invalid_request');
    await expectProblem(
      await twice('authorization', `Bearer ${a.token}`, `Bearer ${b.token}`),
      400,
      'invalid_request',
    );
    expect(upstream.requests).toHaveLength(2);
    for (const received of upstream.requests) expect(leaks(received, a.token)).toEqual([]);
  });

  it('the same token in several sources is fine', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const res = await call(`/svc/rpc/${created.token}?token=${created.token}`, {
      headers: { ...bearer(created.token), 'x-pat': created.token },
    });
    expect(res.status).toBe(200);
    expect(upstream.only().url.href).toBe('http://upstream.test/base/rpc');
    expect(leaks(upstream.only(), created.token)).toEqual([]);
  });
});

describe('sources a route does not accept (headers-only takes x-pat alone)', () => {
  it('Bearer, Basic and x-auth-token are not used: 401 missing_token', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    for (const headers of [
      bearer(created.token),
      basic('u', created.token),
      { 'x-auth-token': created.token },
    ]) {
      const res = await call('/hdr/items', { headers });
      await expectProblem(res, 401, 'missing_token');
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="pat-gateway"');
    }
    expect(upstream.requests).toEqual([]);
  });

  it('next to an accepted token, an unaccepted one is ignored and not forwarded', async () => {
    const { created: accepted } = await userWithToken();
    const { created: other } = await userWithToken();
    const upstream = fakeUpstream();
    const res = await call(`/hdr/items?token=${other.token}`, {
      headers: { 'x-pat': accepted.token, 'x-auth-token': other.token, ...bearer(other.token) },
    });
    expect(res.status).toBe(200);
    const received = upstream.only();
    expect(received.headers.get('x-pat-token-id')).toBe(accepted.id);
    expect(received.url.href).toBe('http://upstream.test/items');
    expect(leaks(received, accepted.token)).toEqual([]);
    expect(leaks(received, other.token)).toEqual([]);
    expect(res.headers.get('Cache-Control')).toBe('private, no-store');
  });

  it('an unaccepted Authorization with the token percent-encoded or in Basic credentials is not forwarded', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const encoded = created.token.replace('_', '%5F');
    for (const authorization of [
      `Bearer ${encoded}`,
      `Basic ${btoa(`git:${encoded}`)}`,
      `Basic ${btoa(`git:${created.token}`)}`,
    ]) {
      const res = await call('/hdr/items', { headers: { 'x-pat': created.token, authorization } });
      expect(res.status).toBe(200);
    }
    for (const received of upstream.requests) expect(received.headers.has('authorization')).toBe(false);
  });
});

describe('a token hidden in another header', () => {
  it('as Basic credentials (standard or URL-safe base64) in any header, it is removed', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream();
    const urlSafe = btoa(`git:${created.token}?>`).replaceAll('+', '-').replaceAll('/', '_');
    const res = await call('/svc/items', {
      headers: {
        ...bearer(created.token),
        'X-Forwarded-Authorization': `Basic ${btoa(`git:${created.token}`)}`,
        'x-original-auth': `basic ${urlSafe}`,
        'x-unrelated': 'Basic dXNlcjpwYXNz',
      },
    });
    expect(res.status).toBe(200);
    const { headers } = upstream.only();
    expect(headers.has('x-forwarded-authorization')).toBe(false);
    expect(headers.has('x-original-auth')).toBe(false);
    expect(headers.get('x-unrelated')).toBe('Basic dXNlcjpwYXNz');
    expect(leaks(upstream.only(), created.token)).toEqual([]);
  });
});
