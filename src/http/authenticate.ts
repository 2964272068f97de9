import { and, eq, isNull } from 'drizzle-orm';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { auditInsert, type RequestContext } from '../audit';
import { verifyManagementJwt } from '../auth/jwt';
import { type Principal, toPrincipal, upsertUser } from '../auth/principals';
import { principals, tokens } from '../db/schema';
import type { AppEnv, Caller } from '../env';
import { AppError, forbidden } from '../errors';
import { tooManyFailures, verifyPatGuarded } from '../gateway/abuse';
import { noteUse } from '../gateway/usage';
import { isWellFormedToken, redactTokens } from '../tokens/format';
import { budgetOf, outboxInsert } from '../tokens/kv-sync';
import { republishOwnerTokens } from '../tokens/owner-cache';

// Who is calling the management API: a JWT from the identity provider (users), or — for the few routes that
// allow it — a PAT in `Authorization: Bearer`, `x-pat` (seed 001) or `x-auth-token` (seed 002). Browsers (the
// web UI) present the JWT ambiently instead: Cloudflare Access's `Cf-Access-Jwt-Assertion` header or our session
// cookie. Ambient credentials are sent on cross-site requests too, so their unsafe requests must pass a CSRF check.

const REALM = 'Bearer realm="pat-gateway"';

/**
 * The web UI's session cookie: a management JWT. `__Secure-` (Secure, so never sent over plain http), HttpOnly,
 * SameSite=Strict, and Path=/ui so the browser never sends it to proxied upstreams that share this host.
 */
export const SESSION_COOKIE = { name: 'pat_session', prefix: 'secure', path: '/ui' } as const;
const SESSION_COOKIE_NAME = `__Secure-${SESSION_COOKIE.name}`;
/** Set by Cloudflare Access on every request it lets through; verified like any management JWT. */
export const ACCESS_HEADER = 'Cf-Access-Jwt-Assertion';
export const CSRF_HEADER = 'X-CSRF-Token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function unauthenticated(): AppError {
  return new AppError(401, 'unauthenticated', 'Authentication required', {
    detail: 'Send a bearer token in the Authorization header.',
    headers: { 'WWW-Authenticate': REALM },
  });
}

function invalidPat(): AppError {
  return new AppError(401, 'invalid_token', 'Invalid credentials', {
    detail: 'The bearer credential is invalid, expired or not accepted here.',
    headers: { 'WWW-Authenticate': `${REALM}, error="invalid_token"` },
  });
}

function csrfFailed(detail: string): AppError {
  return forbidden('csrf_failed', detail);
}

export interface PresentedCredential {
  value: string;
  /** `ambient` credentials (Access header, session cookie) are attached by the browser, not the caller. */
  ambient: boolean;
}

/** The browser-attached credential, if any: the Access assertion first (the edge set it), then our cookie. */
export function ambientCredential(c: Context<AppEnv>): string | null {
  return c.req.header(ACCESS_HEADER) || getCookie(c, SESSION_COOKIE_NAME) || null;
}

function presentedCredential(c: Context<AppEnv>): PresentedCredential | null {
  const authorization = c.req.header('Authorization');
  if (authorization) {
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match) throw invalidPat();
    return { value: match[1]!, ambient: false };
  }
  const header = c.req.header('x-pat') ?? c.req.header('x-auth-token');
  if (header) return { value: header, ambient: false };
  const ambient = ambientCredential(c);
  return ambient ? { value: ambient, ambient: true } : null;
}

/**
 * The anti-CSRF token for a session: SHA-256 of its credential, so it is bound to that session, needs no storage,
 * and reveals nothing about the (HttpOnly) credential. The page carries it; scripts send it in X-CSRF-Token.
 */
export async function csrfTokenFor(credential: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    'SHA-256',
    new TextEncoder().encode(`pat-gateway csrf v1:${credential}`),
  );
  return btoa(String.fromCharCode(...new Uint8Array(digest)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/**
 * Refuses a browser request that did not come from one of our own pages: Fetch Metadata (`Sec-Fetch-Site`) when
 * the browser sends it, and the `Origin` header (RFC 6454 §7) when it names one. Browsers send at least one of
 * them on every unsafe request, so a request with neither did not come from a browser page of ours. A form post
 * under `Referrer-Policy: no-referrer` (ours) carries `Origin: null`, so `null` counts as no Origin at all.
 */
export function assertSameOrigin(c: Context<AppEnv>): void {
  const site = c.req.header('Sec-Fetch-Site');
  const header = c.req.header('Origin');
  const origin = header === 'null' ? undefined : header;
  if (site === undefined && origin === undefined) {
    throw csrfFailed('Cross-site request refused: the request has neither Origin nor Sec-Fetch-Site.');
  }
  if (site !== undefined && site !== 'same-origin') {
    throw csrfFailed('Cross-site request refused: Sec-Fetch-Site is not same-origin.');
  }
  if (origin !== undefined && origin !== new URL(c.req.url).origin) {
    throw csrfFailed('Cross-site request refused: the Origin is not this gateway.');
  }
}

export async function assertCsrf(c: Context<AppEnv>, credential: string): Promise<void> {
  assertSameOrigin(c);
  await assertSessionToken(c, credential);
}

/** The request's X-CSRF-Token is the one of the session it carries (the page's session is still the current one). */
export async function assertSessionToken(c: Context<AppEnv>, credential: string): Promise<void> {
  const sent = c.req.header(CSRF_HEADER) ?? '';
  const expected = await csrfTokenFor(credential);
  // Constant-time comparison: the token is a secret bound to the session.
  let difference = sent.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) difference |= (sent.charCodeAt(i) || 0) ^ expected.charCodeAt(i);
  if (difference !== 0) {
    throw csrfFailed(
      `Send the ${CSRF_HEADER} header from this gateway's pages with cookie or Access sign-in.`,
    );
  }
}

export function requestContext(c: Context<AppEnv>, actor: RequestContext['actor']): RequestContext {
  return {
    actor,
    ip: c.req.header('cf-connecting-ip') ?? null,
    userAgent: redactOrNull(c.req.header('user-agent')),
    requestId: c.get('requestId'),
  };
}

async function callerFromPat(c: Context<AppEnv>, pat: string): Promise<Caller> {
  const config = c.get('config');
  const db = c.get('db');
  const now = Date.now();
  // Under the same failed-authentication limit as the gateway (src/gateway/abuse.ts).
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const ip = c.req.header('cf-connecting-ip') ?? null;
  const { result, blockedUntil } = await verifyPatGuarded(
    pat,
    { config, db, kv: c.env.TOKEN_CACHE, now, waitUntil },
    c.env,
    ip,
  );
  if (!result.ok) throw blockedUntil === null ? invalidPat() : tooManyFailures(blockedUntil, now);
  const row = await db.select().from(principals).where(eq(principals.id, result.state.owner.id)).get();
  // The row is read now; the token's record may be a cached copy from before a deactivation made elsewhere.
  if (!row || (!row.active && result.state.type === 'personal')) throw invalidPat();
  return { principal: toPrincipal(row), via: 'pat', tokenId: result.state.id };
}

async function callerFromJwt(c: Context<AppEnv>, jwt: string): Promise<Caller> {
  const config = c.get('config');
  const identity = await verifyManagementJwt(jwt, config.auth);
  const now = Date.now();
  const db = c.get('db');
  const { principal, roleChangedFrom, created } = await upsertUser(db, identity, now);
  // A first sign-in and a role the identity provider changed are audited like any other change to a principal,
  // with the user as the actor (their JWT carried the change).
  if (created || roleChangedFrom) {
    const event = {
      action: created ? 'user.created' : 'user.role_changed',
      targetType: 'principal' as const,
      targetId: principal.id,
      ownerId: principal.id,
      detail: created
        ? { role: principal.role, via: 'jwt' }
        : { from: roleChangedFrom, to: principal.role, via: 'jwt' },
    };
    await auditInsert(db, requestContext(c, { id: principal.id, kind: principal.kind }), event, now).run();
  }
  if (!principal.active)
    throw forbidden('principal_inactive', 'Your account is deactivated; ask an administrator.');
  if (roleChangedFrom) {
    // Cached token records carry the owner's role: refresh them so a lowered role bites on the next use. Listed in
    // kv_outbox first, so the minute cron finishes what this invocation cannot (kv-sync.ts).
    await outboxInsert(db, and(eq(tokens.ownerId, principal.id), isNull(tokens.revokedAt)), now).catch(
      (error: unknown) =>
        console.error(
          JSON.stringify({ event: 'kv_outbox_failed', owner_id: principal.id, error: String(error) }),
        ),
    );
    c.executionCtx.waitUntil(
      republishOwnerTokens(
        {
          db: c.get('db'),
          kv: c.env.TOKEN_CACHE,
          config,
          now,
          waitUntil: (p) => c.executionCtx.waitUntil(p),
          budget: budgetOf(c.executionCtx),
        },
        principal,
      ),
    );
  }
  return { principal, via: 'jwt', tokenId: null };
}

/**
 * Authenticates the caller; routes that do not set `allowPat` refuse PATs with 403 `pat_not_allowed`. Unsafe
 * requests with an ambient credential must be same-origin and carry the session's CSRF token (403 `csrf_failed`).
 */
export function managementAuth(options: { allowPat?: boolean } = {}): MiddlewareHandler<AppEnv> {
  return async function managementAuthMiddleware(c, next) {
    const presented = presentedCredential(c);
    if (!presented) throw unauthenticated();
    // Checked before the credential, so a forged request costs no identity lookup or user upsert.
    if (presented.ambient && !SAFE_METHODS.has(c.req.method)) await assertCsrf(c, presented.value);
    const config = c.get('config');
    // Ambient credentials are only ever JWTs: a PAT belongs in a header, put there by a script on purpose.
    const caller =
      !presented.ambient && isWellFormedToken(presented.value, config.tokenPrefix)
        ? await callerFromPat(c, presented.value)
        : await callerFromJwt(c, presented.value);
    if (caller.via === 'pat' && !options.allowPat) {
      throw forbidden(
        'pat_not_allowed',
        'Personal access tokens cannot manage tokens here; sign in with your identity provider.',
      );
    }
    // A PAT that was let in counts as used (a refused request does not, as on the gateway).
    if (caller.tokenId !== null) {
      const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
      const ip = c.req.header('cf-connecting-ip') ?? null;
      noteUse({ db: c.get('db'), waitUntil }, config.lastUsedIntervalMs, caller.tokenId, ip, Date.now());
    }
    c.set('caller', caller);
    c.set(
      'audit',
      requestContext(c, { id: caller.principal.id, kind: caller.principal.kind, tokenId: caller.tokenId }),
    );
    await next();
  };
}

export type { Principal };

const redactOrNull = (text: string | undefined) => (text === undefined ? null : redactTokens(text));
