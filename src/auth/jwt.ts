import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { Config, Role } from '../config';
import { AppError } from '../errors';
import { hasControlCharacter } from '../lib/control-chars';

// Management identity: a JWT from the deployment's identity provider (JWKS, RS256/ES256) or signed with a shared
// HS256 secret. Issuer, audience, expiry and `sub` are always required; `alg: none` and unlisted algorithms fail.

export interface Identity {
  /** The JWT `sub`. */
  subject: string;
  name: string | null;
  email: string | null;
  role: Role;
  /** The JWT `iat` in epoch ms, or null when it has none. */
  issuedAt: number | null;
}

const ASYMMETRIC = ['RS256', 'ES256'];
const encoder = new TextEncoder();

// One remote key set per JWKS URL per isolate: jose caches the keys and refetches once on an unknown `kid`
// (at most once per 30 s cooldown), which is how issuers rotate keys.
const keySets = new Map<string, JWTVerifyGetKey>();
/** Tests (and unusual deployments) can route JWKS fetches through another fetch. */
let jwksFetch: typeof fetch | undefined;
export function setJwksFetch(fetchImpl: typeof fetch | undefined): void {
  jwksFetch = fetchImpl;
  keySets.clear();
}

function remoteKeySet(url: string): JWTVerifyGetKey {
  let keySet = keySets.get(url);
  if (!keySet) {
    keySet = createRemoteJWKSet(new URL(url), {
      cacheMaxAge: 10 * 60_000,
      cooldownDuration: 30_000,
      timeoutDuration: 5_000,
      ...(jwksFetch ? { [customFetch]: (input: string, init: RequestInit) => jwksFetch!(input, init) } : {}),
    });
    keySets.set(url, keySet);
  }
  return keySet;
}

/** Reads a claim by dotted path, so `realm_access.roles` (Keycloak) works as well as `role`. */
function claimAt(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The role some role values give: admin when one of them is in AUTH_ADMIN_VALUES (a JWT's claim, SCIM's roles). */
export function roleFromValues(values: readonly unknown[], adminValues: readonly string[]): Role {
  return values.some((v) => typeof v === 'string' && adminValues.includes(v)) ? 'admin' : 'member';
}

function roleFrom(payload: JWTPayload, auth: Config['auth']): Role {
  const claim = claimAt(payload, auth.roleClaim);
  return roleFromValues(Array.isArray(claim) ? claim : [claim], auth.adminValues);
}

/**
 * A subject the gateway accepts (a JWT's `sub`, SCIM's `userName`): used exactly as issued, never trimmed or cut (two
 * users must not merge), at most 255 characters, and without control characters, as it travels in headers
 * (x-pat-subject).
 */
export function isUsableSubject(subject: unknown): subject is string {
  return (
    typeof subject === 'string' &&
    subject.length > 0 &&
    subject.length <= 255 &&
    subject.trim() === subject &&
    !hasControlCharacter(subject)
  );
}

/**
 * A display claim (name, email): trimmed, control characters and lone surrogates dropped, bounded to `max`
 * characters (code points, so a cut never splits a surrogate pair into a replacement character).
 */
export const displayText = (value: unknown, max: number) => {
  if (typeof value !== 'string') return null;
  const clean = value
    .replace(/\p{Cc}/gu, '')
    .toWellFormed()
    .trim();
  const cut = clean.length > max ? [...clean].slice(0, max).join('').trimEnd() : clean;
  return cut || null;
};

export function invalidToken(): AppError {
  return new AppError(401, 'invalid_token', 'Invalid credentials', {
    detail: 'The bearer credential is invalid, expired or not accepted here.',
    headers: { 'WWW-Authenticate': 'Bearer realm="pat-gateway", error="invalid_token"' },
  });
}

export async function verifyManagementJwt(jwt: string, auth: Config['auth']): Promise<Identity> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(jwt).alg;
  } catch {
    throw invalidToken();
  }
  let payload: JWTPayload;
  const options = {
    issuer: auth.issuer,
    audience: auth.audience,
    clockTolerance: auth.clockSkewSeconds,
    requiredClaims: ['sub', 'exp'],
  };
  try {
    if (alg === 'HS256' && auth.hs256Secret) {
      ({ payload } = await jwtVerify(jwt, encoder.encode(auth.hs256Secret), {
        ...options,
        algorithms: ['HS256'],
      }));
    } else if (alg && ASYMMETRIC.includes(alg) && auth.jwksUrl) {
      ({ payload } = await jwtVerify(jwt, remoteKeySet(auth.jwksUrl), {
        ...options,
        algorithms: ASYMMETRIC,
      }));
    } else {
      throw invalidToken();
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    // JOSE errors mean the credential is bad. Anything else (or a JWKS timeout or non-200) means the identity
    // provider could not be reached: that is our outage, not the caller's mistake.
    const code = (error as { code?: unknown }).code;
    if (
      typeof code !== 'string' ||
      code === 'ERR_JWKS_TIMEOUT' ||
      code === 'ERR_JWKS_INVALID' ||
      code === 'ERR_JOSE_GENERIC'
    ) {
      throw new AppError(503, 'identity_unavailable', 'Service unavailable', {
        detail: 'The identity provider could not be reached; try again shortly.',
        headers: { 'Retry-After': '5' },
      });
    }
    throw invalidToken();
  }
  const subject = payload.sub;
  if (!isUsableSubject(subject)) throw invalidToken();
  // Issued later than the clock skew allows: a broken or forged issuer clock. Such a JWT would count as newer than
  // a role change made meanwhile (SCIM, the admin API) and undo it, so it is refused, as an `nbf` that far out is.
  if (typeof payload.iat === 'number' && payload.iat * 1000 > Date.now() + auth.clockSkewSeconds * 1000)
    throw invalidToken();
  return {
    subject,
    name: displayText(payload.name, 200),
    email: displayText(payload.email, 320),
    role: roleFrom(payload, auth),
    issuedAt: typeof payload.iat === 'number' && Number.isFinite(payload.iat) ? payload.iat * 1000 : null,
  };
}

/** Development only: a JWT for any user and role, signed with the local HS256 secret. */
export async function signDevJwt(
  auth: Config['auth'],
  user: { subject: string; role: Role; name?: string | null; email?: string | null },
  ttlSeconds = 12 * 3600,
): Promise<{ token: string; expiresAt: number }> {
  if (!auth.hs256Secret) throw new Error('dev sessions need AUTH_HS256_SECRET');
  const now = Math.floor(Date.now() / 1000);
  const [head, ...rest] = auth.roleClaim.split('.');
  const claims: JWTPayload = { [head!]: rest.length ? nest(rest, [user.role]) : user.role };
  if (user.name) claims.name = user.name;
  if (user.email) claims.email = user.email;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.subject)
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(encoder.encode(auth.hs256Secret));
  return { token, expiresAt: (now + ttlSeconds) * 1000 };
}

function nest(path: string[], leaf: unknown): unknown {
  return path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), leaf);
}
