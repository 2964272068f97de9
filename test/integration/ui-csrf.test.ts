import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { BASE, bearer, call, createToken, jwtFor, uniqueUser } from '../helpers';
import { expectJson, expectProblem } from './support';

// CSRF protection for browser-attached credentials (the session cookie, Cloudflare Access's header): an unsafe
// request must come from our own origin and carry the session's token. Bearer callers are unaffected.

const SAME_ORIGIN = { Origin: BASE, 'Sec-Fetch-Site': 'same-origin' };

/**
 * A cross-site request is refused either by the management API's own cross-site guard (`cross_site_request`,
 * before authentication) or by the session's CSRF check (`csrf_failed`): both are a 403 that changes nothing.
 */
async function expectCrossSiteRefusal(res: Response) {
  expect(res.status).toBe(403);
  const problem = (await res.json()) as { code: string };
  expect(['cross_site_request', 'csrf_failed']).toContain(problem.code);
}

interface Session {
  subject: string;
  jwt: string;
  credential: Record<string, string>;
  csrf: string;
}

/** A signed-in browser: its credential header (cookie or Access) and the CSRF token its page received. */
async function browserSession(via: 'cookie' | 'access' = 'cookie'): Promise<Session> {
  const subject = uniqueUser(`csrf-${via}`);
  const jwt = await jwtFor(subject);
  const credential: Record<string, string> =
    via === 'cookie' ? { Cookie: `__Secure-pat_session=${jwt}` } : { 'Cf-Access-Jwt-Assertion': jwt };
  const html = await (await call('/ui', { headers: credential })).text();
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(html)?.[1];
  if (!csrf) throw new Error('the page has no CSRF token');
  return { subject, jwt, credential, csrf };
}

function createVia(session: Session, headers: Record<string, string>, base = '/ui/api/v1') {
  return call(`${base}/tokens`, {
    method: 'POST',
    headers: { ...session.credential, ...headers },
    json: { name: `csrf ${uniqueUser('t')}`, expires_in_days: 7 },
  });
}

async function tokensOwnedBy(subject: string): Promise<number> {
  const row = await env.DB.prepare(
    'select count(*) as n from tokens t join principals p on p.id = t.owner_id where p.subject = ?',
  )
    .bind(subject)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe.each(['cookie', 'access'] as const)('a %s-authenticated unsafe request', (via) => {
  it('succeeds from our origin with the session’s CSRF token', async () => {
    const session = await browserSession(via);
    const res = await createVia(session, { ...SAME_ORIGIN, 'X-CSRF-Token': session.csrf });
    expect(res.status).toBe(201);
    expect(await tokensOwnedBy(session.subject)).toBe(1);
  });

  it.each([
    ['without the CSRF token', {}],
    ['with a wrong CSRF token', { 'X-CSRF-Token': 'A'.repeat(43) }],
  ])('is refused %s', async (_label, headers) => {
    const session = await browserSession(via);
    await expectProblem(await createVia(session, { ...SAME_ORIGIN, ...headers }), 403, 'csrf_failed');
    expect(await tokensOwnedBy(session.subject)).toBe(0);
  });

  it.each([
    ['a foreign Origin', { Origin: 'https://evil.example' }],
    ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site', Origin: BASE }],
    ['Sec-Fetch-Site: same-site', { 'Sec-Fetch-Site': 'same-site' }],
    ['neither Origin nor Sec-Fetch-Site', {}],
  ])('is refused from %s even with the right token', async (_label, headers) => {
    const session = await browserSession(via);
    const res = await createVia(session, { ...headers, 'X-CSRF-Token': session.csrf });
    await expectCrossSiteRefusal(res);
    expect(await tokensOwnedBy(session.subject)).toBe(0);
  });
});

describe('CSRF scope', () => {
  it('applies to the API under /api/v1 too, not only to the /ui mount', async () => {
    const session = await browserSession();
    await expectProblem(await createVia(session, SAME_ORIGIN, '/api/v1'), 403, 'csrf_failed');
    const ok = await createVia(session, { ...SAME_ORIGIN, 'X-CSRF-Token': session.csrf }, '/api/v1');
    expect(ok.status).toBe(201);
  });

  it('binds the token to its session: another session’s token is refused', async () => {
    const alice = await browserSession();
    const bob = await browserSession();
    const res = await createVia(alice, { ...SAME_ORIGIN, 'X-CSRF-Token': bob.csrf });
    await expectProblem(res, 403, 'csrf_failed');
  });

  it('lets safe requests through without a token', async () => {
    const session = await browserSession();
    const page = await expectJson<{ data: unknown[] }>(
      await call('/ui/api/v1/tokens', { headers: session.credential }),
      200,
    );
    expect(page.data).toEqual([]);
  });

  it('covers DELETE and PATCH as well as POST', async () => {
    const session = await browserSession();
    const created = await createToken(session.jwt);
    const del = await call(`/ui/api/v1/tokens/${created.id}`, {
      method: 'DELETE',
      headers: { ...session.credential, ...SAME_ORIGIN },
    });
    await expectProblem(del, 403, 'csrf_failed');
    const patch = await call(`/ui/api/v1/tokens/${created.id}`, {
      method: 'PATCH',
      headers: { ...session.credential, Origin: 'https://evil.example', 'X-CSRF-Token': session.csrf },
      json: { name: 'renamed' },
    });
    await expectCrossSiteRefusal(patch);
    expect(await tokensOwnedBy(session.subject)).toBe(1);
  });

  it('does not apply to an explicit Authorization header: scripts need no CSRF token', async () => {
    const jwt = await jwtFor(uniqueUser('bearer'));
    const res = await call('/api/v1/tokens', {
      method: 'POST',
      headers: bearer(jwt),
      json: { name: 'script token', expires_in_days: 7 },
    });
    expect(res.status).toBe(201);
  });

  it('never accepts a PAT as a browser credential', async () => {
    const owner = await jwtFor(uniqueUser('pat-cookie'));
    const { token } = await createToken(owner);
    const res = await call('/ui/api/v1/currentuser', {
      headers: { Cookie: `__Secure-pat_session=${token}` },
    });
    await expectProblem(res, 401, 'invalid_token');
  });
});

describe('a read through /ui/api/v1 with the page’s CSRF token', () => {
  it('is refused (403 csrf_failed) when the session is no longer the page’s, and nothing of it is shown', async () => {
    const before = await browserSession();
    const after = await browserSession(); // someone signed in again in another tab: a new cookie
    const read = (session: Session, csrf?: string) =>
      call('/ui/api/v1/tokens', {
        headers: { ...session.credential, ...(csrf ? { 'X-CSRF-Token': csrf } : {}) },
      });
    await expectProblem(await read(after, before.csrf), 403, 'csrf_failed');
    expect((await read(after, after.csrf)).status).toBe(200);
    // Without the header (not the page, e.g. curl with the cookie) reads work as before.
    expect((await read(after)).status).toBe(200);
  });
});
