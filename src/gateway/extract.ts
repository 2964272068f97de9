import { decodeFully, decodeOnce } from '../lib/percent';
import { BODY_LENGTH, isWellFormedToken } from '../tokens/format';
import type { Route } from './routes-config';

// Finding the token in a request, and everything that must not reach the upstream. Every well-formed token in
// the request is stripped, whether or not this route accepts its source: a token is never forwarded.
// This runs on every proxied request, so it reads the headers from one list (see `headerList`) instead of
// asking the runtime's Headers object again for each name, and allocates nothing per route it can precompute.

/** Token header names recognised on every route (seeds 001 and 002), stripped even where not accepted. */
export const KNOWN_TOKEN_HEADERS = ['x-pat', 'x-auth-token'];

export type TokenSource = 'bearer' | 'basic' | 'header' | 'query' | 'path';

/** The request's headers as lower-case `[name, value]` pairs, read from the runtime once per request. */
export type HeaderList = [string, string][];

export interface Extraction {
  /** The single token presented through an accepted source (possibly malformed), or null. */
  token: string | null;
  source: TokenSource | null;
  /** Two different tokens were presented. */
  conflict: boolean;
  /** A token (accepted or not) was in the query or path: the response must not be cached or leak via Referer. */
  inUrl: boolean;
  stripHeaders: Set<string>;
  stripQuery: Set<string>;
  /** Indexes (into the segments after the prefix) of path segments that held tokens. */
  stripSegments: Set<number>;
  /**
   * A path segment holds a token among other characters (`/files/pat_….json`), or encoded more than once. Such a
   * path cannot be forwarded without the token nor meaningfully without the segment: the request is refused.
   */
  embedded: boolean;
}

export function headerList(headers: Headers): HeaderList {
  return [...headers];
}

/** The value of a header in the list (names are lower case), or null. */
export function headerValue(list: HeaderList, name: string): string | null {
  for (const entry of list) if (entry[0] === name) return entry[1];
  return null;
}

/** Per route: the token header names to look at (known ones first, then the route's own), and which it accepts. */
const tokenHeadersByRoute = new WeakMap<Route, { names: string[]; accepted: Set<string> }>();

function tokenHeaders(route: Route) {
  let entry = tokenHeadersByRoute.get(route);
  if (!entry) {
    const accepted = route.token_sources.headers;
    entry = { names: [...new Set([...KNOWN_TOKEN_HEADERS, ...accepted])], accepted: new Set(accepted) };
    tokenHeadersByRoute.set(route, entry);
  }
  return entry;
}

function decodeBasic(value: string): { user: string; pass: string } | null {
  try {
    const decoded = atob(value.trim());
    const colon = decoded.indexOf(':');
    return colon < 0 ? null : { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
  } catch {
    return null;
  }
}

function atobSafe(value: string): string {
  try {
    return atob(value);
  } catch {
    return '';
  }
}

/**
 * The token a path segment is (after one percent-decoding), `EMBEDDED` when it holds one in any other way (inside
 * other text, or encoded twice), or null. Decoding only happens when the segment is long enough to hold one.
 */
function segmentToken(segment: string, prefix: string): string | typeof EMBEDDED | null {
  // Percent-decoding never lengthens a string, so a shorter segment cannot decode to a token.
  if (segment.length < prefix.length + BODY_LENGTH) return null;
  const once = segment.includes('%') ? decodeOnce(segment) : segment;
  if (isWellFormedToken(once, prefix)) return once;
  return containsToken(decodeFully(once), prefix) ? EMBEDDED : null;
}

const EMBEDDED = Symbol('embedded');

/** True when the value, or what it percent-decodes to, contains a well-formed token anywhere. */
function containsEncodedToken(value: string, prefix: string): boolean {
  return containsToken(value, prefix) || (value.includes('%') && containsToken(decodeFully(value), prefix));
}

const BASIC_CREDENTIALS = /\bbasic\s+([A-Za-z0-9+/=_-]+)/gi;

/** True when a `Basic <credentials>` inside the value (any case) decodes to something that holds a token. */
function basicCarriesToken(value: string, prefix: string): boolean {
  for (const match of value.matchAll(BASIC_CREDENTIALS)) {
    if (containsEncodedToken(atobSafe(match[1]!.replaceAll('-', '+').replaceAll('_', '/')), prefix))
      return true;
  }
  return false;
}

/** The comma-separated parts of a header field, trimmed; the value itself when it has no comma (the usual case). */
function fieldParts(value: string): string[] {
  if (!value.includes(',')) return [value.trim()];
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

/** True when the value contains a well-formed token anywhere (e.g. inside a Cookie header). */
function containsToken(value: string, prefix: string): boolean {
  let at = value.indexOf(prefix);
  while (at >= 0) {
    if (isWellFormedToken(value.slice(at, at + prefix.length + BODY_LENGTH), prefix)) return true;
    at = value.indexOf(prefix, at + 1);
  }
  return false;
}

/** An extraction that found nothing and strips nothing; extractToken fills one in. */
export function noExtraction(): Extraction {
  return {
    token: null,
    source: null,
    conflict: false,
    inUrl: false,
    stripHeaders: new Set(),
    stripQuery: new Set(),
    stripSegments: new Set(),
    embedded: false,
  };
}

export function extractToken(
  headers: HeaderList,
  url: { search: string },
  segments: string[],
  route: Route,
  prefix: string,
): Extraction {
  const sources = route.token_sources;
  const result = noExtraction();
  // The first token offered wins; a different second one is a conflict.
  const offer = (token: string, source: TokenSource) => {
    if (result.token === null) {
      result.token = token;
      result.source = source;
    } else if (token !== result.token) result.conflict = true;
  };

  const { names, accepted } = tokenHeaders(route);
  let authorization: string | null = null;
  const named = new Map<string, string>();
  for (const [name, value] of headers) {
    if (name === 'authorization') authorization = value;
    else if (names.includes(name)) named.set(name, value);
    // Any other header carrying a token (a cookie, a custom header), even percent-encoded (cookie libraries decode
    // values) or as Basic credentials (`X-Forwarded-Authorization: Basic …`), is dropped too.
    // Base64 is longer than what it encodes: a value shorter than a token cannot hold one as Basic credentials.
    else if (
      containsEncodedToken(value, prefix) ||
      (value.length > prefix.length + BODY_LENGTH && basicCarriesToken(value, prefix))
    )
      result.stripHeaders.add(name);
  }

  // A field sent twice (two Authorization lines, `x-pat` and `X-PAT`) reaches the Worker joined with ", ": each
  // part is offered on its own, so the same token twice is one token and two different ones are a conflict.
  // Tokens and Basic credentials never contain a comma.
  if (authorization) for (const part of fieldParts(authorization)) offerAuthorization(part);
  function offerAuthorization(value: string) {
    const space = value.indexOf(' ');
    const scheme = value.slice(0, space < 0 ? undefined : space).toLowerCase();
    const credentials = space < 0 ? '' : value.slice(space + 1).trim();
    if (scheme === 'bearer' && sources.bearer) {
      offer(credentials, 'bearer');
      result.stripHeaders.add('authorization');
    } else if (scheme === 'basic' && sources.basic) {
      const basic = decodeBasic(credentials);
      // Git, npm and pip put the token in the password; some tools put it in the user name. Both at once must be
      // the same token: two different ones are a conflict, as anywhere else.
      const userIsToken = basic !== null && isWellFormedToken(basic.user, prefix);
      if (userIsToken && isWellFormedToken(basic.pass, prefix)) offer(basic.user, 'basic');
      offer(
        userIsToken && !isWellFormedToken(basic.pass, prefix) ? basic.user : (basic?.pass ?? ''),
        'basic',
      );
      result.stripHeaders.add('authorization');
    } else if (
      containsEncodedToken(value, prefix) ||
      (scheme === 'basic' && containsEncodedToken(atobSafe(credentials), prefix))
    ) {
      result.stripHeaders.add('authorization');
    }
  }

  if (named.size) {
    for (const name of names) {
      const value = named.get(name);
      if (value === undefined) continue;
      result.stripHeaders.add(name);
      if (accepted.has(name)) for (const part of fieldParts(value)) offer(part, 'header');
    }
  }

  if (url.search) {
    for (const [name, value] of new URLSearchParams(url.search)) {
      if (sources.query.includes(name)) {
        offer(value, 'query');
        result.stripQuery.add(name);
        result.inUrl = true;
      } else if (containsEncodedToken(value, prefix) || containsEncodedToken(name, prefix)) {
        result.stripQuery.add(name);
        result.inUrl = true;
      }
    }
  }

  // `last` skips one trailing slash: `/rpc/TOKEN/` carries its token last as much as `/rpc/TOKEN` does.
  const last =
    segments.length > 1 && segments[segments.length - 1] === '' ? segments.length - 2 : segments.length - 1;
  const acceptedIndex = sources.path === 'first' ? 0 : sources.path === 'last' ? last : -1;
  for (let index = 0; index < segments.length; index++) {
    const token = segmentToken(segments[index]!, prefix);
    if (token === null) continue;
    if (token === EMBEDDED) {
      result.embedded = true;
      result.inUrl = true;
      continue;
    }
    result.stripSegments.add(index);
    result.inUrl = true;
    if (index === acceptedIndex) offer(token, 'path');
  }
  return result;
}
