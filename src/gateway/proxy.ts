import type { Context } from 'hono';
import { auditInsert } from '../audit';
import { type VerifyResult, verifyPat } from '../auth/verify-pat';
import type { AppEnv } from '../env';
import { AppError } from '../errors';
import { extractToken } from './extract';
import { matchRoute, relayResponse, sendUpstream, upstreamHeaders, upstreamUrl } from './forward';
import { IDENTITY_HEADERS, identityJwt } from './identity';
import { requiredScopes } from './routes-config';
import { due, recordUsage } from './usage';

// The reverse proxy: match a route → extract the token → verify it → check scopes → forward without the token.
// Failures follow RFC 6750 §3 (WWW-Authenticate) with RFC 9457 bodies; unknown, malformed, expired and revoked
// tokens get the same 401, and only the audit log learns why.

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

function invalidRequest(): AppError {
  return new AppError(400, 'invalid_request', 'Invalid request', {
    detail: 'The request carries more than one different access token.',
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

/** Why a known token was refused goes to the audit log (at most once a minute per token), never the token. */
function auditFailure(
  c: Context<AppEnv>,
  result: Extract<VerifyResult, { ok: false }>,
  routeName: string,
  now: number,
) {
  console.log(
    JSON.stringify({
      event: 'gateway_auth_failed',
      reason: result.reason,
      route: routeName,
      request_id: c.get('requestId'),
    }),
  );
  if (!result.tokenId || !due(`f:${result.tokenId}`, now, FAILURE_AUDIT_INTERVAL_MS)) return;
  const db = c.get('db');
  const ctx = {
    actor: { id: null, kind: 'anonymous' as const },
    ip: c.req.header('cf-connecting-ip') ?? null,
    userAgent: c.req.header('user-agent') ?? null,
    requestId: c.get('requestId'),
  };
  const event = {
    action: 'token.auth_failed',
    targetType: 'token' as const,
    targetId: result.tokenId,
    ownerId: result.ownerId,
    detail: { reason: result.reason, route: routeName },
  };
  c.executionCtx.waitUntil(
    auditInsert(db, ctx, event, now)
      .run()
      .catch(() => {}),
  );
}

export async function proxyRequest(c: Context<AppEnv>): Promise<Response> {
  const config = c.get('config');
  const request = c.req.raw;
  const url = new URL(request.url);
  const match = matchRoute(config.routes, url);
  if (!match) throw new AppError(404, 'not_found', 'Not found', { detail: 'No route matches this path.' });
  const { route } = match;

  const extraction = extractToken(request, url, match.segments, route, config.tokenPrefix);
  if (extraction.conflict) throw invalidRequest();
  if (extraction.token === null) throw missingToken();

  const now = Date.now();
  const result = await verifyPat(extraction.token, {
    config,
    db: c.get('db'),
    kv: c.env.TOKEN_CACHE,
    now,
    waitUntil: (p) => c.executionCtx.waitUntil(p),
    strict: route.strict,
  });
  if (!result.ok) {
    auditFailure(c, result, route.name, now);
    throw invalidToken();
  }
  const needed = requiredScopes(route, request.method);
  const lacking = needed.filter((scope) => !result.scopes.includes(scope));
  if (lacking.length) throw insufficientScope(needed);

  const { state } = result;
  const clientIp = c.req.header('cf-connecting-ip') ?? null;
  if (due(`u:${state.id}`, now, config.lastUsedIntervalMs))
    c.executionCtx.waitUntil(recordUsage(c.get('db'), state.id, clientIp, now));

  const identity: [string, string][] = [
    [IDENTITY_HEADERS.userId, state.owner.id],
    [IDENTITY_HEADERS.tokenId, state.id],
    [IDENTITY_HEADERS.tokenType, state.type],
    [IDENTITY_HEADERS.scopes, result.scopes.join(' ')],
    [IDENTITY_HEADERS.jwt, await identityJwt(config, state, route, result.scopes, now)],
  ];
  if (state.owner.subject) identity.push([IDENTITY_HEADERS.subject, state.owner.subject]);

  const target = 'url' in route.upstream ? route.upstream.url : 'http://upstream.internal/';
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  const outbound = new Request(upstreamUrl(match, url, extraction, target), {
    method: request.method,
    headers: upstreamHeaders(request, route, extraction, identity),
    body: hasBody ? request.body : null,
    redirect: 'manual',
  });
  const response = await sendUpstream(outbound, route, c.env);

  const extra: [string, string][] = [];
  // As GitHub's GitHub-Authentication-Token-Expiration: clients can warn themselves before the token dies.
  if (state.exp !== null) extra.push(['x-pat-token-expiration', new Date(state.exp).toISOString()]);
  if (extraction.inUrl)
    extra.push(['cache-control', 'private, no-store'], ['referrer-policy', 'no-referrer']);
  c.set('proxied', true);
  return relayResponse(response, extra);
}
