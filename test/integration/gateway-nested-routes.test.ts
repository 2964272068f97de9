import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getConfig } from '../../src/config';
import { generateToken } from '../../src/tokens/format';
import { fakeUpstream } from '../gateway-support';
import { bearer, call } from '../helpers';
import { knownUserWithToken } from './admin-support';
import { expectProblem, userWithToken } from './support';

// Nested routes (test/vars.ts): `/nest` needs `read`, `/nest/Admin` needs `admin`, both forward the path as it is.
// A request matched by `/nest` must not reach the path of `/nest/Admin` once the gateway removes a token segment,
// nor once an upstream decodes it, drops `;parameters`, reads `\` as `/` or ignores case.

afterEach(() => vi.restoreAllMocks());

const member = () => userWithToken({ scopes: ['read'] });

describe('nested routes', () => {
  it('a read token reaches /nest paths but not /nest/Admin (the control)', async () => {
    const upstream = fakeUpstream();
    const { created } = await member();
    expect((await call('/nest/users', { headers: bearer(created.token) })).status).toBe(200);
    expect((await call('/nest/admin-panel/x', { headers: bearer(created.token) })).status).toBe(200);
    await expectProblem(
      await call('/nest/Admin/users', { headers: bearer(created.token) }),
      403,
      'insufficient_scope',
    );
    expect(upstream.requests.map((r) => r.url.pathname)).toEqual(['/nest/users', '/nest/admin-panel/x']);
  });

  it('a token segment the gateway removes cannot move the request under the nested route', async () => {
    const upstream = fakeUpstream();
    const { created } = await member();
    const junk = generateToken(getConfig(env).tokenPrefix); // well-formed, never issued
    for (const path of [
      `/nest/${junk}/Admin/users`,
      `/nest/${junk}/Admin`,
      `/nest/${junk}/${junk}/Admin/x`,
    ]) {
      const problem = await expectProblem(
        await call(path, { headers: bearer(created.token) }),
        400,
        'invalid_path',
      );
      expect(problem.detail).toContain('nest-admin');
      expect(JSON.stringify(problem)).not.toContain(junk);
    }
    // The route's own token segment (last) still works where the path stays under /nest.
    expect((await call(`/nest/users/${created.token}`)).status).toBe(200);
    expect(upstream.requests.map((r) => r.url.pathname)).toEqual(['/nest/users']);
  });

  it('nor can a spelling an upstream reads as the nested path', async () => {
    const upstream = fakeUpstream();
    const { created } = await member();
    for (const path of [
      '/nest/admin/users',
      '/nest/ADMIN',
      '/nest/%41dmin/users',
      '/nest/%2541dmin/users',
      '/nest/Admin%2Fusers',
      '/nest/Admin;jsessionid=1/users',
      '/nest/Admin%3Bx/users',
      '/nest/Admin%5Cusers',
      // Lookalikes (IIS %u, overlong UTF-8, full-width), and the trailing dots and spaces IIS drops.
      '/nest/%u0041dmin/users',
      '/nest/%C1%81dmin/users',
      '/nest/%EF%BC%A1dmin/users',
      '/nest/%25EF%25BC%25A1dmin/users',
      '/nest/Admin./users',
      '/nest/Admin%20/users',
      '/nest/Admin.%20./users',
    ]) {
      await expectProblem(await call(path, { headers: bearer(created.token) }), 400, 'invalid_path');
    }
    expect(upstream.requests).toEqual([]);
  });

  it('an admin token reaches the nested route by its own spelling', async () => {
    const upstream = fakeUpstream();
    const { created } = await knownUserWithToken('admin', { scopes: ['admin', 'read'] });
    expect((await call('/nest/Admin/users', { headers: bearer(created.token) })).status).toBe(200);
    expect(upstream.only().url.pathname).toBe('/nest/Admin/users');
  });
});
