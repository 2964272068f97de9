import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setJwksFetch, verifyManagementJwt } from '../../src/auth/jwt';
import type { Config } from '../../src/config';
import { AppError } from '../../src/errors';

// The JWKS endpoint is a fake fetch: it counts requests and serves whatever key set the test holds right now.

type Alg = 'RS256' | 'ES256' | 'PS256';
interface TestKey {
  kid: string;
  alg: Alg;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(alg: Alg, kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

let urlCounter = 0;
function authFor(): Config['auth'] {
  urlCounter++;
  return {
    issuer: 'https://idp.jwks-unit.test',
    audience: 'pat-gateway-jwks-unit',
    hs256Secret: undefined,
    jwksUrl: `https://idp.jwks-unit.test/keys-${urlCounter}`,
    roleClaim: 'groups',
    adminValues: ['gateway-admins'],
    clockSkewSeconds: 30,
  };
}

function sign(
  key: TestKey,
  sub: string,
  claims: Record<string, unknown> = {},
  kid = key.kid,
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid })
    .setSubject(sub)
    .setIssuer('https://idp.jwks-unit.test')
    .setAudience('pat-gateway-jwks-unit')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key.privateKey);
}

async function failure(jwt: string, auth: Config['auth']): Promise<AppError> {
  const error = await verifyManagementJwt(jwt, auth).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

let requested: string[] = [];
let respond: () => Response | Promise<Response>;
const serveKeys = (...keys: TestKey[]) => {
  respond = () => Response.json({ keys: keys.map((k) => k.jwk) });
};

beforeEach(() => {
  requested = [];
  respond = () => new Response('no key set configured', { status: 500 });
  setJwksFetch(async (input) => {
    requested.push(String(input));
    return respond();
  });
});

afterEach(() => {
  setJwksFetch(undefined);
  vi.useRealTimers();
});

describe('verifyManagementJwt with a JWKS', () => {
  it('accepts RS256 and ES256 tokens, fetching the key set once', async () => {
    const rsa = await makeKey('RS256', 'rsa-valid-1');
    const ec = await makeKey('ES256', 'ec-valid-1');
    serveKeys(rsa, ec);
    const auth = authFor();
    const rsIdentity = await verifyManagementJwt(
      await sign(rsa, 'u-rs256', { groups: ['gateway-admins'] }),
      auth,
    );
    const esIdentity = await verifyManagementJwt(
      await sign(ec, 'u-es256', { email: 'es@jwks-unit.test' }),
      auth,
    );
    expect(rsIdentity).toMatchObject({ subject: 'u-rs256', role: 'admin' });
    expect(esIdentity).toMatchObject({ subject: 'u-es256', role: 'member', email: 'es@jwks-unit.test' });
    expect(requested).toEqual([auth.jwksUrl]);
  });

  it('refuses a token signed by another key under a known kid', async () => {
    const published = await makeKey('RS256', 'rsa-impostor');
    const attacker = await makeKey('RS256', 'rsa-impostor');
    serveKeys(published);
    const error = await failure(await sign(attacker, 'u-impostor'), authFor());
    expect([error.status, error.code]).toEqual([401, 'invalid_token']);
  });

  it('refetches exactly once for an unknown kid, then accepts the rotated key', async () => {
    const old = await makeKey('RS256', 'rsa-rotate-old');
    const next = await makeKey('ES256', 'ec-rotate-new');
    serveKeys(old);
    const auth = authFor();
    expect((await verifyManagementJwt(await sign(old, 'u-rotate-1'), auth)).subject).toBe('u-rotate-1');
    expect(requested).toHaveLength(1);

    serveKeys(old, next); // the issuer publishes a new key; our cached copy (10 min) does not have it yet
    vi.setSystemTime(Date.now() + 31_000); // past the 30 s refetch cooldown
    expect((await verifyManagementJwt(await sign(next, 'u-rotate-2'), auth)).subject).toBe('u-rotate-2');
    expect(requested).toHaveLength(2);
    expect((await verifyManagementJwt(await sign(next, 'u-rotate-3'), auth)).subject).toBe('u-rotate-3');
    expect(requested).toHaveLength(2);
  });

  it('an unknown kid that stays unknown is a 401, and the cooldown stops a refetch storm', async () => {
    const known = await makeKey('RS256', 'rsa-known');
    const stranger = await makeKey('RS256', 'rsa-stranger');
    serveKeys(known);
    const auth = authFor();
    await verifyManagementJwt(await sign(known, 'u-known'), auth);
    vi.setSystemTime(Date.now() + 31_000);
    expect((await failure(await sign(stranger, 'u-stranger-1'), auth)).code).toBe('invalid_token');
    expect(requested).toHaveLength(2);
    for (let i = 0; i < 3; i++) {
      expect((await failure(await sign(stranger, `u-stranger-${i + 2}`), auth)).status).toBe(401);
    }
    expect(requested).toHaveLength(2);
  });

  it('a JWKS endpoint that is down is a 503 identity_unavailable, and it recovers', async () => {
    const key = await makeKey('ES256', 'ec-outage');
    const auth = authFor();
    const jwt = await sign(key, 'u-outage');
    const outages: (() => Response | Promise<Response>)[] = [
      () => Promise.reject(new TypeError('Network connection lost.')),
      () => Promise.reject(new DOMException('The operation timed out.', 'TimeoutError')),
      () => new Response('upstream error', { status: 502 }),
      () => new Response('<html>maintenance</html>', { status: 200 }),
    ];
    for (const outage of outages) {
      respond = outage;
      const error = await failure(jwt, auth);
      expect([error.status, error.code]).toEqual([503, 'identity_unavailable']);
      expect(error.headers['Retry-After']).toBe('5');
    }
    serveKeys(key);
    expect((await verifyManagementJwt(jwt, auth)).subject).toBe('u-outage');
    expect(requested).toHaveLength(outages.length + 1);
  });

  it('a malformed key set from the IdP is a 503, not the caller’s 401', async () => {
    respond = () => Response.json({ error: 'temporarily unavailable' });
    const key = await makeKey('RS256', 'rsa-malformed-set');
    const error = await failure(await sign(key, 'u-malformed-set'), authFor());
    expect(error.status).toBe(503);
  });

  it('refuses HS256, alg none and unlisted algorithms without fetching the key set', async () => {
    const auth = authFor();
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u-hs-on-jwks')
      .setIssuer(auth.issuer)
      .setAudience(auth.audience)
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('jwks-unit-shared-secret-0123456789abcdef'));
    const none = `${btoa('{"alg":"none"}').replace(/=+$/, '')}.${hs.split('.')[1]}.`;
    const ps = await makeKey('PS256', 'rsa-pss-unlisted'); // valid RSA, but PS256 is not an allowed alg
    const ps256 = await sign(ps, 'u-ps256');
    serveKeys(ps);
    for (const jwt of [hs, none, ps256]) expect((await failure(jwt, auth)).status).toBe(401);
    expect(requested).toEqual([]);
  });

  it('refuses asymmetric tokens when only an HS256 secret is configured', async () => {
    const key = await makeKey('RS256', 'rsa-no-jwks');
    serveKeys(key);
    const hsOnly = {
      ...authFor(),
      jwksUrl: undefined,
      hs256Secret: 'jwks-unit-hs-only-0123456789abcdef0123',
    };
    expect((await failure(await sign(key, 'u-rs-on-hs'), hsOnly)).code).toBe('invalid_token');
    expect(requested).toEqual([]);
  });

  it('refuses wrong issuer and audience on asymmetric tokens too', async () => {
    const key = await makeKey('ES256', 'ec-claims');
    serveKeys(key);
    const auth = authFor();
    const jwt = await sign(key, 'u-claims');
    expect((await failure(jwt, { ...auth, issuer: 'https://other-idp.jwks-unit.test' })).status).toBe(401);
    expect((await failure(jwt, { ...auth, audience: 'another-audience' })).status).toBe(401);
  });
});
