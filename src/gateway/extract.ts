import { isWellFormedToken } from '../tokens/format';
import type { Route } from './routes-config';

// Finding the token in a request, and everything that must not reach the upstream. Every well-formed token in
// the request is stripped, whether or not this route accepts its source: a token is never forwarded.

/** Token header names recognised on every route (seeds 001 and 002), stripped even where not accepted. */
export const KNOWN_TOKEN_HEADERS = ['x-pat', 'x-auth-token'];

export type TokenSource = 'bearer' | 'basic' | 'header' | 'query' | 'path';

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

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** True when the value contains a well-formed token anywhere (e.g. inside a Cookie header). */
function containsToken(value: string, prefix: string): boolean {
  let at = value.indexOf(prefix);
  while (at >= 0) {
    if (isWellFormedToken(value.slice(at, at + prefix.length + 36), prefix)) return true;
    at = value.indexOf(prefix, at + 1);
  }
  return false;
}

export function extractToken(
  request: Request,
  url: URL,
  segments: string[],
  route: Route,
  prefix: string,
): Extraction {
  const sources = route.token_sources;
  const found = new Map<string, TokenSource>();
  const result: Extraction = {
    token: null,
    source: null,
    conflict: false,
    inUrl: false,
    stripHeaders: new Set(),
    stripQuery: new Set(),
    stripSegments: new Set(),
  };
  const offer = (token: string, source: TokenSource) => {
    if (!found.has(token)) found.set(token, source);
  };

  const authorization = request.headers.get('authorization');
  if (authorization) {
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space < 0 ? undefined : space).toLowerCase();
    const credentials = space < 0 ? '' : authorization.slice(space + 1).trim();
    if (scheme === 'bearer' && sources.bearer) {
      offer(credentials, 'bearer');
      result.stripHeaders.add('authorization');
    } else if (scheme === 'basic' && sources.basic) {
      const basic = decodeBasic(credentials);
      // Git, npm and pip put the token in the password; some tools put it in the user name.
      const token =
        basic && !isWellFormedToken(basic.pass, prefix) && isWellFormedToken(basic.user, prefix)
          ? basic.user
          : (basic?.pass ?? '');
      offer(token, 'basic');
      result.stripHeaders.add('authorization');
    } else if (
      containsToken(scheme === 'basic' ? `${authorization} ${atobSafe(credentials)}` : authorization, prefix)
    ) {
      result.stripHeaders.add('authorization');
    }
  }

  for (const name of new Set([...KNOWN_TOKEN_HEADERS, ...sources.headers])) {
    const value = request.headers.get(name);
    if (value === null) continue;
    result.stripHeaders.add(name);
    if (sources.headers.includes(name)) offer(value.trim(), 'header');
  }

  // Any other header carrying a token (a cookie, a custom header) is dropped too.
  for (const [name, value] of request.headers) {
    if (!result.stripHeaders.has(name) && value.includes(prefix) && containsToken(value, prefix))
      result.stripHeaders.add(name);
  }

  if (url.search) {
    for (const [name, value] of url.searchParams) {
      if (sources.query.includes(name)) {
        offer(value, 'query');
        result.stripQuery.add(name);
        result.inUrl = true;
      } else if (containsToken(value, prefix) || containsToken(name, prefix)) {
        result.stripQuery.add(name);
        result.inUrl = true;
      }
    }
  }

  const accepted = sources.path === 'first' ? 0 : sources.path === 'last' ? segments.length - 1 : -1;
  segments.forEach((segment, index) => {
    const decoded = decodeSegment(segment);
    if (!isWellFormedToken(decoded, prefix)) return;
    result.stripSegments.add(index);
    result.inUrl = true;
    if (index === accepted) offer(decoded, 'path');
  });

  if (found.size > 1) result.conflict = true;
  const first = found.entries().next().value;
  if (first) [result.token, result.source] = first;
  return result;
}

function atobSafe(value: string): string {
  try {
    return atob(value);
  } catch {
    return '';
  }
}
