import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyManagementJwt } from '../../src/auth/jwt';
import type { Config } from '../../src/config';
import { AppError } from '../../src/errors';

const SECRET = 'jwt-unit-hs256-secret-0123456789abcdef0123';
const auth: Config['auth'] = {
  issuer: 'https://idp.jwt-unit.test',
  audience: 'pat-gateway-jwt-unit',
  hs256Secret: SECRET,
  jwksUrl: undefined,
  roleClaim: 'role',
  adminValues: ['admin'],
  clockSkewSeconds: 60,
};
const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) =>
  btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

interface SignOptions {
  sub?: string | null;
  iss?: string;
  aud?: string | string[];
  exp?: number | null;
  nbf?: number;
  alg?: string;
  secret?: string;
}

function sign(claims: Record<string, unknown> = {}, options: SignOptions = {}): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setIssuer(options.iss ?? auth.issuer)
    .setAudience(options.aud ?? auth.audience)
    .setIssuedAt();
  if (options.sub !== null) jwt.setSubject(options.sub ?? 'user-hs256-default');
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? nowSeconds() + 600);
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

async function expectInvalid(jwt: string, config: Config['auth'] = auth): Promise<void> {
  const error = await verifyManagementJwt(jwt, config).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).status).toBe(401);
  expect((error as AppError).code).toBe('invalid_token');
  expect((error as AppError).headers['WWW-Authenticate']).toContain('error="invalid_token"');
}

describe('verifyManagementJwt with HS256', () => {
  it('accepts a valid token and returns the identity', async () => {
    const jwt = await sign(
      { role: 'member', name: 'Ada Lovelace', email: 'ada@jwt-unit.test' },
      { sub: 'u-ada' },
    );
    const identity = await verifyManagementJwt(jwt, auth);
    expect(identity).toEqual({
      subject: 'u-ada',
      name: 'Ada Lovelace',
      email: 'ada@jwt-unit.test',
      role: 'member',
      issuedAt: expect.any(Number),
    });
    // `iat` in epoch ms: signed a moment ago, in whole seconds.
    expect(identity.issuedAt! % 1000).toBe(0);
    expect(Math.abs(identity.issuedAt! - Date.now())).toBeLessThan(5_000);
  });

  it('accepts an audience array that contains ours', async () => {
    const jwt = await sign({}, { sub: 'u-aud-array', aud: ['other-api', auth.audience] });
    expect((await verifyManagementJwt(jwt, auth)).subject).toBe('u-aud-array');
  });

  it('tolerates expiry within the clock skew, and refuses it beyond', async () => {
    const now = nowSeconds();
    const recent = await sign({}, { sub: 'u-skew-in', exp: now - 30 });
    expect((await verifyManagementJwt(recent, auth)).subject).toBe('u-skew-in');
    await expectInvalid(await sign({}, { sub: 'u-skew-out', exp: now - 120 }));
    await expectInvalid(recent, { ...auth, clockSkewSeconds: 0 });
  });

  it('refuses a token that is not yet valid beyond the skew', async () => {
    await expectInvalid(await sign({}, { sub: 'u-nbf', nbf: nowSeconds() + 600 }));
  });

  it('refuses the wrong issuer, the wrong audience and the wrong secret', async () => {
    await expectInvalid(await sign({}, { sub: 'u-iss', iss: 'https://evil.jwt-unit.test' }));
    await expectInvalid(await sign({}, { sub: 'u-aud', aud: 'another-service' }));
    await expectInvalid(await sign({}, { sub: 'u-secret', secret: 'some-other-secret-0123456789abcdef012' }));
  });

  it('requires sub and exp', async () => {
    await expectInvalid(await sign({}, { sub: null }));
    await expectInvalid(await sign({}, { sub: '   ' }));
    await expectInvalid(await sign({}, { sub: 'u-no-exp', exp: null }));
  });

  // The subject goes upstream in x-pat-subject, where a control character would make every proxied request a 500.
  it('refuses a subject with control characters', async () => {
    for (const sub of ['u-new\nline', 'u-tab\tbed', 'u-nul\u0000', 'u-del\u007f'])
      await expectInvalid(await sign({}, { sub }));
  });

  it('refuses alg "none", even with otherwise perfect claims', async () => {
    const payload = {
      sub: 'u-none',
      iss: auth.issuer,
      aud: auth.audience,
      exp: nowSeconds() + 600,
      role: 'admin',
    };
    for (const alg of ['none', 'None', 'NONE']) {
      await expectInvalid(`${b64url({ alg, typ: 'JWT' })}.${b64url(payload)}.`);
    }
  });

  it('refuses other HMAC algorithms signed with the same secret', async () => {
    await expectInvalid(await sign({}, { sub: 'u-hs512', alg: 'HS512' }));
    await expectInvalid(await sign({}, { sub: 'u-hs384', alg: 'HS384' }));
  });

  it('refuses a payload edited after signing', async () => {
    const jwt = await sign({ role: 'member' }, { sub: 'u-tamper' });
    const [header, , signature] = jwt.split('.');
    const forged = {
      sub: 'u-tamper',
      iss: auth.issuer,
      aud: auth.audience,
      exp: nowSeconds() + 600,
      role: 'admin',
    };
    await expectInvalid(`${header}.${b64url(forged)}.${signature}`);
  });

  it('refuses garbage', async () => {
    for (const garbage of ['', 'not-a-jwt', 'a.b.c', '..', `${b64url({ alg: 'HS256' })}.e30`]) {
      await expectInvalid(garbage);
    }
  });

  it('refuses HS256 when the deployment only trusts a JWKS', async () => {
    const jwksOnly = {
      ...auth,
      hs256Secret: undefined,
      jwksUrl: 'https://idp.jwt-unit.test/jwks-never-fetched',
    };
    await expectInvalid(await sign({}, { sub: 'u-hs-on-jwks' }), jwksOnly);
  });
});

describe('identity claims', () => {
  it('maps a string or array role claim through the admin values', async () => {
    const ops = { ...auth, adminValues: ['admin', 'ops'] };
    const cases: [unknown, 'admin' | 'member'][] = [
      ['ops', 'admin'],
      [['viewer', 'admin'], 'admin'],
      [['viewer'], 'member'],
      ['Admin', 'member'],
      [42, 'member'],
      [{ admin: true }, 'member'],
      [undefined, 'member'],
    ];
    for (const [index, [role, expected]] of cases.entries()) {
      const jwt = await sign(role === undefined ? {} : { role }, { sub: `u-role-${index}` });
      expect((await verifyManagementJwt(jwt, ops)).role, JSON.stringify(role)).toBe(expected);
    }
  });

  it('follows a dotted role claim path (Keycloak realm roles)', async () => {
    const keycloak = { ...auth, roleClaim: 'realm_access.roles', adminValues: ['gateway-admin'] };
    const admin = await sign(
      { realm_access: { roles: ['offline_access', 'gateway-admin'] } },
      { sub: 'u-kc-1' },
    );
    const member = await sign({ realm_access: { roles: ['offline_access'] } }, { sub: 'u-kc-2' });
    const flat = await sign(
      { 'realm_access.roles': ['gateway-admin'], realm_access: 'x' },
      { sub: 'u-kc-3' },
    );
    expect((await verifyManagementJwt(admin, keycloak)).role).toBe('admin');
    expect((await verifyManagementJwt(member, keycloak)).role).toBe('member');
    expect((await verifyManagementJwt(flat, keycloak)).role).toBe('member');
  });

  it('trims name and email, drops blank or non-string ones, and caps their length', async () => {
    const padded = await sign({ name: '  Grace Hopper ', email: ' grace@jwt-unit.test ' }, { sub: 'u-trim' });
    expect(await verifyManagementJwt(padded, auth)).toMatchObject({
      name: 'Grace Hopper',
      email: 'grace@jwt-unit.test',
    });
    const blank = await sign({ name: '   ', email: 7 }, { sub: 'u-blank' });
    expect(await verifyManagementJwt(blank, auth)).toMatchObject({ name: null, email: null });
    const long = await sign({ name: 'n'.repeat(500) }, { sub: 'u-long-name' });
    expect((await verifyManagementJwt(long, auth)).name).toBe('n'.repeat(200));
  });

  it('keeps distinct subjects distinct (or refuses ones it cannot store)', async () => {
    const base = 's'.repeat(255);
    const outcome = async (sub: string) =>
      verifyManagementJwt(await sign({}, { sub }), auth).then(
        (identity) => identity.subject,
        (error: unknown) => (error instanceof AppError ? `rejected:${error.code}` : 'other'),
      );
    const [a, b, c, d] = await Promise.all([
      outcome(`${base}A`),
      outcome(`${base}B`),
      outcome(' u-pad'),
      outcome('u-pad'),
    ]);
    if (!a.startsWith('rejected')) expect(a).not.toBe(b);
    if (!c.startsWith('rejected')) expect(c).not.toBe(d);
  });
});
