import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { ExpiringLru } from '../auth/lru';
import type { Config } from '../config';
import { hasControlCharacter } from '../lib/control-chars';
import type { TokenState } from '../tokens/state';
import type { Route } from './routes-config';

// The caller's identity as the upstream sees it: plain headers, and a short-lived ES256 JWT that upstreams
// verify against /.well-known/jwks.json. Signing costs far more than the rest of the hot path, so a JWT (with the
// headers that go with it) is reused for the same token, expiry, route and scopes until half its lifetime has passed.

export const IDENTITY_HEADERS = {
  userId: 'x-pat-user-id',
  subject: 'x-pat-subject',
  tokenId: 'x-pat-token-id',
  tokenType: 'x-pat-token-type',
  scopes: 'x-pat-scopes',
  jwt: 'x-pat-identity',
} as const;
/** Client-sent headers in this namespace are removed before forwarding, so nobody can spoof an identity. */
export const IDENTITY_HEADER_PREFIX = 'x-pat-';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** Everything the upstream is told about a caller, ready to set: the headers (JWT included) and the expiry. */
export interface Identity {
  headers: readonly (readonly [string, string])[];
  /** The token's expiry as an ISO string (for `x-pat-token-expiration`), or null. */
  tokenExpiration: string | null;
}

let signing: Promise<SigningKey> | undefined;
let signingSource: unknown;
const identityCache = new ExpiringLru<Identity>(10_000);

function loadSigningKey(config: Config): Promise<SigningKey> {
  const source = config.gateway.signingKey;
  if (signing && signingSource === source) return signing;
  signingSource = source;
  signing = (async () => {
    if (source) {
      const privateKey = (await importJWK(source, 'ES256')) as CryptoKey;
      return { kid: source.kid, privateKey, publicJwk: publishedKey(source) };
    }
    // Development without a configured key: an ephemeral one for this isolate (production config requires a key).
    const pair = await generateKeyPair('ES256', { extractable: true });
    const kid = `dev_ephemeral_${crypto.randomUUID()}`;
    return {
      kid,
      privateKey: pair.privateKey,
      publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' },
    };
  })();
  identityCache.clear();
  return signing;
}

/**
 * A P-256 key as the JWKS publishes it: the public members only. Anything else a JWK may carry is left out: a key
 * exported from WebCrypto has `key_ops: ["sign"]` and `ext`, and verifiers (jose among them) skip a key whose
 * key_ops do not include `verify`, so every identity JWT would fail to verify.
 */
function publishedKey(jwk: { kty: string; crv: string; x: string; y: string; kid: string }): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid: jwk.kid, alg: 'ES256', use: 'sig' };
}

export async function publicJwks(config: Config): Promise<{ keys: JWK[] }> {
  const key = await loadSigningKey(config);
  return { keys: [key.publicJwk, ...config.gateway.previousPublicKeys.map(publishedKey)] };
}

/** The identity headers for a verified token on a route, from the cache when one was signed recently. */
export async function identity(
  config: Config,
  state: TokenState,
  route: Route,
  scopes: string[],
  now: number,
): Promise<Identity> {
  const scope = scopes.join(' ');
  // The expiry is part of the key: shortening a token's life must not keep handing out a JWT that outlives it.
  const cacheKey = `${state.id} ${state.exp} ${route.name} ${scope}`;
  const cached = identityCache.get(cacheKey, now);
  if (cached) return cached;
  const tokenExpiration = state.exp === null ? null : new Date(state.exp).toISOString();
  const plain: [string, string][] =
    route.identity === 'all' || route.identity === 'headers'
      ? [
          [IDENTITY_HEADERS.userId, state.owner.id],
          [IDENTITY_HEADERS.tokenId, state.id],
          [IDENTITY_HEADERS.tokenType, state.type],
          [IDENTITY_HEADERS.scopes, scope],
          // Management JWTs with control characters in `sub` are refused; a subject stored before that rule stays in
          // the JWT only, since a header cannot carry it.
          ...(state.owner.subject && !hasControlCharacter(state.owner.subject)
            ? [[IDENTITY_HEADERS.subject, state.owner.subject] as [string, string]]
            : []),
        ]
      : [];
  if (route.identity === 'headers' || route.identity === 'none') {
    // Nothing to sign: keep it as long as a signed one would be kept.
    const value: Identity = { headers: plain, tokenExpiration };
    identityCache.set(cacheKey, value, now + (config.gateway.jwtTtlSeconds * 1000) / 2);
    return value;
  }
  const key = await loadSigningKey(config);
  const ttl = config.gateway.jwtTtlSeconds;
  const iat = Math.floor(now / 1000);
  // Never outlive the token itself.
  const exp = state.exp === null ? iat + ttl : Math.min(iat + ttl, Math.floor(state.exp / 1000));
  const jwt = await new SignJWT({
    scope,
    token_id: state.id,
    token_type: state.type,
    ...(state.owner.subject ? { user_subject: state.owner.subject } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setIssuer(config.gateway.issuer)
    .setAudience(route.name)
    .setSubject(state.owner.id)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key.privateKey);
  const value: Identity = { headers: [...plain, [IDENTITY_HEADERS.jwt, jwt]], tokenExpiration };
  identityCache.set(cacheKey, value, now + ((exp - iat) * 1000) / 2);
  return value;
}
