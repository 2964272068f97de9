import type { Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { decodeJwt } from 'jose';
import { type Identity, invalidToken, signDevJwt, verifyManagementJwt } from '../auth/jwt';
import type { AppEnv } from '../env';
import { AppError } from '../errors';
import {
  ACCESS_HEADER,
  ambientCredential,
  assertCsrf,
  assertSameOrigin,
  csrfTokenFor,
  SESSION_COOKIE,
  unauthenticated,
} from '../http/authenticate';
import { signInPage } from './sign-in-page';

// The web UI's session: a management JWT in the session cookie (set here) or Cloudflare Access's assertion header
// (set by the edge). Either is verified exactly like a JWT in `Authorization`. Routes:
//   POST   /ui/session/dev  development only: the dev sign-in form, the same identity as POST /api/v1/dev/session
//   POST   /ui/session      `Authorization: Bearer <JWT>` → the cookie, for a deployment's own sign-in front end
//   DELETE /ui/session      sign out (clears the cookie)

/** The rule POST /api/v1/dev/session applies to user names. */
const DEV_USER = /^[A-Za-z0-9._@-]{1,64}$/;
/** Longest cookie lifetime (s); the cookie never outlives the JWT inside it either. */
const MAX_SESSION_SECONDS = 12 * 3600;
const COOKIE_NAME = `__Secure-${SESSION_COOKIE.name}`;

export interface UiSession {
  identity: Identity;
  source: 'cookie' | 'access';
  csrfToken: string;
}

/** The browser's verified session, or null when it has none or it no longer verifies (expired, wrong issuer…). */
export async function currentSession(c: Context<AppEnv>): Promise<UiSession | null> {
  const credential = ambientCredential(c);
  if (!credential) return null;
  try {
    const identity = await verifyManagementJwt(credential, c.get('config').auth);
    const source = c.req.header(ACCESS_HEADER) ? 'access' : 'cookie';
    return { identity, source, csrfToken: await csrfTokenFor(credential) };
  } catch (error) {
    // 401 means a bad credential: show the sign-in page. Anything else (identity provider down) is a real error.
    if (error instanceof AppError && error.status === 401) return null;
    throw error;
  }
}

export function hasSessionCookie(c: Context<AppEnv>): boolean {
  return getCookie(c, COOKIE_NAME) !== undefined;
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, SESSION_COOKIE.name, { prefix: SESSION_COOKIE.prefix, path: SESSION_COOKIE.path });
}

function setSessionCookie(c: Context<AppEnv>, jwt: string): void {
  const expiresIn = (decodeJwt(jwt).exp ?? 0) - Math.floor(Date.now() / 1000);
  // Verification allows clock skew, but a cookie for an expired JWT would be no session at all: say so instead.
  if (expiresIn <= 0) throw invalidToken();
  setCookie(c, SESSION_COOKIE.name, jwt, {
    prefix: SESSION_COOKIE.prefix,
    path: SESSION_COOKIE.path,
    httpOnly: true,
    sameSite: 'Strict',
    maxAge: Math.max(0, Math.min(expiresIn, MAX_SESSION_SECONDS)),
  });
}

const isDevMode = (c: Context<AppEnv>) =>
  c.get('config').environment === 'development' && c.get('config').devSessions;

export function registerSessionRoutes(ui: Hono<AppEnv>): void {
  ui.post('/session/dev', async (c) => {
    if (!isDevMode(c)) throw new AppError(404, 'not_found', 'Not found', { detail: 'No such endpoint.' });
    // Login CSRF: another site must not be able to sign this browser in as someone else.
    assertSameOrigin(c);
    const form = await c.req.parseBody();
    const user = typeof form.user === 'string' ? form.user.trim() : '';
    const role = form.role === 'admin' || form.role === 'member' ? form.role : null;
    const errors = {
      user: DEV_USER.test(user)
        ? undefined
        : 'Enter a user name: letters, digits and . _ @ -, at most 64 characters.',
      role: role ? undefined : 'Choose a role.',
    };
    if (errors.user || errors.role) {
      const values = { user, role: role ?? undefined };
      return c.html(signInPage({ devMode: true, errors, values }), 422, { 'Cache-Control': 'no-store' });
    }
    const { token } = await signDevJwt(c.get('config').auth, {
      subject: user,
      role: role!,
      name: user,
      email: null,
    });
    setSessionCookie(c, token);
    return c.redirect('/ui', 303);
  });

  ui.post('/session', async (c) => {
    const match = /^Bearer +([^\s]+) *$/i.exec(c.req.header('Authorization') ?? '');
    if (!match) throw unauthenticated();
    await verifyManagementJwt(match[1]!, c.get('config').auth);
    setSessionCookie(c, match[1]!);
    return c.body(null, 204, { 'Cache-Control': 'no-store' });
  });

  ui.delete('/session', async (c) => {
    const credential = getCookie(c, COOKIE_NAME);
    if (credential) await assertCsrf(c, credential);
    else assertSameOrigin(c);
    clearSessionCookie(c);
    return c.body(null, 204, { 'Cache-Control': 'no-store' });
  });
}
