// Browser-test kit: Debian's Chromium (never a downloaded browser) driven by playwright-core, against the real
// gateway started by the e2e harness. Everything started here is stopped by stop(): the browser, then the gateway's
// process group (the harness), then the temporary profile.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from '../../scripts/local';
import { type Harness, startHarness } from '../e2e/harness';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(ROOT, 'artifacts', 'screenshots');
export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 375, height: 812 };

export interface Kit {
  gateway: string;
  /** The harness's HTTP upstream: its port (its origin is another than the gateway's) and what it received. */
  upstream: Harness['upstream'];
  context: BrowserContext;
  stop(): Promise<void>;
}

export async function startKit(): Promise<Kit> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  mkdirSync(SCREENSHOTS, { recursive: true });
  const harness: Harness = await startHarness();
  const profile = mkdtempSync(join(tmpdir(), 'pat-gateway-chromium-'));
  let context: BrowserContext;
  try {
    // A persistent context is how Playwright takes a --user-data-dir: a fresh, empty profile per run.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: DESKTOP,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (error) {
    await harness.stop();
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: harness.gateway });
  return {
    gateway: harness.gateway,
    upstream: harness.upstream,
    context,
    async stop() {
      await context.close().catch(() => {});
      await harness.stop();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A page that records what must never happen: script errors and Content-Security-Policy violations. */
export async function newPage(kit: Kit, viewport = DESKTOP): Promise<{ page: Page; problems: string[] }> {
  const page = await kit.context.newPage();
  await page.setViewportSize(viewport);
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to (load|execute|apply)/i.test(message.text())) {
      problems.push(`CSP: ${message.text()}`);
    }
  });
  return { page, problems };
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Signs in with the development form, as a person would. */
export async function signIn(
  kit: Kit,
  page: Page,
  user: string,
  role: 'member' | 'admin',
  screenshot?: string,
) {
  // One browser profile serves every test: start each sign-in signed out.
  await kit.context.clearCookies();
  await page.goto(`${kit.gateway}/ui`);
  await page.getByLabel('User name').fill(user);
  await page.getByRole('radio', { name: role === 'admin' ? /^Admin/ : /^Member/ }).check();
  if (screenshot) await shot(page, screenshot);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Manage Personal Access Tokens' }).waitFor();
  await page.locator('#mine-list[aria-busy="false"]').waitFor();
}

/** The management JWT in this browser's session cookie (HttpOnly: only the test, not page scripts, can read it). */
export async function sessionJwt(kit: Kit): Promise<string> {
  const cookies = await kit.context.cookies(`${kit.gateway}/ui/`);
  const session = cookies.find((c) => c.name === '__Secure-pat_session');
  assert.ok(session, 'no session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(session.path, '/ui');
  return session.value;
}

/** A management JWT from the development session endpoint, without the UI. */
export async function devJwt(kit: Kit, user: string, role: 'admin' | 'member'): Promise<string> {
  const session = await fetch(`${kit.gateway}/api/v1/dev/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, role }),
  });
  assert.equal(session.status, 200);
  return ((await session.json()) as { token: string }).token;
}

export async function apiAs(kit: Kit, jwt: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${kit.gateway}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: res.status,
    body: res.status === 204 ? null : ((await res.json()) as Record<string, unknown>),
  };
}

/** What the demo route /echo (built-in upstream, wrangler.toml) answers to this token. */
export async function gatewayStatus(kit: Kit, token: string): Promise<number> {
  const res = await fetch(`${kit.gateway}/echo/hello`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

/** Polls the gateway until it answers `wanted` or `ms` pass; returns the last status. */
export async function gatewayStatusWithin(
  kit: Kit,
  token: string,
  wanted: number,
  ms: number,
): Promise<number> {
  const deadline = Date.now() + ms;
  let status = await gatewayStatus(kit, token);
  while (status !== wanted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = await gatewayStatus(kit, token);
  }
  return status;
}

/** The page must never scroll sideways (the phone layout). */
export async function assertNoHorizontalScroll(page: Page): Promise<void> {
  // A string expression: this file is type-checked without the DOM library.
  const { scrollWidth, innerWidth } = (await page.evaluate(
    '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
  )) as { scrollWidth: number; innerWidth: number };
  assert.ok(scrollWidth <= innerWidth, `page is ${scrollWidth}px wide in a ${innerWidth}px viewport`);
}
