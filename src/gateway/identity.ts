import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { ExpiringLru } from '../auth/lru';
import type { Config } from '../config';
import type { TokenState } from '../tokens/state';
import type { Route } from './routes-config';

// The caller's identity as the upstream sees it: plain headers, and a short-lived ES256 JWT that upstreams
// verify against /.well-known/jwks.json. Signing costs far more than the rest of the hot path, so a JWT is reused
// for the same token, route and scopes until half its lifetime has passed.

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

let signing: Promise<SigningKey> | undefined;
let signingSource: unknown;
const jwtCache = new ExpiringLru<string>(10_000);

function loadSigningKey(config: Config): Promise<SigningKey> {
  const source = config.gateway.signingKey;
  if (signing && signingSource === source) return signing;
  signingSource = source;
  signing = (async () => {
    if (source) {
      const { d: _private, ...publicJwk } = source;
      const privateKey = (await importJWK(source, 'ES256')) as CryptoKey;
      return { kid: source.kid, privateKey, publicJwk: { ...publicJwk, alg: 'ES256', use: 'sig' } };
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
  jwtCache.clear();
  return signing;
}

export async function publicJwks(config: Config): Promise<{ keys: JWK[] }> {
  const key = await loadSigningKey(config);
  return { keys: [key.publicJwk, ...(config.gateway.previousPublicKeys as JWK[])] };
}

export async function identityJwt(
  config: Config,
  state: TokenState,
  route: Route,
  scopes: string[],
  now: number,
): Promise<string> {
  const cacheKey = `${state.id} ${route.name} ${scopes.join(' ')}`;
  const cached = jwtCache.get(cacheKey, now);
  if (cached) return cached;
  const key = await loadSigningKey(config);
  const ttl = config.gateway.jwtTtlSeconds;
  const iat = Math.floor(now / 1000);
  // Never outlive the token itself.
  const exp = state.exp === null ? iat + ttl : Math.min(iat + ttl, Math.floor(state.exp / 1000));
  const jwt = await new SignJWT({
    scope: scopes.join(' '),
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
  jwtCache.set(cacheKey, jwt, now + ((exp - iat) * 1000) / 2);
  return jwt;
}
