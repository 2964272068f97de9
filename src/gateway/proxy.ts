import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { Context } from 'hono';
import { auditInsert } from '../audit';
import type { VerifyResult } from '../auth/verify-pat';
import type { Config } from '../config';
import type { AppEnv, Env } from '../env';
import { AppError } from '../errors';
import { assertUnambiguousPath } from '../http/path-safety';
import { holdsTokenShape, redactTokens } from '../tokens/format';
import { findToken } from '../tokens/repository';
import { tooManyFailures, verifyPatGuarded } from './abuse';
import { corsHeaders, isPreflight, preflight, UPSTREAM_CORS_HEADERS } from './cors';
import { extractToken, type HeaderList, headerList, headerValue } from './extract';
import {
  assertRouteHolds,
  type BodyFraming,
  bodyFraming,
  matchRoute,
  type RequestUrl,
  type RouteMatch,
  relayResponse,
  requestUrl,
  sendUpstream,
  upstreamBody,
  upstreamHeaders,
  upstreamUrl,
} from './forward';
import { identity } from './identity';
import { type Watch, watchedSocket, watchedStream } from './live';
import { type Route, requiredScopes } from './routes-config';
import { due, noteUse } from './usage';

// The reverse proxy: match a route → extract the token → verify it → check scopes → forward without the token.
// Failures follow RFC 6750 §3 (WWW-Authenticate) with RFC 9457 bodies; unknown, malformed, expired and revoked
// tokens get the same 401, and only the audit log learns why. `proxy` needs nothing from Hono (it throws
// AppErrors for the app to render); `proxyRequest` is the app's handler around it.

const REALM = 'Bearer realm="pat-gateway"';
const FAILURE_AUDIT_INTERVAL_MS = 60_000;

function missingToken(): AppError {
  return new AppError(401, 'missing_token', 'Authentication required', {
    detail: 'This route needs a personal access token.',
    headers: { 'WWW-Authenticate': REALM },
  });
}

function invalidToken(): AppError {
  return new AppError(401, 'invalid_token', 'Invalid token', {
    detail: 'The access token is invalid, expired, revoked or unknown.',
    headers: { 'WWW-Authenticate': `${REALM}, error="invalid_token"` },
  });
}

function invalidRequest(detail: string): AppError {
  return new AppError(400, 'invalid_request', 'Invalid request', {
    detail,
    headers: { 'WWW-Authenticate': `${REALM}, error="invalid_request"` },
  });
}

function insufficientScope(needed: string[]): AppError {
  return new AppError(403, 'insufficient_scope', 'Insufficient scope', {
    detail: `This request needs the scope(s): ${needed.join(' ')}.`,
    headers: { 'WWW-Authenticate': `${REALM}, error="insufficient_scope", scope="${needed.join(' ')}"` },
    extensions: { required_scopes: needed },
  });
}

/** What the proxy needs from the request's surroundings (the app's context, or anything else that has it). */
export interface ProxyContext {
  config: Config;
  env: Env;
  db: DrizzleD1Database;
  requestId: string | undefined;
  waitUntil(promise: Promise<unknown>): void;
}

/** Why a known token was refused goes to the audit log (at most once a minute per token), never the token. */
function auditFailure(
  ctx: ProxyContext,
  result: Extract<VerifyResult, { ok: false }>,
  routeName: string,
  now: number,
  clientIp: string | null,
  userAgent: string | null,
) {
  console.log(
    JSON.stringify({
      event: 'gateway_auth_failed',
      reason: result.reason,
      route: routeName,
      request_id: ctx.requestId,
    }),
  );
  if (!result.tokenId || !due(`f:${result.tokenId}`, now, FAILURE_AUDIT_INTERVAL_MS)) return;
  const audit = {
    actor: { id: null, kind: 'anonymous' as const },
    ip: clientIp,
    userAgent: userAgent === null ? null : redactTokens(userAgent),
    requestId: ctx.requestId ?? null,
  };
  const tokenId = result.tokenId;
  const write = async () => {
    // A revocation's tombstone does not name the owner; the row does, and the owner's own trail needs it.
    const ownerId = result.ownerId ?? (await findToken(ctx.db, tokenId))?.ownerId ?? null;
    const event = {
      action: 'token.auth_failed',
      targetType: 'token' as const,
      targetId: tokenId,
      ownerId,
      detail: { reason: result.reason, route: routeName },
    };
    await auditInsert(ctx.db, audit, event, now).run();
  };
  ctx.waitUntil(write().catch(() => {}));
}

/** Headers with which frameworks (Express method-override, Laravel, Symfony, ASP.NET, Google APIs) change the method. */
const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/**
 * A query parameter an upstream may read as `_method`: names arrive decoded here (`%5Fmethod` too), PHP reads `.` and
 * a space in a name as `_` and `_method[]` as the same field, and the case is compared loosely.
 */
function isMethodParameter(name: string): boolean {
  const read = name.toLowerCase().replace(/[. ]/g, '_');
  return read === '_method' || read.startsWith('_method[');
}

/**
 * The scopes a request needs: its method's, and those of every method it asks the upstream to run instead (a
 * method-override header, or `_method` in the query), so a `read` token's GET cannot become a DELETE upstream. A
 * value listing several (`DELETE, POST`: two fields joined) needs all of theirs, whichever one the upstream takes.
 * A `_method` in a form body is not read (the body streams through unread): see README.
 */
function scopesFor(
  route: Route,
  method: string,
  headers: HeaderList,
  search: string,
  websocket: boolean,
): string[] {
  let needed = requiredScopes(route, method);
  // A WebSocket is opened with a GET but carries messages both ways: it needs the scopes of every other method too
  // (the route's `*`), or a `read` token could send over it what a POST needs `write` for.
  if (websocket) {
    const other = requiredScopes(route, '*');
    if (other.some((scope) => !needed.includes(scope))) needed = [...new Set([...needed, ...other])];
  }
  const overrides: string[] = [];
  // CGI, WSGI and Rack read `x_http_method_override` as the dashed name.
  for (const [name, value] of headers)
    if (METHOD_OVERRIDES.has(name) || (name.includes('_') && METHOD_OVERRIDES.has(name.replaceAll('_', '-'))))
      overrides.push(value);
  // Parsed only when the query could name one: it holds `method` in some case, or an escape.
  if (search.length > 1 && (search.includes('%') || search.toLowerCase().includes('method')))
    for (const [name, value] of new URLSearchParams(search))
      if (isMethodParameter(name)) overrides.push(value);
  for (const override of overrides)
    for (const part of override.split(',')) {
      const extra = requiredScopes(route, part.trim().toUpperCase());
      if (extra.some((scope) => !needed.includes(scope))) needed = [...new Set([...needed, ...extra])];
    }
  return needed;
}

/** Authenticates and forwards one request; throws an AppError (401, 403, 404, 400, 502, 504) instead. */
export async function proxy(request: Request, ctx: ProxyContext): Promise<Response> {
  const url = requestUrl(request.url);
  const match = matchRoute(ctx.config.routes, url);
  if (!match) {
    assertUnambiguousPath(url.pathname);
    throw new AppError(404, 'not_found', 'Not found', { detail: 'No route matches this path.' });
  }
  const policy = match.route.cors;
  if (policy === null) return authenticateAndForward(request, ctx, url, match);
  // The route's CORS policy: preflights are answered here, answers and errors get its headers.
  if (isPreflight(request.method, request.headers)) return preflight(policy, request.headers);
  const origin = request.headers.get('origin');
  let response: Response;
  try {
    response = await authenticateAndForward(request, ctx, url, match);
  } catch (error) {
    if (error instanceof AppError) {
      for (const [name, value] of corsHeaders(policy, origin)) error.headers[name] = value;
      if (policy.origins !== null) error.headers.vary = 'Origin';
    }
    throw error;
  }
  // A WebSocket handshake's headers cannot change, and browsers do not use CORS for WebSockets.
  if (response.status === 101) return response;
  const headers = response.headers;
  for (const name of UPSTREAM_CORS_HEADERS) if (headers.has(name)) headers.delete(name);
  for (const [name, value] of corsHeaders(policy, origin)) headers.set(name, value);
  if (policy.origins !== null) varyOnOrigin(headers);
  return response;
}

/**
 * Whether the request's framing says a body follows (RFC 9112 §6.3): chunked, or a Content-Length other than zero
 * (`0`, `00`, or the same zero repeated as `0, 0`, RFC 9110 §8.6).
 */
function announcesBody({ chunked, length }: BodyFraming): boolean {
  return chunked || (length !== null && !/^\s*0+\s*(,\s*0+\s*)*$/.test(length));
}

/** Adds Origin to the answer's Vary (the CORS headers depend on it), unless it is there or Vary is `*`. */
function varyOnOrigin(headers: Headers): void {
  const vary = headers.get('vary');
  if (vary === null) headers.set('vary', 'Origin');
  else if (!/(^|,)\s*(origin|\*)\s*(,|$)/i.test(vary)) headers.set('vary', `${vary}, Origin`);
}

async function authenticateAndForward(
  request: Request,
  ctx: ProxyContext,
  url: RequestUrl,
  match: RouteMatch,
): Promise<Response> {
  // Before anything else: a path an upstream could read as another one is never forwarded (400 invalid_path).
  assertUnambiguousPath(url.pathname);
  const { config } = ctx;
  const { route } = match;

  // The headers are read from the runtime once; extraction and forwarding both work from this list.
  const headers = headerList(request.headers);
  const method = request.method;
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const framing = bodyFraming(headers);
  // The runtime cannot send a GET or HEAD with a body: refuse it rather than forward the request without it.
  if (!hasBody && announcesBody(framing))
    throw new AppError(400, 'body_not_allowed', 'Body not allowed', {
      detail: `A ${method} request cannot carry a body through the gateway; send it with POST.`,
    });
  // Both framings at once (RFC 9112 §6.1: a request smuggling shape): which one the upstream believes cannot be known.
  if (hasBody && framing.chunked && framing.length !== null)
    throw new AppError(400, 'ambiguous_body_length', 'Ambiguous body length', {
      detail: 'The request has both Transfer-Encoding and Content-Length; send one of them.',
    });
  // Hosts arrive lower-cased, so a token there cannot be used, but would reach the upstream in x-forwarded-host.
  if (url.host.includes(config.tokenPrefix) && holdsTokenShape(url.host))
    throw invalidRequest(
      'The host name carries an access token; send the token in the Authorization header.',
    );
  const extraction = extractToken(headers, url, match.segments, route, config.tokenPrefix);
  if (extraction.conflict) throw invalidRequest('The request carries more than one different access token.');
  if (extraction.embedded)
    throw invalidRequest(
      'A path segment carries an access token among other characters; send the token in the Authorization header.',
    );
  if (extraction.token === null) throw missingToken();
  assertRouteHolds(match, url, extraction.stripSegments);

  const now = Date.now();
  const clientIp = headerValue(headers, 'cf-connecting-ip');
  // A client over its failed-authentication limit is served from the caches only (src/gateway/abuse.ts).
  const { result, blockedUntil } = await verifyPatGuarded(
    extraction.token,
    { config, db: ctx.db, kv: ctx.env.TOKEN_CACHE, now, waitUntil: ctx.waitUntil, strict: route.strict },
    ctx.env,
    clientIp,
  );
  if (!result.ok) {
    auditFailure(ctx, result, route.name, now, clientIp, headerValue(headers, 'user-agent'));
    if (blockedUntil !== null) {
      console.log(
        JSON.stringify({ event: 'gateway_rate_limited', route: route.name, request_id: ctx.requestId }),
      );
      throw tooManyFailures(blockedUntil, now);
    }
    throw invalidToken();
  }
  const upgrade = headerValue(headers, 'upgrade');
  const websocket = upgrade !== null && upgrade.toLowerCase() === 'websocket';
  const needed = scopesFor(route, method, headers, url.search, websocket);
  for (const scope of needed) if (!result.scopes.includes(scope)) throw insufficientScope(needed);

  const { state } = result;
  noteUse(ctx, config.lastUsedIntervalMs, state.id, clientIp, now);

  const caller = await identity(config, state, route, result.scopes, now);
  const forwarded = { clientIp, proto: url.protocol.slice(0, -1), host: url.host };
  const response = await sendUpstream(
    upstreamUrl(match, url, extraction),
    {
      method,
      headers: upstreamHeaders(request, headers, route, extraction, caller.headers, forwarded),
      body: hasBody ? await upstreamBody(request, framing, route) : null,
      redirect: 'manual',
    },
    route,
    ctx.env,
  );

  const extra: [string, string][] = [];
  // As GitHub's GitHub-Authentication-Token-Expiration: clients can warn themselves before the token dies.
  if (caller.tokenExpiration !== null) extra.push(['x-pat-token-expiration', caller.tokenExpiration]);
  if (extraction.inUrl)
    extra.push(['cache-control', 'private, no-store'], ['referrer-policy', 'no-referrer']);
  const relayed = relayResponse(response, extra, route.name, websocket);
  const recheckMs = config.gateway.recheckMs;
  if (recheckMs === 0) return relayed;
  // A connection that outlives the request keeps checking the token (src/gateway/live.ts).
  const socket = relayed.status === 101 ? relayed.webSocket : null;
  // One header read per answer on the hot path; the body is not touched unless it is an event stream.
  if (socket === null && !isEventStream(relayed.headers.get('content-type'))) return relayed;
  const body = socket === null ? relayed.body : null;
  if (socket === null && body === null) return relayed;
  const watch: Watch = {
    hash: result.hash,
    tokenId: state.id,
    exp: state.exp,
    needed,
    recheckMs,
    routeName: route.name,
    deps: {
      config,
      db: ctx.db,
      kv: ctx.env.TOKEN_CACHE,
      now,
      waitUntil: ctx.waitUntil,
      strict: route.strict,
    },
  };
  if (socket !== null)
    return new Response(null, {
      status: 101,
      webSocket: watchedSocket(socket, watch),
      headers: relayed.headers,
    });
  const watched = new Response(watchedStream(body!, watch), relayed);
  // It may end before a length the upstream announced.
  watched.headers.delete('content-length');
  // fetch() handed the body over decoded (gzip and br are what it decodes). Relayed as is, workerd passes the
  // upstream's encoded bytes through; this wrapper is a new stream, which workerd would compress again under the same
  // Content-Encoding without flushing per chunk, holding the events back. Sent decoded instead, as the body now is.
  const encoding = watched.headers.get('content-encoding');
  if (encoding !== null && /^\s*(gzip|br)\s*$/i.test(encoding)) watched.headers.delete('content-encoding');
  return watched;
}

const isEventStream = (contentType: string | null) =>
  contentType !== null && /^\s*text\/event-stream\s*(;|$)/i.test(contentType);

/** The app's handler: the upstream's answer is relayed as is, so the app leaves its headers alone. */
export async function proxyRequest(c: Context<AppEnv>): Promise<Response> {
  const executionCtx = c.executionCtx;
  const response = await proxy(c.req.raw, {
    config: c.get('config'),
    env: c.env,
    db: c.get('db'),
    requestId: c.get('requestId'),
    waitUntil: (promise) => executionCtx.waitUntil(promise),
  });
  c.set('proxied', true);
  return response;
}
