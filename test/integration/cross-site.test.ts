import { describe, expect, it } from 'vitest';
import { BASE, bearer, call, jwtFor, uniqueUser } from '../helpers';

// Browsers mark cross-site requests; the management API refuses unsafe ones whatever the credential.

describe('cross-site requests to the management API', () => {
  const create = (headers: Record<string, string>, jwt: string) =>
    call('/api/v1/tokens', {
      method: 'POST',
      headers: { ...bearer(jwt), ...headers },
      json: { name: uniqueUser('xs') },
    });

  it.each([
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['Origin: null (sandboxed frame, file://)', { origin: 'null' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site (another subdomain)', { 'sec-fetch-site': 'same-site' }],
  ])('refuses a POST with %s: 403 cross_site_request, nothing created', async (_label, headers) => {
    const jwt = await jwtFor(uniqueUser());
    const res = await create(headers, jwt);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe('cross_site_request');
    const list = await call('/api/v1/tokens', { headers: bearer(jwt) });
    expect(((await list.json()) as { data: unknown[] }).data).toHaveLength(0);
  });

  it('allows same-origin browsers and clients that send neither header', async () => {
    const jwt = await jwtFor(uniqueUser());
    expect((await create({ origin: BASE, 'sec-fetch-site': 'same-origin' }, jwt)).status).toBe(201);
    expect((await create({}, jwt)).status).toBe(201);
  });

  it('never sends CORS headers, so other sites cannot read answers', async () => {
    const jwt = await jwtFor(uniqueUser());
    const res = await call('/api/v1/tokens', { headers: { ...bearer(jwt), origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
