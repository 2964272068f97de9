import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeUpstream } from '../gateway-support';
import { bearer, call } from '../helpers';
import { userWithToken } from './support';

afterEach(() => {
  vi.restoreAllMocks();
});

/** A WebSocket handshake answer, as an upstream that accepts the upgrade gives it. */
function handshake(headers: [string, string][] = []): Response {
  const pair = new WebSocketPair();
  pair[1].accept();
  return new Response(null, { status: 101, webSocket: pair[0], headers });
}

const UPGRADE = { Upgrade: 'websocket', Connection: 'Upgrade' };

describe('WebSocket handshakes through the gateway', () => {
  it("an upstream's 101 cannot set the gateway's own cookies (UI session, Cloudflare Access)", async () => {
    const { created } = await userWithToken();
    fakeUpstream(() =>
      handshake([
        ['set-cookie', '__Secure-pat_session=eyJhbGciOi.forged.jwt; Path=/ui; Secure'],
        ['set-cookie', 'CF_Authorization=forged; Path=/'],
      ]),
    );
    const res = await call('/svc/ws', { headers: { ...bearer(created.token), ...UPGRADE } });
    expect(res.status).toBe(101);
    expect(res.headers.getAll('set-cookie')).toEqual([]);
  });

  it('a read-only token cannot open a WebSocket on a route whose other methods need write', async () => {
    const { created } = await userWithToken({ scopes: ['read'] });
    const upstream = fakeUpstream(() => handshake());
    const res = await call('/svc/ws', { headers: { ...bearer(created.token), ...UPGRADE } });
    expect(upstream.requests).toHaveLength(0);
    expect(res.status).toBe(403);
  });
});

describe('a 101 nobody asked for', () => {
  it('an upstream 101 to a request without Upgrade: websocket is a 502, not a runtime error', async () => {
    const { created } = await userWithToken();
    fakeUpstream(() => handshake());
    const res = await call('/svc/plain', { headers: bearer(created.token) });
    expect(res.status).toBe(502);
  });
});

describe('uploads', () => {
  it('Expect: 100-continue is not passed on (the runtime returns an upstream’s 100 as its whole answer)', async () => {
    const { created } = await userWithToken();
    const upstream = fakeUpstream(() => new Response('stored'));
    const res = await call('/svc/upload', {
      method: 'POST',
      headers: { ...bearer(created.token), Expect: '100-continue' },
      body: 'x'.repeat(5000),
    });
    expect(res.status).toBe(200);
    expect(upstream.only().headers.get('expect')).toBeNull();
  });
});

describe('caching of answers to requests that carried a token', () => {
  it('an answer to a request authenticated by a token header is not storable by shared caches', async () => {
    const { created } = await userWithToken();
    fakeUpstream(() => new Response('secret data', { headers: { 'cache-control': 'max-age=600' } }));
    const res = await call('/svc/private', { headers: { 'x-pat': created.token } });
    expect(res.status).toBe(200);
    const cc = res.headers.get('cache-control') ?? '';
    const vary = res.headers.get('vary') ?? '';
    expect(/private|no-store/.test(cc) || /x-pat|\*/i.test(vary), `cache-control: ${cc}; vary: ${vary}`).toBe(
      true,
    );
    expect(cc).toBe('private, max-age=600');
  });

  it('an answer without Cache-Control is private; one the upstream says may be shared keeps its word', async () => {
    const { created } = await userWithToken();
    const answers: (string | null)[] = [null, 'public, max-age=60', 'max-age=60, s-maxage=30', 'no-store'];
    fakeUpstream(() => {
      const cacheControl = answers.shift();
      return new Response('x', cacheControl ? { headers: { 'cache-control': cacheControl } } : {});
    });
    const seen: (string | null)[] = [];
    for (let i = 0; i < 4; i++)
      seen.push((await call('/svc/x', { headers: bearer(created.token) })).headers.get('cache-control'));
    expect(seen).toEqual(['private', 'public, max-age=60', 'max-age=60, s-maxage=30', 'no-store']);
  });
});
