import { type Context, Hono } from 'hono';
import type { AppEnv, Env } from '../env';
import { notFound } from '../errors';
import { ambientCredential, assertSessionToken, CSRF_HEADER } from '../http/authenticate';
import { appPage } from './app-page';
import { serveAsset } from './assets';
import { clearSessionCookie, currentSession, hasSessionCookie, registerSessionRoutes } from './session';
import { signInPage } from './sign-in-page';

// The "Manage Personal Access Tokens" web UI, mounted at /ui: the page, its two assets, the session routes, and
// /ui/api/v1/* — the management API again, reached under /ui because the session cookie is scoped to /ui (so the
// browser never sends it to proxied upstreams on this host). The global security headers (strict CSP) apply.

export interface UiOptions {
  /** Runs a request through the whole app (middleware included): how /ui/api/v1/* reaches /api/v1/*. */
  dispatch(request: Request, env: Env, ctx: Context<AppEnv>['executionCtx']): Response | Promise<Response>;
}

const NO_STORE = { 'Cache-Control': 'no-store' };

export function uiRoutes(options: UiOptions): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.get('/', async (c) => {
    const config = c.get('config');
    const session = await currentSession(c);
    if (!session) {
      const expired = hasSessionCookie(c);
      if (expired) clearSessionCookie(c);
      const page = signInPage({
        devMode: config.environment === 'development' && config.devSessions,
        notice: expired ? 'Your session has expired. Please sign in again.' : undefined,
      });
      return c.html(page, 200, NO_STORE);
    }
    const { identity } = session;
    const displayName = identity.name ?? identity.email ?? identity.subject;
    return c.html(
      appPage({ csrfToken: session.csrfToken, source: session.source, displayName }),
      200,
      NO_STORE,
    );
  });
  ui.get('/app.js', (c) => serveAsset(c, 'js'));
  ui.get('/app.css', (c) => serveAsset(c, 'css'));
  registerSessionRoutes(ui);

  ui.all('/api/v1/*', async (c) => {
    // The page sends its session's CSRF token on reads too. When the cookie now holds another session (someone
    // signed in again in another tab), the token no longer matches: 403 csrf_failed, and the page says the session
    // changed instead of showing the new user's tokens under the old name.
    const credential = ambientCredential(c);
    if (credential && c.req.header(CSRF_HEADER) !== undefined) await assertSessionToken(c, credential);
    const url = new URL(c.req.url);
    url.pathname = url.pathname.slice('/ui'.length);
    return options.dispatch(new Request(url, c.req.raw), c.env, c.executionCtx);
  });

  // Everything else under /ui is ours too (and never proxied): a plain 404 problem. `/ui/` is a typed URL.
  ui.all('*', (c) => {
    if (c.req.method === 'GET' && new URL(c.req.url).pathname === '/ui/') return c.redirect('/ui', 301);
    throw notFound('page');
  });
  return ui;
}
