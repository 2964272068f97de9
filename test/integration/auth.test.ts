import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateToken } from '../../src/tokens/format';
import { call, dumpStorage, jwtFor, uniqueUser } from '../helpers';
import { TEST_VARS } from '../vars';
import { API, currentUserWithPat, expectProblem, tokenRow, userWithToken } from './support';

// Authentication failures shared by every management route, and the PAT/JWT split.

const secret = new TextEncoder().encode(TEST_VARS.AUTH_HS256_SECRET);
const now = () => Math.floor(Date.now() / 1000);

/** A JWT with full control over the claims (helpers.jwtFor always sets sub and exp). */
function rawJwt(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256' }) {
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(secret);
}

const b64url = (value: unknown) =>
  btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

const base = () => ({
  iss: TEST_VARS.AUTH_ISSUER,
  aud: TEST_VARS.AUTH_AUDIENCE,
  iat: now(),
  exp: now() + 3600,
});

async function expectInvalidToken(res: Response) {
  await expectProblem(res, 401, 'invalid_token');
  expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="[^"]+", error="invalid_token"/);
}

describe('missing credentials', () => {
  it.each([
    ['GET', '/currentuser'],
    ['GET', '/tokens'],
    ['POST', '/tokens'],
    ['GET', '/tokens/tok_0000000000000000'],
    ['GET', '/tokens/self'],
    ['GET', '/audit'],
  ])('%s %s answers 401 with a Bearer challenge', async (method, path) => {
    const res = await call(API + path, { method });
    const problem = await expectProblem(res, 401, 'unauthenticated');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm=/);
    expect(problem.instance).toBe(API + path);
  });

  it('treats an empty Authorization header as missing', async () => {
    const res = await call(`${API}/currentuser`, { headers: { Authorization: '' } });
    await expectProblem(res, 401, 'unauthenticated');
  });
});

describe('bad JWTs', () => {
  it.each([
    ['signed with another secret', () => jwtFor(uniqueUser(), { secret: 'x'.repeat(48) })],
    ['expired an hour ago', () => jwtFor(uniqueUser(), { expiresIn: now() - 3600 })],
    ['from another issuer', () => jwtFor(uniqueUser(), { issuer: 'https://evil.example' })],
    ['for another audience', () => jwtFor(uniqueUser(), { audience: 'someone-else' })],
    ['without sub', () => rawJwt({ ...base() })],
    ['with a blank sub', () => rawJwt({ ...base(), sub: '   ' })],
    ['without exp', () => rawJwt({ ...base(), exp: undefined, sub: uniqueUser() })],
    ['not valid before an hour from now', () => rawJwt({ ...base(), sub: uniqueUser(), nbf: now() + 3600 })],
    ['with alg none', async () => `${b64url({ alg: 'none' })}.${b64url({ ...base(), sub: 'mallory' })}.`],
    ['with an unlisted algorithm', () => rawJwt({ ...base(), sub: uniqueUser() }, { alg: 'HS512' })],
    ['that is not a JWT at all', async () => 'definitely-not-a-jwt'],
    ['with a mangled signature', async () => `${(await jwtFor(uniqueUser())).slice(0, -4)}AAAA`],
  ])('refuses a JWT %s with 401 invalid_token', async (_label, make) => {
    const jwt = await make();
    await expectInvalidToken(
      await call(`${API}/currentuser`, { headers: { Authorization: `Bearer ${jwt}` } }),
    );
  });

  it('creates no principal for a refused JWT', async () => {
    const subject = uniqueUser('ghost');
    const jwt = await jwtFor(subject, { secret: 'y'.repeat(48) });
    await expectInvalidToken(await call(`${API}/tokens`, { headers: { Authorization: `Bearer ${jwt}` } }));
    expect(await dumpStorage()).not.toContain(subject);
  });

  it.each([
    ['Basic credentials', 'Basic dXNlcjpwYXNz'],
    ['Bearer without a credential', 'Bearer '],
    ['two credentials', 'Bearer a b'],
  ])('refuses %s in Authorization with 401 invalid_token', async (_label, authorization) => {
    await expectInvalidToken(await call(`${API}/currentuser`, { headers: { Authorization: authorization } }));
  });
});

describe('bad PATs', () => {
  it('refuses a well-formed PAT that was never issued', async () => {
    await expectInvalidToken(await currentUserWithPat(generateToken('pat_')));
  });

  it('refuses a real PAT with one character changed (bad checksum)', async () => {
    const { created } = await userWithToken();
    const last = created.token.at(-1) === 'A' ? 'B' : 'A';
    await expectInvalidToken(await currentUserWithPat(created.token.slice(0, -1) + last));
  });

  it('refuses a PAT with another prefix', async () => {
    const { created } = await userWithToken();
    await expectInvalidToken(await currentUserWithPat(`ghp_${created.token.slice(4)}`));
  });
});

describe('PATs on JWT-only routes', () => {
  const routes: [string, string, (id: string) => string, unknown?][] = [
    ['GET', 'list', () => '/tokens'],
    ['POST', 'create', () => '/tokens', { name: 'by pat' }],
    ['GET', 'get', (id) => `/tokens/${id}`],
    ['PATCH', 'update', (id) => `/tokens/${id}`, { name: 'by pat' }],
    ['POST', 'revoke', (id) => `/tokens/${id}/revoke`],
    ['POST', 'restore', (id) => `/tokens/${id}/restore`],
    ['POST', 'rotate', (id) => `/tokens/${id}/rotate`],
    ['DELETE', 'delete', (id) => `/tokens/${id}`],
    ['GET', 'audit', () => '/audit'],
  ];

  it.each(routes)(
    '%s (%s) answers 403 pat_not_allowed and changes nothing',
    async (method, _op, path, json) => {
      const { created } = await userWithToken({ name: 'pat holder' });
      const res = await call(API + path(created.id), {
        method,
        headers: { 'x-pat': created.token },
        ...(json === undefined ? {} : { json }),
      });
      await expectProblem(res, 403, 'pat_not_allowed');
      expect(await tokenRow(created.id)).toMatchObject({ name: 'pat holder', revoked_at: null });
    },
  );

  it('still answers 401, not 403, for a revoked PAT on a JWT-only route', async () => {
    const { created } = await userWithToken();
    await call(`${API}/tokens/self/revoke`, { method: 'POST', headers: { 'x-pat': created.token } });
    await expectInvalidToken(await call(`${API}/tokens`, { headers: { 'x-pat': created.token } }));
  });
});
