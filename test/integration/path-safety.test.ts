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
    // Lookalikes, for upstreams that decode overlong UTF-8 or normalize (NFKC) before routing.
    '/svc/%C0%AE%C0%AE/admin',
    '/svc/%E0%80%AE%E0%80%AE/admin',
    '/svc/%F0%80%80%AE%F0%80%80%AE/admin',
    '/svc/..%C0%AFadmin',
    '/svc/a%C1%9C..%C1%9Cadmin',
    '/svc/%C0%AFevil.test/x',
    '/svc/%25C0%25AE%25C0%25AE/admin',
    '/svc/%EF%BC%8E%EF%BC%8E/admin',
    '/svc/a%EF%BC%8F..%EF%BC%8Fadmin',
    '/svc/%EF%BC%BCevil.test/x',
    '/svc/%E2%80%A5/admin',
    '/svc/%EF%BC%85%EF%BC%92%EF%BD%85%EF%BC%85%EF%BC%92%EF%BD%85/admin',
    '/svc/..%EF%BC%9Bx/admin',
    '/svc/%u002e%u002e/admin',
    '/svc/%u002e%u002e%u002fadmin',
    '/svc/%F8%80%80%80%AE%F8%80%80%80%AE/admin',
    '/svc/%FC%80%80%80%80%AE%FC%80%80%80%80%AE/admin',
    // A full-width percent sign spelling an overlong escape: `％C0％AE`.
    '/svc/%EF%BC%85C0%EF%BC%85AE%EF%BC%85C0%EF%BC%85AE/admin',
    '/svc/a%EF%BC%85C0%EF%BC%85AF..%EF%BC%85C0%EF%BC%85AFadmin',
    // What ends the path for an upstream that re-parses or truncates it.
    '/svc/..%3F/admin',
    '/svc/..%23/admin',
    '/svc/..%00/admin',
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
    // Non-ASCII ids, a lone overlong or invalid byte and full-width dots inside a name are not dot segments.
    const ids = '/caf%C3%A9/%E6%97%A5%E6%9C%AC/v1%EF%BC%8E2/%C0%AEx/%FF%FE/%E2%80%A5a';
    expect((await call(`/svc${ids}`, { headers: bearer(token) })).status).toBe(200);
    expect(seen).toEqual([
      'http://upstream.test/base/projects/group%2Fproject/',
      `http://upstream.test/base${ids}`,
    ]);
  });
});
