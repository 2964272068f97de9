import { AppError } from '../errors';
import { decodeFully, decodeLookalikes } from '../lib/percent';
import { echoUpstream } from './echo';
import type { Extraction, HeaderList } from './extract';
import { HOP_BY_HOP } from './headers';
import { IDENTITY_HEADER_PREFIX } from './identity';
import { isReservedPath, type Route } from './routes-config';

// Building the upstream request and relaying the answer: header hygiene (RFC 9110 §7.6.1 hop-by-hop fields),
// token stripping, identity injection, streaming bodies both ways, no redirect following, 502/504 on failure.
// Every call into the runtime's Headers, URL and Request objects costs about a microsecond, so the hot path
// copies headers natively and edits only what changes, builds the upstream URL as a string, and makes one Request.

const NONE: ReadonlySet<string> = new Set();
/** Cache-Control that already says whether a shared cache may store the answer. */
const SHARED_OR_PRIVATE = /(^|,)\s*(public|private|no-store|s-maxage)\b/i;
/**
 * Headers that claim the client's address or the original request (its URL or path): the gateway states those
 * itself (`x-forwarded-*`), so a client's own are not passed on for an upstream to believe, or to route by instead
 * of the path the gateway checked.
 */
const CLIENT_ADDRESS = new Set([
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-forwarded-uri',
  'x-forwarded-path',
  'x-envoy-original-path',
]);

export interface RouteMatch {
  route: Route;
  /** Path segments after the route prefix (raw, still percent-encoded). */
  segments: string[];
}

/** The parts of the request URL that routing reads (a URL has them). */
export interface RoutedUrl {
  pathname: string;
  host: string;
  hostname: string;
}

/** The parts of the request URL the proxy reads (a URL has them too). */
export interface RequestUrl extends RoutedUrl {
  protocol: string;
  /** `?…`, or '' when there is no query (or an empty one), as URL.search. */
  search: string;
}

/**
 * Splits the runtime's request URL without building a URL object. `request.url` is an absolute http(s) URL
 * the runtime already serialized (WHATWG URL §4.5), so it is normalized and percent-encoded:
 * `scheme://[userinfo@]host[:port]/path[?query][#fragment]`.
 */
export function requestUrl(href: string): RequestUrl {
  const schemeEnd = href.indexOf('://');
  const authorityStart = schemeEnd + 3;
  let pathStart = href.indexOf('/', authorityStart);
  if (pathStart < 0) pathStart = href.length;
  const authority = href.slice(authorityStart, pathStart);
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  const portColon = host.lastIndexOf(':');
  const hostname = portColon > host.lastIndexOf(']') ? host.slice(0, portColon) : host;
  let end = href.indexOf('#', pathStart);
  if (end < 0) end = href.length;
  const queryStart = href.indexOf('?', pathStart);
  const pathEnd = queryStart >= 0 && queryStart < end ? queryStart : end;
  return {
    protocol: href.slice(0, schemeEnd + 1),
    host,
    hostname,
    pathname: pathStart < pathEnd ? href.slice(pathStart, pathEnd) : '/',
    search: pathEnd < end - 1 ? href.slice(pathEnd, end) : '',
  };
}

export function matchRoute(routes: Route[], url: RoutedUrl): RouteMatch | null {
  const path = url.pathname;
  // The gateway's own paths are never proxied, whatever the host, nor spelt with escapes (`/%61pi/…`), which the
  // router that serves them decodes.
  if (isReservedPath(path) || (path.includes('%') && isReservedPath(decodeFully(path)))) return null;
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

/**
 * Refuses a request that its route matched by its raw path but that a nested route's prefix covers once the path
 * is read as an upstream may read it: without the token segments the gateway removes, percent-decoded, without
 * `;parameters` (Tomcat, Spring), with `\` as `/` (IIS) and in any case (IIS, ASP.NET). Otherwise `/rpc/TOKEN/admin`,
 * `/rpc/%61dmin` or `/rpc/ADMIN` would reach the upstream path of route `/rpc/admin` with the scopes of `/rpc`.
 * Costs nothing for routes that have no nested route.
 */
export function assertRouteHolds(match: RouteMatch, url: RoutedUrl, stripSegments: Set<number>): void {
  const { route } = match;
  if (route.nested.length === 0) return;
  const kept = match.segments.filter((_, index) => !stripSegments.has(index));
  const read = kept
    .map((segment) => canonicalSegment(segment))
    .join('/')
    .replace(/;[^/]*/g, '');
  const path = `${decodeFully(route.prefix).toLowerCase()}/${read}`;
  for (const nested of route.nested) {
    if (nested.host && nested.host !== url.host && nested.host !== url.hostname) continue;
    if (path === nested.prefix || path.startsWith(`${nested.prefix}/`))
      throw new AppError(400, 'invalid_path', 'Invalid path', {
        detail: `Read as an upstream may read it, this path belongs to route ${nested.name}; send it as that route's path.`,
      });
  }
}

/**
 * A path segment as a lenient upstream may read it: without `;parameters`, decoded (with the lookalikes the path
 * check knows, when escapes are left after the ASCII ones: IIS `%u`, overlong UTF-8, NFKC), `\` as `/`, lower-cased,
 * and without the trailing dots and spaces IIS and Windows drop.
 */
export function canonicalSegment(segment: string): string {
  const bare = segment.includes(';') ? segment.slice(0, segment.indexOf(';')) : segment;
  let read = decodeFully(bare);
  if (read.includes('%')) read = decodeLookalikes(bare);
  return read
    .replaceAll('\\', '/')
    .toLowerCase()
    .split('/')
    .map((part) => part.replace(/[. ]+$/, ''))
    .join('/');
}

/**
 * Per route, the upstream URL's origin, path (as written, and without trailing slashes) and query (`a=1&b=2`, or
 * ''; an upstream's key often lives there), parsed once.
 */
const upstreamBases = new WeakMap<
  Route,
  { origin: string; path: string; trimmed: string; query: string; queryNames: Set<string> }
>();

function upstreamBase(route: Route) {
  let base = upstreamBases.get(route);
  if (!base) {
    const url = new URL('url' in route.upstream ? route.upstream.url : 'http://upstream.internal/');
    const origin = `${url.protocol}//${url.host}`; // no user info: the route schema refuses it
    base = {
      origin,
      path: url.pathname,
      trimmed: url.pathname.replace(/\/+$/, ''),
      query: url.search.slice(1),
      queryNames: new Set(url.searchParams.keys()),
    };
    upstreamBases.set(route, base);
  }
  return base;
}

/**
 * Drops the named parameters and keeps every other one byte for byte (upstreams may sign the raw query). Each
 * name is decoded by URLSearchParams, exactly as extraction read it, so malformed encodings match too.
 */
function filterQuery(search: string, drop: Set<string>): string {
  const kept = search
    .slice(1)
    .split('&')
    // URLSearchParams drops one leading `?` from its input; the pair is prefixed with one so that a name that
    // starts with `?` (`??token=…`, `&?x=…`) keeps it, as it did when extraction parsed the whole query.
    .filter((pair) => !drop.has(new URLSearchParams(`?${pair}`).keys().next().value ?? ''));
  return kept.length ? `?${kept.join('&')}` : '';
}

/**
 * The upstream URL: its origin and path, then the request's path after the route prefix (or the whole path
 * without strip_prefix) minus token segments, then the upstream URL's own query and the request's minus token
 * parameters. The pieces come from parsed URLs, so they are already percent-encoded.
 */
export function upstreamUrl(match: RouteMatch, url: { search: string }, extraction: Extraction): string {
  const { route, segments } = match;
  const strip = extraction.stripSegments;
  const kept = strip.size === 0 ? segments : segments.filter((_, index) => !strip.has(index));
  // Nothing left once the token segment is gone (`/avax/TOKEN`): the upstream URL's own path, with no slash added.
  const rest = kept.length === 0 ? '' : `/${kept.join('/')}`;
  const base = upstreamBase(route);
  const tail = route.strip_prefix ? rest : route.prefix + rest;
  const path = tail === '' ? base.path : base.trimmed + tail;
  const search =
    extraction.stripQuery.size === 0 ? url.search : filterQuery(url.search, extraction.stripQuery);
  if (base.query === '') return base.origin + path + search;
  // The route's own parameters first, then the client's, minus any the route sets (as inject_headers override).
  const own = search === '' ? '' : filterQuery(search, base.queryNames);
  return `${base.origin}${path}?${base.query}${own === '' ? '' : `&${own.slice(1)}`}`;
}

/** What the gateway adds about the client (the `x-forwarded-*` family). */
export interface Forwarded {
  clientIp: string | null;
  proto: string;
  host: string;
}

export function upstreamHeaders(
  request: Request,
  headers: HeaderList,
  route: Route,
  extraction: Extraction,
  identity: readonly (readonly [string, string])[],
  forwarded: Forwarded,
): Headers {
  let websocket = false;
  let listed = NONE;
  for (const [name, value] of headers) {
    if (name === 'upgrade') websocket = value.toLowerCase() === 'websocket';
    else if (name === 'connection')
      listed = new Set(
        value
          .toLowerCase()
          .split(',')
          .map((h) => h.trim()),
      );
  }
  // Copy natively, then remove what must not go upstream: the few deletions cost less than rebuilding.
  const out = new Headers(request.headers);
  for (const [name, value] of headers) {
    if (name === 'cookie' && !extraction.stripHeaders.has(name)) {
      const kept = withoutGatewayCookies(value);
      if (kept !== value) {
        if (kept) out.set(name, kept);
        else out.delete(name);
      }
    } else if (
      extraction.stripHeaders.has(name) ||
      name.startsWith(IDENTITY_HEADER_PREFIX) ||
      name.startsWith('cf-') ||
      CLIENT_ADDRESS.has(name) ||
      // Without the edge's address (off Cloudflare) the client's own claim is not passed on either.
      (name === 'x-forwarded-for' && !forwarded.clientIp) ||
      // CGI, WSGI and Rack read `_` as `-`: `x_pat_user_id` would spoof `x-pat-user-id` there, `x_real_ip` claim
      // an address, `x_upstream_key` shadow an injected header.
      (name.includes('_') && spoofsWithUnderscores(name.replaceAll('_', '-'), route)) ||
      ((HOP_BY_HOP.has(name) || listed.has(name)) &&
        !(websocket && (name === 'upgrade' || name === 'connection'))) ||
      // The runtime answers the client's Expect itself; passed on, an upstream's `100 Continue` would come back from
      // fetch as its whole answer (curl sends Expect with any upload over 1 MiB).
      name === 'expect'
    )
      out.delete(name);
  }
  // A handshake keeps its Connection field, but only as `upgrade`: any other name listed there asks the next hop
  // to drop that header, which could be the identity or an injected key.
  if (websocket && out.has('connection')) out.set('connection', 'upgrade');
  if (forwarded.clientIp) out.set('x-forwarded-for', forwarded.clientIp);
  out.set('x-forwarded-proto', forwarded.proto);
  out.set('x-forwarded-host', forwarded.host);
  for (const [name, value] of route.injectHeaders) out.set(name, value);
  for (const [name, value] of identity) out.set(name, value);
  return out;
}

/** A header name (underscores read as dashes) that names something the gateway removes or sets itself. */
function spoofsWithUnderscores(dashed: string, route: Route): boolean {
  return (
    dashed.startsWith(IDENTITY_HEADER_PREFIX) ||
    dashed.startsWith('cf-') ||
    dashed.startsWith('x-forwarded-') ||
    CLIENT_ADDRESS.has(dashed) ||
    route.injectHeaders.some(([injected]) => injected === dashed)
  );
}

/**
 * The gateway's own credentials never reach an upstream: Cloudflare Access's `CF_Authorization` cookie (its header
 * twin, `Cf-Access-Jwt-Assertion`, goes with every `cf-` header) and the web UI's session cookie, which a browser
 * only sends under /ui but any other client can send anywhere.
 */
const GATEWAY_COOKIES = new Set(['cf_authorization', '__secure-pat_session', 'pat_session']);

function withoutGatewayCookies(header: string): string {
  const lower = header.toLowerCase();
  if (!lower.includes('cf_authorization') && !lower.includes('pat_session')) return header;
  return (
    header
      // Repeated Cookie fields arrive joined with ", ": split there too, but only before another `name=`, so a
      // value that (against RFC 6265 §4.1.1) holds a comma, such as JSON, survives.
      .split(/;|,(?=\s*[^\s=;,]+=)/)
      .filter((pair) => !GATEWAY_COOKIES.has(pair.split('=', 1)[0]!.trim().toLowerCase()))
      .map((pair) => pair.trim())
      .join('; ')
  );
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

/** How a request frames its body: chunked (Transfer-Encoding), and its Content-Length as sent (or null). */
export interface BodyFraming {
  chunked: boolean;
  length: string | null;
}

export function bodyFraming(headers: HeaderList): BodyFraming {
  let chunked = false;
  let length: string | null = null;
  for (const [name, value] of headers)
    if (name === 'transfer-encoding') chunked = true;
    else if (name === 'content-length') length = value;
  return { chunked, length };
}

/** A Content-Length as a number of bytes, or null when it is not one plain number (`5, 5` from two fields is not). */
function statedLength(value: string | null | undefined): number | null {
  const digits = /^\s*(\d{1,15})\s*$/.exec(value ?? '');
  return digits ? Number(digits[1]) : null;
}

/** Bodies up to this length (stated by Content-Length) are read whole before the upstream is called. */
export const BUFFERED_BODY_MAX = 65_536;

/**
 * The body to send upstream. One whose Content-Length is at most BUFFERED_BODY_MAX (most API writes) is read whole
 * first, as nginx buffers request bodies: the upstream then gets it in one piece, never half of one from a client
 * that went away (`400 incomplete_body`), and its timeout counts only the upstream. The client gets the same rule the
 * upstream does: it may go `route.timeout_ms` without sending more (else `408 request_timeout`; nginx's
 * client_body_timeout). Reading it costs far less CPU than a stream watched for progress: a 1 KiB POST cost 322
 * against 499 µs of workerd CPU at c=32 (`npx tsx bench/compare.ts 27e3922 6 1000 1024`, one run; the bare proxy
 * 155). Longer or chunked bodies stream, watched by `sendUpstream`.
 */
export async function upstreamBody(
  request: Request,
  framing: BodyFraming,
  route: Route,
): Promise<Uint8Array | ReadableStream | null> {
  const body = request.body;
  if (body === null || framing.chunked) return body;
  const stated = statedLength(framing.length);
  if (stated === null || stated > BUFFERED_BODY_MAX) return body;
  const read = await readWhole(body, stated, route.timeout_ms);
  if (read === 'stalled')
    throw new AppError(408, 'request_timeout', 'Request timeout', {
      detail: `The request body stopped arriving for ${route.timeout_ms} ms before its ${stated} bytes were in.`,
    });
  if (read !== null) return read;
  throw new AppError(400, 'incomplete_body', 'Incomplete body', {
    detail: `The request body was not the ${stated} bytes its Content-Length stated (did the client go away?).`,
  });
}

/**
 * Exactly `stated` bytes of `body`, or null when it ends or fails before that or holds more (read no further than
 * one chunk past it), or 'stalled' when no part arrived for `timeoutMs`.
 */
async function readWhole(
  body: ReadableStream<Uint8Array>,
  stated: number,
  timeoutMs: number,
): Promise<Uint8Array | null | 'stalled'> {
  const reader = body.getReader();
  let stalled = false;
  // One timer, not one per part: when it fires it looks at when the last part came, and waits out the rest.
  let lastPart = Date.now();
  const check = () => {
    const quiet = Date.now() - lastPart;
    if (quiet < timeoutMs) {
      timer = setTimeout(check, timeoutMs - quiet);
      return;
    }
    stalled = true;
    // A pending read then resolves as done.
    reader.cancel().catch(() => {});
  };
  let timer = setTimeout(check, timeoutMs);
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || stalled) break;
      lastPart = Date.now();
      received += value.byteLength;
      if (received > stated) break;
      chunks.push(value);
    }
  } catch {
    return stalled ? 'stalled' : null;
  } finally {
    clearTimeout(timer);
  }
  if (stalled) return 'stalled';
  if (received !== stated) {
    reader.cancel().catch(() => {});
    return null;
  }
  if (chunks.length === 1) return chunks[0]!;
  const whole = new Uint8Array(stated);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  return whole;
}

/**
 * Sends the request upstream. The route's timeout is the longest the upstream may go without progress: while it
 * takes the request body, each part it takes starts the clock again (an upload that goes on for minutes is not a slow
 * upstream, one it stops taking is); then it has that long to send its response head. Cleared once the head is in:
 * a signal that fired later would cut a stream or WebSocket that JavaScript relays. `init` is handed to fetch as is
 * (one Request, built by the runtime), with the timeout's signal added.
 */
export async function sendUpstream(
  url: string,
  init: RequestInit,
  route: Route,
  env: Record<string, unknown>,
): Promise<Response> {
  const controller = new AbortController();
  let timedOut = false;
  let answered = false;
  const expire = () => {
    timedOut = true;
    controller.abort();
  };
  let timer = setTimeout(expire, route.timeout_ms);
  init.signal = controller.signal;
  if (init.body instanceof ReadableStream) {
    const rearm = () => {
      if (answered) return;
      clearTimeout(timer);
      timer = setTimeout(expire, route.timeout_ms);
    };
    init.body = watchUpload(init, rearm, (error) => {
      if (!answered) controller.abort(error);
    });
  }
  const upstream = route.upstream;
  try {
    if ('builtin' in upstream) return await echoUpstream(new Request(url, init));
    if ('service' in upstream) return await (env[upstream.service] as Fetcher).fetch(url, init);
    return await fetch(url, init);
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
    answered = true;
    clearTimeout(timer);
  }
}

/**
 * The request body as the upstream will read it, calling `progress` for each part the connection to the upstream
 * takes and once it has all of it. Read into fresh buffers of 64 KiB to 1 MiB (a byte reader) and written on, each
 * write awaited: 1–2 ms of CPU per MiB on a fast upload, where the runtime's 4 KiB chunks through a JavaScript
 * TransformStream cost 30 (the body passed through untouched: 0.5). The writable is native: a FixedLengthStream keeps
 * the Content-Length (an IdentityTransformStream would send the body chunked). An upload that fails (a body shorter
 * or longer than its Content-Length) aborts the upstream request (a 502) unless it has already answered.
 */
function watchUpload(
  init: RequestInit,
  progress: () => void,
  failed: (error: unknown) => void,
): ReadableStream {
  const length = statedLength((init.headers as Headers).get('content-length'));
  const pipe = length === null ? new IdentityTransformStream() : new FixedLengthStream(length);
  pump(init.body as ReadableStream<Uint8Array>, pipe.writable, progress).then(progress, failed);
  return pipe.readable;
}

const MIN_READ = 65_536;
const MAX_READ = 1_048_576;

async function pump(
  body: ReadableStream<Uint8Array>,
  writable: WritableStream<Uint8Array>,
  progress: () => void,
): Promise<void> {
  const reader = body.getReader({ mode: 'byob' });
  const writer = writable.getWriter();
  // 64 KiB, doubled up to 1 MiB while reads come back full (a fast client: fewer, cheaper rounds), back to 64 KiB
  // when one does not (a slow client holds no large buffer).
  let size = MIN_READ;
  try {
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(size));
      if (done) break;
      size = value.byteLength === size ? Math.min(size * 2, MAX_READ) : MIN_READ;
      progress();
      await writer.write(value);
    }
    await writer.close();
  } catch (error) {
    await Promise.allSettled([writer.abort(error), reader.cancel(error)]);
    throw error;
  }
}

/**
 * The upstream's answer with hop-by-hop fields removed and the gateway's own headers added. `websocket`: the
 * client asked for an upgrade, so a 101 is the handshake to relay.
 */
export function relayResponse(
  response: Response,
  extra: [string, string][],
  routeName: string,
  websocket: boolean,
): Response {
  if (response.status === 101 && websocket) return relayHandshake(response);
  // A Response cannot carry a status outside 200–599 (some upstreams answer 999), nor a 101 to a request that asked
  // for no upgrade: that is a bad gateway. An interim answer (100, 103 Early Hints) is what the runtime's fetch
  // returns when the upstream sends one first; the final answer behind it cannot be reached.
  if (response.status < 200 || response.status > 599) {
    console.error(
      JSON.stringify({ event: 'upstream_bad_status', route: routeName, status: response.status }),
    );
    const why =
      response.status === 101
        ? 'switched protocols for a request that asked for no upgrade'
        : response.status < 200
          ? `sent an interim ${response.status} answer first, which the gateway cannot relay (Early Hints included)`
          : `answered with status ${response.status}, which HTTP does not allow`;
    throw new AppError(502, 'upstream_unavailable', 'Bad gateway', {
      detail: `The upstream of route ${routeName} ${why}.`,
    });
  }
  // Same status, status text and (a mutable copy of the) headers; the body streams through untouched.
  const out = new Response(response.body, response);
  const headers = out.headers;
  // The request carried a credential a shared cache in front of the gateway may not know for one (`x-pat`, a query
  // or path token): unless the upstream said the answer may be shared, it is `private` (RFC 9111 §3.5's rule for
  // Authorization, applied to every token source).
  const cacheControl = headers.get('cache-control');
  if (cacheControl === null) headers.set('cache-control', 'private');
  else if (!SHARED_OR_PRIVATE.test(cacheControl)) headers.set('cache-control', `private, ${cacheControl}`);
  // Asking for each hop-by-hop name measured cheaper in workerd than iterating every header of the answer.
  for (const name of HOP_BY_HOP) if (headers.has(name)) headers.delete(name);
  if (headers.has('set-cookie')) dropGatewayCookies(headers);
  for (const [name, value] of extra) headers.set(name, value);
  return out;
}

/**
 * A WebSocket handshake as the upstream answered it, unless it sets the gateway's own cookies (browsers keep cookies
 * from a handshake): then the same handshake without them. Its headers cannot change in place.
 */
function relayHandshake(response: Response): Response {
  const cookies = response.headers.getAll('set-cookie');
  if (cookies.length === 0 || !cookies.some(isGatewayCookie)) return response;
  const headers = new Headers(response.headers);
  headers.delete('set-cookie');
  for (const cookie of cookies) if (!isGatewayCookie(cookie)) headers.append('set-cookie', cookie);
  return new Response(null, { status: 101, webSocket: response.webSocket, headers });
}

const isGatewayCookie = (cookie: string) =>
  GATEWAY_COOKIES.has(cookie.split('=', 1)[0]!.trim().toLowerCase());

/**
 * An upstream cannot set the gateway's own cookies on its origin: a `pat_session` from an upstream would sign the
 * browser in to the web UI as whoever the upstream chose (session fixation), a `CF_Authorization` likewise.
 */
function dropGatewayCookies(headers: Headers): void {
  const cookies = headers.getAll('set-cookie'); // workerd's getAll: one entry per Set-Cookie field
  const kept = cookies.filter((cookie) => !isGatewayCookie(cookie));
  if (kept.length === cookies.length) return;
  headers.delete('set-cookie');
  for (const cookie of kept) headers.append('set-cookie', cookie);
}
