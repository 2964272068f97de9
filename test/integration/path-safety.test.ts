import { afterEach, describe, expect, it, vi } from 'vitest';
import { bearer, call, createToken, jwtFor, uniqueUser } from '../helpers';

// Paths an upstream that decodes before routing could read as leaving the route's base are refused before any
// route matching; encoded slashes alone (ids such as GitLab's group%2Fproject) still pass.

afterEach(() => vi.restoreAllMocks());

describe('ambiguous paths are never proxied', () => {
  it.each([
    '/svc/..%2F..%2Fadmin',
    '/svc/%252e%252e%252fadmin',
    '/svc/..;x/admin',
    '/svc/a%5C..%5Cadmin',
    '/svc//evil.test/x',
    // The same `//` once an upstream decodes the path: an encoded slash at either end of a segment.
    '/svc/%2Fevil.test/x',
    '/svc/%252F%252Fevil.test/x',
    '/svc/a%2F/x',
    '/svc/%5Cevil.test/x',
  ])('%s → 400 invalid_path, upstream never called', async (path) => {
    const upstream = vi.spyOn(globalThis, 'fetch').mockImplementation(async () => new Response('upstream'));
    const { token } = await createToken(await jwtFor(uniqueUser()));
    const res = await call(path, { headers: bearer(token) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('invalid_path');
    expect(upstream).not.toHaveBeenCalled();
  });

  it('single-encoded dots are resolved by the URL parser itself: /svc/%2e%2e/admin is /admin, no route', async () => {
    const upstream = vi.spyOn(globalThis, 'fetch').mockImplementation(async () => new Response('upstream'));
    const { token } = await createToken(await jwtFor(uniqueUser()));
    expect((await call('/svc/%2e%2e/admin', { headers: bearer(token) })).status).toBe(404);
    expect(upstream).not.toHaveBeenCalled();
  });

  it('keeps encoded slashes in ids and trailing slashes', async () => {
    const seen: string[] = [];
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
      seen.push(new Request(input as RequestInfo, init).url);
      return new Response('ok');
    });
    const { token } = await createToken(await jwtFor(uniqueUser()));
    expect((await call('/svc/projects/group%2Fproject/', { headers: bearer(token) })).status).toBe(200);
    expect(seen).toEqual(['http://upstream.test/base/projects/group%2Fproject/']);
  });
});
