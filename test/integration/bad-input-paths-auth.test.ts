import { beforeAll, describe, expect, it } from 'vitest';
import { generateToken } from '../../src/tokens/format';
import { call, jwtFor } from '../helpers';
import { type BadInputWorld, badInputWorld, expectRefused, KB, snapshotD1 } from '../reliability-support';
import { TEST_VARS } from '../vars';
import { uniqueIp } from './admin-support';

// Path ids with odd characters (NUL, `../`, encoded slashes, bad UTF-8, SQL, 10 KB) on every endpoint that takes
// one, and malformed credentials on every authenticated endpoint: each a 4xx problem+json (400 naming `id`
// where the id is too long), never a 5xx, with D1 unchanged.

let world: BadInputWorld;

beforeAll(async () => {
  world = await badInputWorld();
});

type Endpoint = [method: string, path: string, body?: unknown];
const NAME = { name: 'renamed' };

/** Every management endpoint with a path id, `{id}` standing for it. */
const ID_ENDPOINTS: Endpoint[] = [
  ['GET', '/tokens/{id}'],
  ['PATCH', '/tokens/{id}', NAME],
  ['DELETE', '/tokens/{id}'],
  ['POST', '/tokens/{id}/revoke'],
  ['POST', '/tokens/{id}/restore'],
  ['POST', '/tokens/{id}/rotate'],
  ['POST', '/admin/tokens/{id}/revoke'],
  ['POST', '/admin/tokens/{id}/restore'],
  ['DELETE', '/admin/tokens/{id}'],
  ['GET', '/admin/service-accounts/{id}'],
  ['PATCH', '/admin/service-accounts/{id}', NAME],
  ['GET', '/admin/service-accounts/{id}/tokens'],
  ['POST', '/admin/service-accounts/{id}/tokens', NAME],
  ['POST', '/admin/users/{id}/deactivate'],
  ['POST', '/admin/users/{id}/reactivate'],
];

/** [label, id as written in the URL, whether the problem must name `id`]. */
const IDS: [string, string, boolean][] = [
  ['NUL', '%00', false],
  ['dot-dot-slash', '..%2F..%2Fpolicy', false],
  ['encoded dots', '%2e%2e%2f', false],
  ['bad UTF-8', '%ED%A0%80', false],
  ['overlong UTF-8', '%C0%AF', false],
  ['SQL', "'%20OR%20'1'%3D'1", false],
  ['emoji', '%F0%9F%92%A9', false],
  ['CRLF', 'tok_%0D%0ASet-Cookie:%20x=1', false],
  ['a token instead of an id', generateToken('pat_'), false],
  ['65 characters', 'i'.repeat(65), true],
  ['10 KB', 'i'.repeat(10 * KB), true],
];

function send([method, path, body]: Endpoint, id: string, auth: Record<string, string>) {
  return call(`/api/v1${path.replace('{id}', id)}`, {
    method,
    headers: auth,
    ...(body ? { json: body } : {}),
  });
}

describe('odd path ids', () => {
  it.each(ID_ENDPOINTS.map((e) => [`${e[0]} ${e[1]}`, e] as const))('%s', async (_label, endpoint) => {
    const auth = endpoint[1].startsWith('/admin') ? world.admin.auth : world.member.auth;
    const before = await snapshotD1();
    for (const [label, id, namesId] of IDS) {
      const res = await send(endpoint, id, auth);
      const problem = await expectRefused(res, {
        label: `${endpoint[1]} ${label}`,
        ...(namesId ? { field: 'id' } : {}),
      });
      expect([400, 404], label).toContain(problem.status);
      expect(res.headers.get('Set-Cookie'), label).toBeNull();
    }
    expect(await snapshotD1()).toEqual(before);
  });

  it('another owner’s token id is a 404, exactly like a missing one', async () => {
    const res = await send(['POST', '/tokens/{id}/revoke'], world.token.id, world.target.auth);
    await expectRefused(res);
    expect(res.status).toBe(404);
  });
});

/** Every authenticated management endpoint. */
const AUTHENTICATED: Endpoint[] = [
  ...ID_ENDPOINTS,
  ['GET', '/tokens'],
  ['POST', '/tokens', NAME],
  ['GET', '/tokens/self'],
  ['POST', '/tokens/self/revoke'],
  ['GET', '/audit'],
  ['GET', '/currentuser'],
  ['GET', '/admin/tokens'],
  ['POST', '/admin/tokens/lookup', { token: 'x' }],
  ['POST', '/admin/tokens/bulk-revoke', { ids: ['tok_x'] }],
  ['GET', '/admin/service-accounts'],
  ['POST', '/admin/service-accounts', NAME],
  ['GET', '/admin/users'],
  ['GET', '/admin/audit'],
];

async function badCredentials(): Promise<[string, Record<string, string>][]> {
  const part = (value: object) =>
    btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const claims = {
    sub: 'mallory',
    role: 'admin',
    iss: TEST_VARS.AUTH_ISSUER,
    aud: TEST_VARS.AUTH_AUDIENCE,
    exp: 4e9,
  };
  const unsigned = `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
  return [
    ['no credential', {}],
    ['empty bearer', { Authorization: 'Bearer ' }],
    ['10 KB bearer', { Authorization: `Bearer ${'a'.repeat(10 * KB)}` }],
    ['three dots', { Authorization: 'Bearer a.b.c' }],
    ['Basic', { Authorization: `Basic ${btoa('admin:admin')}` }],
    ['alg none', { Authorization: `Bearer ${unsigned}` }],
    [
      'wrong secret',
      { Authorization: `Bearer ${await jwtFor('mallory', { role: 'admin', secret: 'x'.repeat(40) })}` },
    ],
    [
      'expired',
      {
        Authorization: `Bearer ${await jwtFor('mallory', { expiresIn: Math.floor(Date.now() / 1000) - 3600 })}`,
      },
    ],
    ['wrong audience', { Authorization: `Bearer ${await jwtFor('mallory', { audience: 'elsewhere' })}` }],
    ['unknown PAT in x-pat', { 'x-pat': generateToken('pat_') }],
    ['garbage x-pat', { 'x-pat': 'pat_<script>{}|\\' }],
    ['unknown PAT as bearer', { Authorization: `Bearer ${generateToken('pat_')}` }],
  ];
}

describe('malformed credentials', () => {
  it.each(AUTHENTICATED.map((e) => [`${e[0]} ${e[1]}`, e] as const))('%s', async (_label, endpoint) => {
    const before = await snapshotD1();
    for (const [label, headers] of await badCredentials()) {
      const res = await send(endpoint, world.token.id, headers);
      const problem = await expectRefused(res, { label: `${endpoint[1]} ${label}` });
      expect([401, 403], label).toContain(problem.status);
    }
    expect(await snapshotD1()).toEqual(before);
  });

  it('/tokens/self with a JWT instead of a PAT is a 400 pat_required', async () => {
    const before = await snapshotD1();
    for (const [method, path] of [
      ['GET', '/tokens/self'],
      ['POST', '/tokens/self/revoke'],
    ] as const) {
      const problem = await expectRefused(await send([method, path], '', world.member.auth));
      expect(problem.code).toBe('pat_required');
    }
    expect(await snapshotD1()).toEqual(before);
  });

  it('the unauthenticated endpoints ignore junk credentials (and never 5xx)', async () => {
    const before = await snapshotD1();
    for (const [, headers] of await badCredentials()) {
      expect((await call('/api/v1/policy?bogus=%00', { headers })).status).toBe(200);
      const leak = await call('/api/v1/credentials/revoke', {
        method: 'POST',
        headers: { ...headers, 'cf-connecting-ip': uniqueIp() },
        json: { credentials: ['x'] },
      });
      expect(leak.status).toBe(202);
    }
    expect(await snapshotD1()).toEqual(before);
  });
});
