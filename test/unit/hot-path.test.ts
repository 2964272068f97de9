import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Extraction, noExtraction } from '../../src/gateway/extract';
import { matchRoute, type RouteMatch, requestUrl, upstreamUrl } from '../../src/gateway/forward';
import { compileRoutes, routesSchema } from '../../src/gateway/routes-config';
import { hashToken } from '../../src/tokens/hash';

// The hot path's shortcuts must agree with the slow, obvious code they replace: requestUrl() with the URL
// parser, upstreamUrl() with URL-object construction, and hashToken()'s ASCII copy with TextEncoder.

const parts = (url: {
  protocol: string;
  host: string;
  hostname: string;
  pathname: string;
  search: string;
}) => ({
  protocol: url.protocol,
  host: url.host,
  hostname: url.hostname,
  pathname: url.pathname,
  search: url.search,
});

describe('requestUrl', () => {
  it('agrees with URL on the URLs a Worker receives', () => {
    for (const raw of [
      'http://gateway.test/',
      'http://gateway.test',
      'https://api.example.test:8443/svc/x?y=1',
      'http://127.0.0.1:8787/echo/a%20b/pat_x?token=abc&q=%2F#frag',
      'http://[::1]:8787/ipfs/x?',
      'http://[::1]/ipfs/x',
      'http://user:pw@gateway.test:81/a/b/?c=d?e#f?g',
      'http://gateway.test/a?#x',
      'http://gateway.test/?',
    ]) {
      const href = new URL(raw).href;
      expect(parts(requestUrl(href)), raw).toEqual(parts(new URL(href)));
    }
  });

  it('agrees with URL on generated URLs', () => {
    const text = fc.string({ unit: fc.constantFrom(...'aZ09-._~%/?#&=+:@[] é'), maxLength: 20 });
    const host = fc.constantFrom(
      'gateway.test',
      'api.example.test:8443',
      '127.0.0.1:8787',
      '[::1]:8787',
      '[::1]',
    );
    fc.assert(
      fc.property(fc.constantFrom('http', 'https'), host, text, (scheme, authority, rest) => {
        let url: URL;
        try {
          url = new URL(`${scheme}://${authority}/${rest}`);
        } catch {
          return;
        }
        expect(parts(requestUrl(url.href))).toEqual(parts(url));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('hashToken encoding', () => {
  it('hashes non-ASCII input exactly as its UTF-8 bytes', async () => {
    const pepper = { version: 1, secret: 'hot-path-pepper-0123456789abcdef0123' };
    const key = await crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(pepper.secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    for (const input of ['pat_ascii0123456789', 'pat_é€😀', '', 'x'.repeat(300)]) {
      const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(input)));
      const hex = Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
      expect(await hashToken(input, pepper), input).toBe(hex);
    }
  });

  it('gives each of many concurrent calls its own hash', async () => {
    const pepper = { version: 1, secret: 'hot-path-pepper-concurrency-0123456789ab' };
    const inputs = Array.from({ length: 50 }, (_, i) => `pat_concurrent_${i}`);
    const together = await Promise.all(inputs.map((input) => hashToken(input, pepper)));
    const oneByOne: string[] = [];
    for (const input of inputs) oneByOne.push(await hashToken(input, pepper));
    expect(together).toEqual(oneByOne);
    expect(new Set(together).size).toBe(inputs.length);
  });
});

// The URL-object implementation upstreamUrl() replaced, kept here as the reference it must agree with.
function referenceUpstreamUrl(match: RouteMatch, url: URL, extraction: Extraction, base: string): string {
  const { route, segments } = match;
  const kept = segments.filter((_, index) => !extraction.stripSegments.has(index));
  // Nothing left once token segments are gone: the upstream URL's own path, with no slash added.
  const rest = kept.length === 0 ? '' : `/${kept.join('/')}`;
  const target = new URL(base);
  const tail = route.strip_prefix ? rest : route.prefix + rest;
  target.pathname = tail === '' ? target.pathname || '/' : target.pathname.replace(/\/+$/, '') + tail;
  // The upstream URL's own parameters first, then the request's.
  target.search = [target.search.slice(1), url.search.slice(1)].filter(Boolean).join('&');
  return target.href;
}

describe('upstreamUrl', () => {
  const none = noExtraction();

  it('agrees with the URL-object construction for any upstream base, prefix and path', () => {
    const base = fc.constantFrom(
      'http://up.test',
      'http://up.test/',
      'http://up.test/base',
      'http://up.test/base/',
      'https://up.test:8443/v2//',
      'http://[::1]:9000/a/b',
      'https://up.test/v2?api_key=s%20x',
      'http://up.test?k=1&j',
    );
    const segment = fc.stringMatching(/^[a-zA-Z0-9._~%-]{0,6}$/);
    fc.assert(
      fc.property(
        base,
        fc.boolean(),
        fc.array(segment, { maxLength: 4 }),
        fc.constantFrom('', '?a=1', '?a=%2F&b', '?'),
        fc.array(fc.nat(4), { maxLength: 2 }),
        (upstream, strip, segments, query, stripped) => {
          const [route] = compileRoutes(
            routesSchema.parse([
              { name: 'r', match: { path_prefix: '/r' }, upstream: { url: upstream }, strip_prefix: strip },
            ]),
            {},
            [],
          ).routes;
          const url = new URL(
            `http://gateway.test/r${segments.length ? `/${segments.join('/')}` : ''}${query}`,
          );
          const match = matchRoute([route!], url);
          if (!match) return;
          const extraction = { ...none, stripSegments: new Set(stripped) };
          expect(upstreamUrl(match, url, extraction)).toBe(
            referenceUpstreamUrl(match, url, extraction, upstream),
          );
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
