import { eq } from 'drizzle-orm';
import type { Context, MiddlewareHandler } from 'hono';
import type { RequestContext } from '../audit';
import { verifyManagementJwt } from '../auth/jwt';
import { type Principal, toPrincipal, upsertUser } from '../auth/principals';
import { verifyPat } from '../auth/verify-pat';
import { principals } from '../db/schema';
import type { AppEnv, Caller } from '../env';
import { AppError, forbidden } from '../errors';
import { isWellFormedToken } from '../tokens/format';
import { republishOwnerTokens } from '../tokens/owner-cache';

// Who is calling the management API: a JWT from the identity provider (users), or — for the few routes that
// allow it — a PAT in `Authorization: Bearer`, `x-pat` (seed 001) or `x-auth-token` (seed 002).

const REALM = 'Bearer realm="pat-gateway"';

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

function presentedCredential(c: Context<AppEnv>): string | null {
  const authorization = c.req.header('Authorization');
  if (authorization) {
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match) throw invalidPat();
    return match[1]!;
  }
  return c.req.header('x-pat') ?? c.req.header('x-auth-token') ?? null;
}

export function requestContext(c: Context<AppEnv>, actor: RequestContext['actor']): RequestContext {
  return {
    actor,
    ip: c.req.header('cf-connecting-ip') ?? null,
    userAgent: c.req.header('user-agent') ?? null,
    requestId: c.get('requestId'),
  };
}

async function callerFromPat(c: Context<AppEnv>, pat: string): Promise<Caller> {
  const config = c.get('config');
  const db = c.get('db');
  const result = await verifyPat(pat, {
    config,
    db,
    kv: c.env.TOKEN_CACHE,
    now: Date.now(),
    waitUntil: (p) => c.executionCtx.waitUntil(p),
  });
  if (!result.ok) throw invalidPat();
  const row = await db.select().from(principals).where(eq(principals.id, result.state.owner.id)).get();
  if (!row) throw invalidPat();
  return { principal: toPrincipal(row), via: 'pat', tokenId: result.state.id };
}

async function callerFromJwt(c: Context<AppEnv>, jwt: string): Promise<Caller> {
  const config = c.get('config');
  const identity = await verifyManagementJwt(jwt, config.auth);
  const now = Date.now();
  const { principal, roleChangedFrom } = await upsertUser(c.get('db'), identity, now);
  if (!principal.active)
    throw forbidden('principal_inactive', 'Your account is deactivated; ask an administrator.');
  if (roleChangedFrom) {
    // Cached token records carry the owner's role: refresh them so a lowered role bites on the next use.
    c.executionCtx.waitUntil(
      republishOwnerTokens({ db: c.get('db'), kv: c.env.TOKEN_CACHE, config, now }, principal),
    );
  }
  return { principal, via: 'jwt', tokenId: null };
}

/** Authenticates the caller; routes that do not set `allowPat` refuse PATs with 403 `pat_not_allowed`. */
export function managementAuth(options: { allowPat?: boolean } = {}): MiddlewareHandler<AppEnv> {
  return async function managementAuthMiddleware(c, next) {
    const credential = presentedCredential(c);
    if (!credential) throw unauthenticated();
    const config = c.get('config');
    const caller = isWellFormedToken(credential, config.tokenPrefix)
      ? await callerFromPat(c, credential)
      : await callerFromJwt(c, credential);
    if (caller.via === 'pat' && !options.allowPat) {
      throw forbidden(
        'pat_not_allowed',
        'Personal access tokens cannot manage tokens here; sign in with your identity provider.',
      );
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
