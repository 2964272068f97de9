import { AppError } from '../errors';
import { echoUpstream } from './echo';
import type { Extraction } from './extract';
import { IDENTITY_HEADER_PREFIX } from './identity';
import { isReservedPath, type Route } from './routes-config';

// Building the upstream request and relaying the answer: header hygiene (RFC 9110 §7.6.1 hop-by-hop fields),
// token stripping, identity injection, streaming bodies both ways, no redirect following, 502/504 on failure.

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

export interface RouteMatch {
  route: Route;
  /** Path segments after the route prefix (raw, still percent-encoded). */
  segments: string[];
}

export function matchRoute(routes: Route[], url: URL): RouteMatch | null {
  const path = url.pathname;
  // The gateway's own paths are never proxied, whatever the host.
  if (isReservedPath(path)) return null;
  for (const route of routes) {
    const host = route.match.host;
    if (host && host !== url.host && host !== url.hostname) continue;
    const { prefix } = route;
    if (prefix !== '' && path !== prefix && !path.startsWith(`${prefix}/`)) continue;
    const rest = path.slice(prefix.length);
    return { route, segments: rest === '' ? [] : rest.slice(1).split('/') };
  }
  return null;
}

function joinPath(base: string, rest: string): string {
  if (rest === '') return base || '/';
  return base.replace(/\/+$/, '') + rest;
}

/** Drops the named parameters and keeps every other one byte for byte (upstreams may sign the raw query). */
function filterQuery(search: string, drop: Set<string>): string {
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) => {
      const name = pair.split('=', 1)[0]!;
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // Not valid percent-encoding: compare it as written.
      }
      return !drop.has(decoded);
    });
  return kept.length ? `?${kept.join('&')}` : '';
}

export function upstreamUrl(match: RouteMatch, url: URL, extraction: Extraction, upstreamBase: string): URL {
  const { route, segments } = match;
  const kept = segments.filter((_, index) => !extraction.stripSegments.has(index));
  const rest = segments.length === 0 ? '' : `/${kept.join('/')}`;
  const target = new URL(upstreamBase);
  target.pathname = joinPath(target.pathname, route.strip_prefix ? rest : route.prefix + rest);
  target.search =
    extraction.stripQuery.size === 0 ? url.search : filterQuery(url.search, extraction.stripQuery);
  return target;
}

export function upstreamHeaders(
  request: Request,
  route: Route,
  extraction: Extraction,
  identity: [string, string][],
): Headers {
  const websocket = request.headers.get('upgrade')?.toLowerCase() === 'websocket';
  const listed = new Set(
    (request.headers.get('connection') ?? '')
      .toLowerCase()
      .split(',')
      .map((h) => h.trim()),
  );
  const headers = new Headers();
  for (const [name, value] of request.headers) {
    if (
      extraction.stripHeaders.has(name) ||
      name.startsWith(IDENTITY_HEADER_PREFIX) ||
      name.startsWith('cf-')
    )
      continue;
    if (
      (HOP_BY_HOP.has(name) || listed.has(name)) &&
      !(websocket && (name === 'upgrade' || name === 'connection'))
    )
      continue;
    headers.append(name, value);
  }
  const clientIp = request.headers.get('cf-connecting-ip');
  if (clientIp) headers.set('x-forwarded-for', clientIp);
  const url = new URL(request.url);
  headers.set('x-forwarded-proto', url.protocol.slice(0, -1));
  headers.set('x-forwarded-host', url.host);
  for (const [name, value] of route.injectHeaders) headers.set(name, value);
  for (const [name, value] of identity) headers.set(name, value);
  return headers;
}

function upstreamError(status: 502 | 504, routeName: string): AppError {
  return status === 504
    ? new AppError(504, 'upstream_timeout', 'Upstream timeout', {
        detail: `The upstream of route ${routeName} did not answer in time.`,
      })
    : new AppError(502, 'upstream_unavailable', 'Bad gateway', {
        detail: `The upstream of route ${routeName} could not be reached.`,
      });
}

/** Sends the request upstream; the timeout covers waiting for the response head, not streaming the body. */
export async function sendUpstream(
  request: Request,
  route: Route,
  env: Record<string, unknown>,
): Promise<Response> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, route.timeout_ms);
  const upstream = route.upstream;
  try {
    const outbound = new Request(request, { signal: controller.signal });
    if ('builtin' in upstream) return await echoUpstream(outbound);
    if ('service' in upstream) return await (env[upstream.service] as Fetcher).fetch(outbound);
    return await fetch(outbound);
  } catch (error) {
    console.error(
      JSON.stringify({
        event: 'upstream_failed',
        route: route.name,
        timed_out: timedOut,
        error: String(error),
      }),
    );
    throw upstreamError(timedOut ? 504 : 502, route.name);
  } finally {
    clearTimeout(timer);
  }
}

/** The upstream's answer with hop-by-hop fields removed and the gateway's own headers added. */
export function relayResponse(response: Response, extra: [string, string][]): Response {
  if (response.status === 101) return response;
  const headers = new Headers();
  for (const [name, value] of response.headers) if (!HOP_BY_HOP.has(name)) headers.append(name, value);
  for (const [name, value] of extra) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
