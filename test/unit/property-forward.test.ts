import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractToken, headerList } from '../../src/gateway/extract';
import { matchRoute, upstreamUrl } from '../../src/gateway/forward';
import { assertUnambiguousPath } from '../../src/http/path-safety';
import { escapesBase, testRoute, tokenArb, traversalPathArb } from '../reliability-support';

// Property tests for the forwarded path (src/gateway/forward.ts upstreamUrl): whatever the client puts after a
// route's prefix — `..`, `%2e%2e`, encoded slashes (%2F, %5C), double encoding (%252e%252e), `;`, `//`,
// backslashes — the upstream request stays on the upstream's origin and under its base path. The request URL is
// parsed with `new URL` as the Worker parses it, and the result as fetch() would parse it.

/** The upstream URL for `path` after route `name`'s prefix, or null when the path no longer matches the route. */
function forward(name: string, path: string, token: string): URL | null {
  const route = testRoute(name);
  const request = new Request(`http://gateway.test${route.prefix}/${path}`, { headers: { 'x-pat': token } });
  const url = new URL(request.url);
  const match = matchRoute([route], url);
  if (!match) return null;
  // The gateway refuses (400 invalid_path) what an upstream could read as another path: nothing is forwarded.
  try {
    assertUnambiguousPath(url.pathname);
  } catch {
    return null;
  }
  const extraction = extractToken(headerList(request.headers), url, match.segments, route, 'pat_');
  return new URL(upstreamUrl(match, url, extraction));
}

describe('the forwarded path never leaves the route', () => {
  it('stays on the upstream origin, under /base, as the URL parser reads it', () => {
    fc.assert(
      fc.property(traversalPathArb, tokenArb, (path, token) => {
        const target = forward('svc', path, token);
        if (!target) return; // normalised out of /svc: the route does not apply, nothing is forwarded
        expect(target.origin).toBe('http://upstream.test');
        expect(target.pathname === '/base' || target.pathname.startsWith('/base/'), target.pathname).toBe(
          true,
        );
      }),
      { numRuns: 3_000 },
    );
  });

  it('a prefix-keeping route (strip_prefix: false) always forwards under its own prefix', () => {
    fc.assert(
      fc.property(traversalPathArb, tokenArb, (path, token) => {
        const target = forward('keep', path, token);
        if (!target) return;
        expect(target.origin).toBe('http://upstream.test');
        expect(target.pathname === '/keep' || target.pathname.startsWith('/keep/'), target.pathname).toBe(
          true,
        );
      }),
      { numRuns: 1_000 },
    );
  });

  it('dot segments in any spelling are resolved before routing, so they can never climb out of /svc', () => {
    for (const dots of ['..', '%2e%2e', '.%2e', '%2E.', '%2E%2E']) {
      expect(forward('svc', `${dots}/${dots}/etc/passwd`, 'x')).toBeNull();
      expect(forward('svc', `a/${dots}/b`, 'x')?.pathname).toBe('/base/b');
    }
  });

  // Encoded slashes and backslashes, double-encoded dots (%252e%252e) and `..;` (Tomcat) would take an upstream
  // that decodes before routing out of the route: src/http/path-safety.ts refuses them (400 invalid_path), except
  // encoded slashes alone, which stay inside the route whatever the upstream makes of them.
  it('stays under /base however leniently the upstream decodes it', () => {
    fc.assert(
      fc.property(traversalPathArb, tokenArb, (path, token) => {
        const target = forward('svc', path, token);
        if (target) expect(escapesBase(target.pathname, '/base'), target.pathname).toBe(false);
      }),
      { numRuns: 3_000 },
    );
  });

  // On a route whose upstream base is `/` (ipfs), `/ipfs//evil.test/x` would reach an upstream that resolves its
  // request-target as a URL reference as host `evil.test`: empty segments are refused (400 invalid_path).
  it('never starts with `//` (a network-path reference to another host)', () => {
    fc.assert(
      fc.property(traversalPathArb, tokenArb, (path, token) => {
        const target = forward('ipfs', path, token);
        if (target) expect(new URL(target.pathname, 'http://ipfs.test').host).toBe('ipfs.test');
      }),
      { numRuns: 1_000 },
    );
  });
});
