import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { BASE, bearer, call, jwtFor, uniqueUser } from '../helpers';
import { API, expectJson, expectProblem } from './support';

// The UI session: dev sign-in (development only), the cookie's flags, the production JWT exchange, sign-out.

const SAME_ORIGIN = { Origin: BASE, 'Sec-Fetch-Site': 'same-origin' };
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

interface CurrentUser {
  id: string;
  subject: string;
  role: string;
  name: string | null;
}

function devSignIn(user: string, role = 'member', headers: Record<string, string> = SAME_ORIGIN) {
  return call('/ui/session/dev', {
    method: 'POST',
    headers: { ...FORM, ...headers },
    body: new URLSearchParams({ user, role }).toString(),
    redirect: 'manual',
  });
}

/** The session cookie's value and its attributes (lower-cased names). */
function sessionCookie(res: Response) {
  const header = res.headers.get('Set-Cookie') ?? '';
  const [pair, ...attrs] = header.split(';').map((part) => part.trim());
  expect(pair).toMatch(/^__Secure-pat_session=/);
  return {
    value: pair!.slice(pair!.indexOf('=') + 1),
    attrs: attrs.map((a) => a.toLowerCase()),
  };
}

async function withVars(vars: Record<string, string>, path: string, init: RequestInit) {
  const ctx = createExecutionContext();
  const res = await createApp().fetch(new Request(BASE + path, init), { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe('POST /ui/session/dev', () => {
  it('signs in with a Secure, HttpOnly, SameSite=Strict cookie scoped to /ui', async () => {
    const res = await devSignIn(uniqueUser('dev').slice(0, 60), 'admin');
    expect(res.status).toBe(303);
    expect(res.headers.get('Location')).toBe('/ui');
    const { value, attrs } = sessionCookie(res);
    expect(value.split('.')).toHaveLength(3);
    expect(attrs).toEqual(
      expect.arrayContaining(['secure', 'httponly', 'samesite=strict', 'path=/ui', 'max-age=43200']),
    );
    expect(attrs.some((a) => a.startsWith('domain'))).toBe(false);
  });

  it('gives the same identity as POST /api/v1/dev/session', async () => {
    const user = uniqueUser('same').slice(0, 60);
    const { value } = sessionCookie(await devSignIn(user, 'admin'));
    const viaUi = await expectJson<CurrentUser>(
      await call('/ui/api/v1/currentuser', { headers: { Cookie: `__Secure-pat_session=${value}` } }),
      200,
    );
    const api = await call(`${API}/dev/session`, { method: 'POST', json: { user, role: 'admin' } });
    const { token } = await expectJson<{ token: string }>(api, 200);
    const viaApi = await expectJson<CurrentUser>(
      await call(`${API}/currentuser`, { headers: bearer(token) }),
      200,
    );
    expect(viaUi).toMatchObject({ subject: user, role: 'admin', name: user });
    expect(viaUi.id).toBe(viaApi.id);
    expect(viaApi).toMatchObject({ subject: user, role: 'admin', name: user });
  });

  it('redisplays the form with the error beside the field for a bad user name', async () => {
    const res = await devSignIn('two words');
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html).toMatch(/<p class="field-error" id="dev-user-error">Enter a user name/);
    expect(html).toContain('aria-invalid="true"');
    expect(html).toContain('value="two words"');
    expect(res.headers.get('Set-Cookie')).toBeNull();
  });

  it('accepts a same-origin form post whose Origin is null (Referrer-Policy: no-referrer)', async () => {
    const res = await devSignIn('nullorigin', 'member', { Origin: 'null', 'Sec-Fetch-Site': 'same-origin' });
    expect(res.status).toBe(303);
  });

  it.each([
    ['a foreign Origin', { Origin: 'https://evil.example' }],
    ['Origin: null alone', { Origin: 'null' }],
    ['Origin: null from another site', { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' }],
    ['a cross-site fetch', { 'Sec-Fetch-Site': 'cross-site' }],
    ['neither Origin nor Sec-Fetch-Site', {}],
  ])('refuses %s (login CSRF) without setting a cookie', async (_label, headers) => {
    const res = await devSignIn('mallory', 'admin', headers);
    await expectProblem(res, 403, 'csrf_failed');
    expect(res.headers.get('Set-Cookie')).toBeNull();
  });

  it.each([
    ['in production', { ENVIRONMENT: 'production', DEV_SESSIONS: 'false' }],
    ['in development with DEV_SESSIONS off', { ENVIRONMENT: 'development', DEV_SESSIONS: 'false' }],
  ])('does not exist %s', async (_label, vars) => {
    const res = await withVars(vars, '/ui/session/dev', {
      method: 'POST',
      headers: { ...FORM, ...SAME_ORIGIN },
      body: 'user=alice&role=admin',
    });
    await expectProblem(res, 404, 'not_found');
    expect(res.headers.get('Set-Cookie')).toBeNull();
  });
});

describe('POST /ui/session (a deployment’s sign-in front end)', () => {
  it('turns a verified management JWT into the session cookie', async () => {
    const subject = uniqueUser('exchange');
    const jwt = await jwtFor(subject, { expiresIn: '30m' });
    const res = await call('/ui/session', { method: 'POST', headers: bearer(jwt) });
    expect(res.status).toBe(204);
    const { value, attrs } = sessionCookie(res);
    expect(value).toBe(jwt);
    const maxAge = Number(attrs.find((a) => a.startsWith('max-age='))!.slice(8));
    expect(maxAge).toBeGreaterThan(1700);
    expect(maxAge).toBeLessThanOrEqual(1800);
  });

  // Within the clock-skew leeway an expired JWT still verifies, but its cookie would live 0 s: no silent 204.
  it('refuses a JWT that has just expired, rather than setting a cookie that is already gone', async () => {
    const jwt = await jwtFor(uniqueUser('stale'), { expiresIn: Math.floor(Date.now() / 1000) - 5 });
    const res = await call('/ui/session', { method: 'POST', headers: bearer(jwt) });
    await expectProblem(res, 401, 'invalid_token');
    expect(res.headers.get('Set-Cookie')).toBeNull();
  });

  it('refuses a JWT it cannot verify', async () => {
    const forged = await jwtFor(uniqueUser('forged'), { secret: 'not-the-secret-0123456789abcdef0123' });
    const res = await call('/ui/session', { method: 'POST', headers: bearer(forged) });
    await expectProblem(res, 401, 'invalid_token');
    expect(res.headers.get('Set-Cookie')).toBeNull();
  });
});

describe('DELETE /ui/session', () => {
  async function signedIn() {
    const { value } = sessionCookie(await devSignIn(uniqueUser('out').slice(0, 60)));
    const headers = { Cookie: `__Secure-pat_session=${value}` };
    const html = await (await call('/ui', { headers })).text();
    const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(html)![1]!;
    return { headers, csrf };
  }

  it('signs out: the cookie is cleared', async () => {
    const { headers, csrf } = await signedIn();
    const res = await call('/ui/session', {
      method: 'DELETE',
      headers: { ...headers, ...SAME_ORIGIN, 'X-CSRF-Token': csrf },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('Set-Cookie')).toMatch(/^__Secure-pat_session=; Max-Age=0; Path=\/ui; Secure/);
  });

  it('refuses a sign-out without the CSRF token', async () => {
    const { headers } = await signedIn();
    const res = await call('/ui/session', { method: 'DELETE', headers: { ...headers, ...SAME_ORIGIN } });
    await expectProblem(res, 403, 'csrf_failed');
    expect(res.headers.get('Set-Cookie')).toBeNull();
  });
});
