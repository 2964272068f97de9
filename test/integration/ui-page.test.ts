import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { BASE, call, jwtFor, uniqueUser } from '../helpers';
import { expectProblem } from './support';

// The web UI's page and assets: what is served, with which headers, and that nothing breaks the strict CSP.

const cookie = (jwt: string) => ({ Cookie: `__Secure-pat_session=${jwt}` });

async function callProduction(path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const vars = { ...env, ENVIRONMENT: 'production', DEV_SESSIONS: 'false' };
  const res = await createApp().fetch(new Request(BASE + path, init), vars, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** Every same-origin script and stylesheet the page references. */
function assetsOf(html: string): string[] {
  const refs = [...html.matchAll(/<(?:script|link)[^>]+(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  return refs.filter((ref) => ref.startsWith('/'));
}

function expectStrictPage(res: Response, html: string) {
  expect(res.status).toBe(200);
  expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
  expect(res.headers.get('Cache-Control')).toBe('no-store');
  const csp = res.headers.get('Content-Security-Policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toMatch(/script-src 'self'(;|$)/);
  expect(csp).toMatch(/style-src 'self'(;|$)/);
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
  // No inline script, inline style, event-handler attribute or anything from another origin.
  expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/i);
  expect(html).not.toMatch(/<style[\s>]|\sstyle="|\son[a-z]+="/i);
  expect(html).not.toMatch(/(?:src|href|action)="(?:https?:)?\/\//);
}

describe('GET /ui', () => {
  it('is where / sends a browser', async () => {
    const res = await call('/', { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('Location')).toMatch(/\/ui$/);
  });

  it('shows the development sign-in form without a session', async () => {
    const res = await call('/ui');
    const html = await res.text();
    expectStrictPage(res, html);
    expect(html).toContain('action="/ui/session/dev"');
    expect(html).toMatch(/<label for="dev-user">User name<\/label>/);
    expect(html).toContain('name="role" value="admin"');
    expect(html).not.toContain('csrf-token');
  });

  it('shows the app, its CSRF token and every asset it needs to a signed-in user', async () => {
    const jwt = await jwtFor(uniqueUser('page'), { name: 'Page Person' });
    const res = await call('/ui', { headers: cookie(jwt) });
    const html = await res.text();
    expectStrictPage(res, html);
    expect(html).toMatch(/<meta name="csrf-token" content="[A-Za-z0-9_-]{43}">/);
    expect(html).toContain('Manage Personal Access Tokens');
    expect(html).toContain('Page Person');
    expect(html).toContain(
      'This is the only time you will see the full token. Please copy and store it securely.',
    );
    const assets = assetsOf(html);
    expect(assets.some((a) => a.startsWith('/ui/app.js?v='))).toBe(true);
    expect(assets.some((a) => a.startsWith('/ui/app.css?v='))).toBe(true);
    for (const asset of assets) expect((await call(asset)).status, asset).toBe(200);
  });

  it('treats an expired session as signed out and clears its cookie', async () => {
    const jwt = await jwtFor(uniqueUser('expired'), { expiresIn: Math.floor(Date.now() / 1000) - 3600 });
    const res = await call('/ui', { headers: cookie(jwt) });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('Your session has expired');
    expect(html).not.toContain('csrf-token');
    expect(res.headers.get('Set-Cookie')).toMatch(/^__Secure-pat_session=; Max-Age=0; Path=\/ui; Secure/);
  });

  it('accepts Cloudflare Access’s assertion header and signs out through Access', async () => {
    const jwt = await jwtFor(uniqueUser('access'), { email: 'access@example.test' });
    const html = await (await call('/ui', { headers: { 'Cf-Access-Jwt-Assertion': jwt } })).text();
    expect(html).toContain('<meta name="session-source" content="access">');
    expect(html).toContain('href="/cdn-cgi/access/logout"');
  });

  it('in production offers no development sign-in', async () => {
    const res = await callProduction('/ui');
    const html = await res.text();
    expectStrictPage(res, html);
    expect(html).toContain('Sign in required');
    expect(html).not.toContain('/ui/session/dev');
  });

  it('sends /ui/ to /ui', async () => {
    const res = await call('/ui/', { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('Location')).toBe('/ui');
  });

  it('answers 404 problem+json for unknown UI paths', async () => {
    await expectProblem(await call('/ui/nothing-here'), 404, 'not_found');
  });
});

describe('UI assets', () => {
  it.each([
    ['/ui/app.js', /^text\/javascript/],
    ['/ui/app.css', /^text\/css/],
  ])('%s is served by the Worker with a validator', async (path, type) => {
    const res = await call(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(type);
    expect(res.headers.get('Cache-Control')).toBe('no-cache');
    expect(res.headers.get('Content-Security-Policy')).toContain("default-src 'none'");
    const etag = res.headers.get('ETag')!;
    expect(etag).toMatch(/^"[0-9a-z]+"$/);
    const again = await call(path, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    const versioned = await call(`${path}?v=${etag.slice(1, -1)}`);
    expect(versioned.headers.get('Cache-Control')).toBe('public, max-age=31536000, immutable');
  });

  it('the script uses no eval, no inline HTML injection and the seeds’ wording', async () => {
    const js = await (await call('/ui/app.js')).text();
    expect(js).not.toMatch(/\beval\(|new Function\(|innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    expect(js).not.toMatch(/https?:\/\//);
    expect(js).toContain('This personal access token will be permanently deleted and cannot be restored.');
    expect(js).toContain('You have copied token to your clipboard.');
    expect(js).toContain('New token successfully created.');
    expect(js).toContain('Never used');
  });
});
