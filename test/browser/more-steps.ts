// Browser checks beyond the main journey: the phone layout, keyboard use, pagination and an admin's revocation.
// Each signs in as its own user, so none depends on another's data.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import {
  apiAs,
  assertNoHorizontalScroll,
  devJwt,
  gatewayStatus,
  type Kit,
  newPage,
  PHONE,
  sessionJwt,
  shot,
  signIn,
} from './support';

const unique = (name: string) => `${name}-${Date.now().toString(36)}`;

/** On a phone: tokens as cards, dialogs on screen, no sideways scrolling. */
export async function phoneLayout(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit, PHONE);
  await signIn(kit, page, unique('phone'), 'member', 'phone-01-sign-in');
  await assertNoHorizontalScroll(page);
  const jwt = await sessionJwt(kit);
  const names = ['deploy bot', 'a rather long token name for the nightly backup job'];
  const created = [];
  for (const tokenName of names) created.push(await apiAs(kit, jwt, 'POST', '/tokens', { name: tokenName }));
  assert.deepEqual(
    created.map((c) => c.status),
    [201, 201],
  );
  assert.equal((await apiAs(kit, jwt, 'POST', `/tokens/${created[0]!.body!.id}/revoke`)).status, 200);
  await page.reload();
  await page.locator('#mine-list tbody tr').nth(1).waitFor();
  await assertNoHorizontalScroll(page);
  await shot(page, 'phone-02-list');
  await page.getByRole('button', { name: 'Create new' }).click();
  await page.locator('#tf-name').fill(' ');
  await assertNoHorizontalScroll(page);
  await shot(page, 'phone-03-create-dialog');
  await page.locator('#tf-name').fill('from my phone');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('dialog', { name: 'Copy your token' }).waitFor();
  await assertNoHorizontalScroll(page);
  await shot(page, 'phone-04-copy-dialog');
  assert.deepEqual(problems, []);
  await page.close();
}

/** Dialogs open, keep focus inside and close with the keyboard; focus is visible and returns to the opener. */
export async function keyboardUse(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('keys'), 'member');
  await page.locator('#create-btn').focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog', { name: 'Create Personal Access Token' }).waitFor();
  assert.equal(await page.evaluate('document.activeElement.id'), 'tf-name');
  // Shift+Tab from the first field wraps to the dialog's last control, Tab from there wraps back.
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate('document.activeElement.id'), 'tf-submit');
  const outline = await page.evaluate('getComputedStyle(document.activeElement).outlineStyle');
  assert.notEqual(outline, 'none', 'the focused control shows no focus ring');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate('document.activeElement.id'), 'tf-name');
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('Boolean(document.activeElement.closest("#token-dialog"))'), true);
  }
  await shot(page, 'keyboard-focus');
  await page.keyboard.press('Escape');
  await page.getByRole('dialog', { name: 'Create Personal Access Token' }).waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate('document.activeElement.id'), 'create-btn');
  assert.deepEqual(problems, []);
  await page.close();
}

/** Many tokens page with Next and Previous; a filter with no match says so. */
export async function pagination(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('many'), 'member');
  const jwt = await sessionJwt(kit);
  for (let i = 0; i < 25; i++) {
    assert.equal(
      (await apiAs(kit, jwt, 'POST', '/tokens', { name: `bulk ${i}`, expires_in_days: 7 })).status,
      201,
    );
  }
  await page.reload();
  const rows = page.locator('#mine-list tbody tr');
  await rows.nth(19).waitFor();
  assert.equal(await rows.count(), 20);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('Page 2').waitFor();
  assert.equal(await rows.count(), 5);
  await shot(page, 'pagination-page-2');
  await page.getByRole('button', { name: 'Previous' }).click();
  await page.getByText('Page 1').waitFor();
  assert.equal(await rows.count(), 20);
  await page.locator('#mine-status').selectOption('revoked');
  await page.getByRole('heading', { name: 'No matching tokens' }).waitFor();
  assert.deepEqual(problems, []);
  await page.close();
}

/** A token an admin revoked shows no Restore button to its member owner: only an admin can undo that. */
export async function adminRevocation(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('revoked'), 'member');
  const jwt = await sessionJwt(kit);
  const byAdmin = await apiAs(kit, jwt, 'POST', '/tokens', { name: 'stopped by admin', expires_in_days: 7 });
  const byMe = await apiAs(kit, jwt, 'POST', '/tokens', { name: 'stopped by me', expires_in_days: 7 });
  const admin = await devJwt(kit, unique('root'), 'admin');
  assert.equal((await apiAs(kit, admin, 'POST', `/tokens/${byAdmin.body!.id}/revoke`)).status, 200);
  assert.equal((await apiAs(kit, jwt, 'POST', `/tokens/${byMe.body!.id}/revoke`)).status, 200);
  await page.reload();
  const row = (name: string) => page.locator('#mine-list tbody tr', { hasText: name });
  await row('stopped by me').getByRole('button', { name: 'Restore stopped by me' }).waitFor();
  await row('stopped by admin').getByText('Revoked', { exact: true }).waitFor();
  assert.equal(
    await row('stopped by admin')
      .getByRole('button', { name: /^Restore/ })
      .count(),
    0,
  );
  assert.deepEqual(problems, []);
  await page.close();
}

/** Regenerate (rotate): confirm, see the new secret once; the old one stops, the new one works, both are listed. */
export async function regenerate(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('rotate'), 'member');
  const jwt = await sessionJwt(kit);
  const old = await apiAs(kit, jwt, 'POST', '/tokens', {
    name: 'nightly backup',
    description: 'the NAS job',
  });
  const oldSecret = old.body!.token as string;
  assert.equal(await gatewayStatus(kit, oldSecret), 200);
  await page.reload();
  const rows = page.locator('#mine-list tbody tr', { hasText: 'nightly backup' });
  await rows.getByRole('button', { name: 'Regenerate nightly backup' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Regenerate this token?' });
  await confirm.getByText('stops working immediately').waitFor();
  await shot(page, 'rotate-01-confirm');
  await confirm.getByRole('button', { name: 'Regenerate' }).click();
  await page.getByRole('dialog', { name: 'Copy your token' }).waitFor();
  await page.getByText('Token “nightly backup” regenerated.').waitFor();
  const newSecret = await page.locator('#copy-value').inputValue();
  assert.match(newSecret, /^pat_[0-9A-Za-z]{36}$/);
  assert.notEqual(newSecret, oldSecret);
  await shot(page, 'rotate-02-copy');
  await page.getByRole('dialog', { name: 'Copy your token' }).getByRole('button', { name: 'Close' }).click();
  assert.equal(await gatewayStatus(kit, oldSecret), 401);
  assert.equal(await gatewayStatus(kit, newSecret), 200);
  // The successor is Active with the same description; the retired one is Revoked, for good (no Restore).
  const withStatus = (status: string) =>
    rows.filter({ has: page.locator('td[data-label="Status"]', { hasText: new RegExp(`^${status}$`) }) });
  await withStatus('Active').getByText('the NAS job').waitFor();
  const retired = withStatus('Revoked');
  await retired.waitFor();
  assert.equal(await retired.getByRole('button', { name: /^(Restore|Regenerate)/ }).count(), 0);
  assert.equal(await rows.count(), 2);
  assert.deepEqual(problems, []);
  await page.close();
}

/** A token's History: what was done with it, by whom, newest first; a refused use shows up, the token never. */
export async function history(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('history'), 'member');
  const jwt = await sessionJwt(kit);
  const created = await apiAs(kit, jwt, 'POST', '/tokens', { name: 'release bot' });
  const id = created.body!.id as string;
  const secret = created.body!.token as string;
  assert.equal(
    (await apiAs(kit, jwt, 'PATCH', `/tokens/${id}`, { description: 'tags releases' })).status,
    200,
  );
  assert.equal((await apiAs(kit, jwt, 'POST', `/tokens/${id}/revoke`)).status, 200);
  assert.equal(await gatewayStatus(kit, secret), 401);
  // The refused use is audited after the answer (waitUntil): wait for it, so the dialog's list is complete.
  for (let tries = 0; tries < 50; tries++) {
    const events = await apiAs(kit, jwt, 'GET', `/audit?target_id=${id}`);
    if ((events.body!.data as unknown[]).length === 4) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Another token's events stay out of this one's history.
  assert.equal((await apiAs(kit, jwt, 'POST', '/tokens', { name: 'other bot' })).status, 201);
  await page.reload();
  const opener = page.getByRole('button', { name: 'History release bot' });
  await opener.click();
  const dialog = page.getByRole('dialog', { name: 'History of “release bot”' });
  const rows = dialog.locator('tbody tr');
  await rows.first().waitFor();
  const cells = async (column: string) =>
    (await rows.locator(`td[data-label="${column}"]`).allInnerTexts()).map((text) => text.trim());
  assert.deepEqual(await cells('What'), [
    'A request with it was refused (revoked, route echo)',
    'Revoked (by its owner)',
    'Edited: description',
    'Created',
  ]);
  assert.deepEqual(await cells('Who'), ['A client', 'You', 'You', 'You']);
  assert.ok(!((await dialog.textContent()) ?? '').includes(secret), 'the token is shown in its history');
  await shot(page, 'history-01-dialog');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(
    await page.evaluate('document.activeElement.getAttribute("aria-label")'),
    'History release bot',
  );
  assert.deepEqual(problems, []);
  await page.close();
}

/** A slow History page for a token whose dialog was closed never lands in the next token's History. */
export async function lateHistory(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('late-history'), 'member');
  const jwt = await sessionJwt(kit);
  const first = await apiAs(kit, jwt, 'POST', '/tokens', { name: 'first bot' });
  assert.equal((await apiAs(kit, jwt, 'POST', `/tokens/${first.body!.id}/revoke`)).status, 200);
  assert.equal((await apiAs(kit, jwt, 'POST', '/tokens', { name: 'second bot' })).status, 201);
  let delayed = 0;
  await page.route(`**/ui/api/v1/audit?*target_id=${first.body!.id}*`, async (route) => {
    delayed++;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await route.continue();
  });
  await page.reload();
  await page.getByRole('button', { name: 'History first bot' }).click();
  await page
    .getByRole('dialog', { name: 'History of “first bot”' })
    .getByRole('button', { name: 'Close' })
    .click();
  await page.getByRole('button', { name: 'History second bot' }).click();
  const dialog = page.getByRole('dialog', { name: 'History of “second bot”' });
  await dialog.locator('tbody tr').first().waitFor();
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal(delayed, 1);
  assert.equal(await dialog.locator('caption').textContent(), 'History of second bot');
  assert.deepEqual(await dialog.locator('td[data-label="What"]').allTextContents(), ['Created']);
  assert.deepEqual(problems, []);
  await page.close();
}

/**
 * A browser app on another origin (the upstream's port) calls a route with a CORS policy, with the token in the
 * Authorization header: Chromium's own preflight and CORS checks decide what its script may read.
 */
export async function crossOriginApp(kit: Kit): Promise<void> {
  const jwt = await devJwt(kit, unique('spa'), 'member');
  const created = await apiAs(kit, jwt, 'POST', '/tokens', { name: 'browser app', expires_in_days: 7 });
  assert.equal(created.status, 201);
  const token = created.body!.token as string;
  const call = (page: Page, path: string, secret: string) =>
    page.evaluate(
      async ({ url, secret }) => {
        try {
          const res = await fetch(url, { headers: { authorization: `Bearer ${secret}` } });
          return {
            status: res.status,
            body: (await res.json()) as Record<string, unknown>,
            expiration: res.headers.get('x-pat-token-expiration'),
          };
        } catch (error) {
          return { failed: String(error) };
        }
      },
      { url: `${kit.gateway}${path}`, secret },
    );

  const app = `http://127.0.0.1:${kit.upstream.port}`;
  const page = await kit.context.newPage();
  await page.goto(`${app}/spa`);
  const ok = await call(page, '/e2e-cors/items?page=2', token);
  assert.ok('status' in ok, JSON.stringify(ok));
  assert.equal(ok.status, 200);
  const received = ok.body as { url: string; headers: Record<string, string> };
  assert.equal(received.url, '/items?page=2');
  assert.equal(received.headers.origin, app);
  assert.equal(received.headers.authorization, undefined);
  // An exposed header: the script can see when its token ends.
  assert.match(ok.expiration ?? '', /^\d{4}-\d\d-\d\dT/);
  // Errors carry the CORS headers too, so the app can tell the user why.
  const refused = await call(page, '/e2e-cors/items', `${token.slice(0, -1)}x`);
  assert.ok('status' in refused, JSON.stringify(refused));
  assert.equal(refused.status, 401);
  assert.equal(refused.body.code, 'invalid_token');

  // Another origin (localhost is not 127.0.0.1 to a browser): the gateway refuses the preflight, Chromium never
  // sends the request, and the upstream never sees it.
  const before = kit.upstream.received.length;
  await page.goto(`http://localhost:${kit.upstream.port}/elsewhere`);
  const blocked = await call(page, '/e2e-cors/blocked', token);
  assert.ok('failed' in blocked, JSON.stringify(blocked));
  assert.match(String(blocked.failed), /TypeError/);
  assert.equal(
    kit.upstream.received.slice(before).filter((r) => r.url.startsWith('/blocked')).length,
    0,
    'the upstream got the blocked request',
  );
  await page.close();
}
