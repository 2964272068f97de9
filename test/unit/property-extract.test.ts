import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractToken, headerList } from '../../src/gateway/extract';
import { matchRoute, upstreamHeaders, upstreamUrl } from '../../src/gateway/forward';
import { isWellFormedToken } from '../../src/tokens/format';
import { secretForms, testRoute, tokenArb } from '../reliability-support';

// Property tests for finding the token in a request (src/gateway/extract.ts) and keeping it from the upstream
// (src/gateway/forward.ts): arbitrary headers, query strings and path segments, with generated tokens embedded
// anywhere. extractToken never throws; every well-formed token present is in a strip set; and neither the
// rewritten URL nor the rewritten headers carry any of them. Requests are built and parsed as the Worker does.

const ROUTES = ['svc', 'echo', 'ipfs', 'headers-only', 'keep'] as const;
const CLIENT = { clientIp: null, proto: 'http', host: 'gateway.test' };
const printable = fc.string({ unit: fc.constantFrom(...'abcXYZ0189 -_.~:/=;,+*!()@[]{}"\''), maxLength: 10 });
const headerName = fc.stringMatching(/^x-[a-z0-9-]{1,10}$/);

/** Where a token goes in a header value: alone, or inside other text (a cookie, a JSON blob…). */
const headerValue = (token: string) =>
  fc.oneof(
    fc.constant(token),
    fc.tuple(printable, printable).map(([a, b]) => `${a}${token}${b}`),
  );

const authorization = (token: string) =>
  fc.oneof(
    fc.constantFrom(`Bearer ${token}`, `bearer   ${token} `, `Token ${token}`, `PAT ${token}`),
    fc
      .constantFrom(`git:${token}`, `${token}:x-oauth-basic`, `${token}:`, `:${token}`)
      .map((pair) => `Basic ${btoa(pair)}`),
  );

/** A query part written the ways clients write it: plain, fully percent-encoded, or with `_` encoded. */
const encodedQueryPart = (text: string) =>
  fc.constantFrom(
    text,
    [...text].map((ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''),
    text.replace(/_/g, '%5F'),
  );

interface Plan {
  route: (typeof ROUTES)[number];
  tokens: string[];
  headers: [string, string][];
  query: string[];
  segments: string[];
}

const planArb: fc.Arbitrary<Plan> = fc
  .tuple(fc.constantFrom(...ROUTES), fc.array(tokenArb, { minLength: 1, maxLength: 3 }))
  .chain(([route, tokens]) => {
    const pick = fc.constantFrom(...tokens);
    const header = fc.oneof(
      fc.tuple(fc.constantFrom('x-pat', 'x-auth-token', 'cookie'), pick.chain(headerValue)),
      fc.tuple(headerName, pick.chain(headerValue)),
      fc.tuple(fc.constant('authorization'), pick.chain(authorization)),
      fc.tuple(headerName, printable),
    );
    const param = fc.oneof(
      fc
        .tuple(fc.constantFrom('token', 'access_token', 'q', 'key'), pick)
        .chain(([n, t]) => encodedQueryPart(t).map((v) => `${n}=${v}`)),
      pick.chain(encodedQueryPart),
      fc.tuple(printable, printable).map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`),
    );
    const segment = fc.oneof(
      pick,
      pick.map((t) => t.replace('_', '%5F')),
      // Dot segments are the traversal suite's business (property-forward): the URL parser removes them.
      fc.stringMatching(/^[a-zA-Z0-9._~-]{0,8}$/).filter((s) => s !== '.' && s !== '..'),
    );
    return fc.record({
      route: fc.constant(route),
      tokens: fc.constant(tokens),
      headers: fc.uniqueArray(header, { maxLength: 5, selector: ([name]) => name }),
      query: fc.array(param, { maxLength: 4 }),
      segments: fc.array(segment, { maxLength: 5 }),
    });
  });

function build(plan: Plan) {
  const route = testRoute(plan.route);
  const search = plan.query.length ? `?${plan.query.join('&')}` : '';
  const request = new Request(`http://gateway.test${route.prefix}/${plan.segments.join('/')}${search}`, {
    headers: plan.headers,
  });
  const url = new URL(request.url);
  const match = matchRoute([route], url);
  if (!match) throw new Error(`route ${plan.route} did not match ${url.pathname}`);
  const headers = headerList(request.headers);
  const extraction = extractToken(headers, url, match.segments, route, 'pat_');
  return { route, request, headers, url, match, extraction };
}

const decode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

const containsToken = (text: string) =>
  [...text.matchAll(/pat_[0-9A-Za-z]{36}/g)].some(([candidate]) => isWellFormedToken(candidate, 'pat_'));

describe('extractToken', () => {
  it('never throws, whatever the headers, query and path', () => {
    const anything = fc.string({ unit: 'binary', maxLength: 30 });
    const raw = fc.string({ unit: fc.constantFrom(...'%/?&=;#+.\\25fFeE0aZ_'), maxLength: 30 });
    fc.assert(
      fc.property(
        fc.constantFrom(...ROUTES),
        anything,
        raw,
        raw,
        printable,
        (name, text, path, query, value) => {
          const route = testRoute(name);
          const request = new Request(
            `http://gateway.test${route.prefix}/${encodeURIComponent(text)}/${path}?${query}=${encodeURIComponent(text)}`,
            { headers: { authorization: `Basic ${value}`, 'x-pat': value, cookie: `${value}=${value}` } },
          );
          const url = new URL(request.url);
          const match = matchRoute([route], url);
          if (match) extractToken(headerList(request.headers), url, match.segments, route, 'pat_');
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('puts every header, query parameter and path segment that holds a token in a strip set', () => {
    fc.assert(
      fc.property(planArb, (plan) => {
        const { request, url, match, extraction } = build(plan);
        for (const [name, value] of request.headers) {
          const basic = /^basic\s+(\S+)$/i.exec(value)?.[1];
          if (containsToken(value) || (basic && containsToken(atob(basic))))
            expect(extraction.stripHeaders, name).toContain(name);
        }
        for (const [name, value] of url.searchParams) {
          if (containsToken(name) || containsToken(value))
            expect(extraction.stripQuery, name).toContain(name);
        }
        match.segments.forEach((segment, index) => {
          if (containsToken(decode(segment))) expect(extraction.stripSegments, segment).toContain(index);
        });
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('request rewriting (upstreamUrl, upstreamHeaders)', () => {
  it('never forwards any of the tokens, in any form, in the URL or the headers', () => {
    fc.assert(
      fc.property(planArb, (plan) => {
        const { route, request, headers, url, match, extraction } = build(plan);
        const target = upstreamUrl(match, url, extraction);
        const out = upstreamHeaders(request, headers, route, extraction, [], CLIENT);
        const forwarded = [target, decode(target), ...[...out].flat()].join('\n');
        for (const token of plan.tokens) {
          for (const form of secretForms(token)) expect(forwarded).not.toContain(form);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  // A segment holding a token among other characters (`/files/pat_….json`, `rpc;key=pat_…`) cannot be forwarded
  // without the token, nor meaningfully without the segment: extraction flags it and the proxy answers 400.
  it('never forwards a token embedded inside a path segment', () => {
    fc.assert(
      fc.property(
        tokenArb,
        printable,
        fc.constantFrom('.json', ';v=1', '-x', '.', ':'),
        (token, before, after) => {
          const segment = encodeURIComponent(`${before.replace(/[./\\;]/g, '')}${token}`) + after;
          const { extraction } = build({
            route: 'svc',
            tokens: [token],
            headers: [],
            query: [],
            segments: ['v1', segment],
          });
          expect(extraction.embedded).toBe(true);
          expect(extraction.stripSegments.size).toBe(0);
        },
      ),
    );
  });

  // Parameter names that are not valid UTF-8 percent-encoding (%C0%AF, %FF): filterQuery must decode each name
  // exactly as extraction did (URLSearchParams, which yields U+FFFD) or the parameter would be kept.
  it('never forwards a token in a parameter whose name is not valid UTF-8 percent-encoding', () => {
    fc.assert(
      fc.property(tokenArb, fc.constantFrom('%C0%AF', '%FF', '%E0%A4%A', 'x%80'), (token, name) => {
        const { url, match, extraction } = build({
          route: 'svc',
          tokens: [token],
          headers: [],
          query: [`${name}=${token}`],
          segments: [],
        });
        expect(upstreamUrl(match, url, extraction)).not.toContain(token);
      }),
    );
  });
});
