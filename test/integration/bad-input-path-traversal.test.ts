import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type FakeUpstream, fakeUpstream } from '../gateway-support';
import { BASE, call } from '../helpers';
import { escapesBase, traversalPathArb } from '../reliability-support';
import { userWithToken } from './support';

// Path traversal through the Worker's real fetch handler: random paths under /svc built from `..`, encoded and
// double-encoded dots and slashes, backslashes, `;` and `//`. Whatever happens, the fake upstream never receives
// a request outside its base path /base (or on another host), and the gateway never answers 5xx.

let token: string;
let upstream: FakeUpstream;

beforeAll(async () => {
  token = (await userWithToken()).created.token;
  upstream = fakeUpstream(() => new Response('ok'));
});

afterAll(() => {
  vi.restoreAllMocks();
});

/** Sends `path` after /svc/ with a valid token; returns the status and what the upstream got (if anything). */
async function send(path: string) {
  const seen = upstream.requests.length;
  const res = await call(`/svc/${path}`, { headers: { 'x-pat': token } });
  await res.arrayBuffer();
  return { status: res.status, received: upstream.requests.slice(seen) };
}

describe('random traversal paths under /svc', () => {
  it('never reach the upstream outside /base or on another host, and are never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(traversalPathArb, async (path) => {
        const { status, received } = await send(path);
        expect(status, path).toBeLessThan(500);
        for (const r of received) {
          expect(r.url.host).toBe('upstream.test');
          expect(r.url.pathname === '/base' || r.url.pathname.startsWith('/base/'), r.url.pathname).toBe(
            true,
          );
        }
        // A path the URL parser moved out of /svc is not this route's: nothing is forwarded to its upstream.
        if (!new URL(`${BASE}/svc/${path}`).pathname.startsWith('/svc')) expect(received).toHaveLength(0);
      }),
      { numRuns: 300 },
    );
  });

  it('classic payloads', async () => {
    for (const path of ['../../etc/passwd', '%2e%2e/%2e%2e/admin', '..\\..\\admin', '.%2e/.%2e/admin']) {
      const { status, received } = await send(path);
      expect(status, path).toBe(404);
      expect(received, path).toHaveLength(0);
    }
  });

  it('never reach the upstream with a path that escapes /base once decoded', async () => {
    for (const path of [
      '..%2F..%2Fadmin',
      '..%5C..%5Cadmin',
      '%252e%252e/%252e%252e/admin',
      '..;/..;/admin',
    ]) {
      const { received } = await send(path);
      for (const r of received) expect(escapesBase(r.url.pathname, '/base'), r.url.pathname).toBe(false);
    }
  });
});
