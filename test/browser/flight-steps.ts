// Browser checks of what happens while a request is on its way, and around it: the token dialog cannot be closed
// under a create (whose answer holds the only copy of the secret), a double click sends one request, the skip link
// and going back to a view keep what is shown true, and a sign-out that failed says so.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { apiAs, type Kit, newPage, sessionJwt, signIn } from './support';

const unique = (name: string) => `${name}-${Date.now().toString(36)}`;
const row = (page: Page, name: string) => page.locator('#mine-list tbody tr', { hasText: name });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds the answers to `method` requests for `url` until `release` is called. */
async function holdAnswers(page: Page, url: string, method: string) {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let seen = 0;
  await page.route(url, async (route) => {
    if (route.request().method() === method) {
      seen++;
      await released;
    }
    await route.continue();
  });
  return { release, seen: () => seen };
}

/** Create and edit: while the request is on its way, Cancel is disabled and Escape does nothing. */
export async function dialogWhileSaving(kit: Kit): Promise<void> {
  const { page } = await newPage(kit);
  await signIn(kit, page, unique('flight'), 'member');
  const jwt = await sessionJwt(kit);
  const dialog = page.getByRole('dialog', { name: 'Create Personal Access Token' });

  const create = await holdAnswers(page, '**/ui/api/v1/tokens', 'POST');
  await page.getByRole('button', { name: 'Create new' }).first().click();
  await page.locator('#tf-name').fill('slow create');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  while (create.seen() === 0) await sleep(50);
  assert.equal(await dialog.getByRole('button', { name: 'Cancel' }).isDisabled(), true);
  await page.keyboard.press('Escape');
  assert.equal(await dialog.isVisible(), true, 'Escape closed the dialog under a create');
  create.release();
  const copy = page.getByRole('dialog', { name: 'Copy your token' });
  await copy.waitFor();
  assert.match(await page.locator('#copy-value').inputValue(), /^pat_[0-9A-Za-z]{36}$/);
  await copy.getByRole('button', { name: 'Close' }).click();
  await row(page, 'slow create').getByText('Active', { exact: true }).waitFor();

  const listed = (await apiAs(kit, jwt, 'GET', '/tokens')).body as { data: { id: string; name: string }[] };
  const id = listed.data.find((t) => t.name === 'slow create')!.id;
  const edit = await holdAnswers(page, `**/ui/api/v1/tokens/${id}`, 'PATCH');
  await row(page, 'slow create').getByRole('button', { name: 'Edit slow create' }).click();
  const editDialog = page.getByRole('dialog', { name: 'Edit token' });
  await page.locator('#tf-description').fill('now described');
  await page.getByRole('button', { name: 'Save' }).click();
  while (edit.seen() === 0) await sleep(50);
  assert.equal(await editDialog.getByRole('button', { name: 'Cancel' }).isDisabled(), true);
  await page.keyboard.press('Escape');
  assert.equal(await editDialog.isVisible(), true, 'Escape closed the dialog under an edit');
  edit.release();
  await editDialog.waitFor({ state: 'hidden' });
  assert.equal(await copy.isVisible(), false, 'an edit showed a “Copy your token” dialog');
  await page.close();
}

/** A double click on Restore sends one request: no stale second one whose 412 would report an error. */
export async function doubleClickRestore(kit: Kit): Promise<void> {
  const { page } = await newPage(kit);
  await signIn(kit, page, unique('dbl'), 'member');
  const jwt = await sessionJwt(kit);
  const created = await apiAs(kit, jwt, 'POST', '/tokens', { name: 'twice', expires_in_days: 7 });
  assert.equal((await apiAs(kit, jwt, 'POST', `/tokens/${created.body!.id as string}/revoke`)).status, 200);
  await page.reload();
  await row(page, 'twice').getByText('Revoked', { exact: true }).waitFor();
  let restores = 0;
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith('/restore')) restores++;
  });
  await row(page, 'twice').getByRole('button', { name: 'Restore twice' }).dblclick();
  await row(page, 'twice').getByText('Active', { exact: true }).waitFor();
  await sleep(500);
  assert.equal(restores, 1);
  const toast = page.locator('#toast');
  assert.equal(await toast.textContent(), 'Token “twice” restored.');
  assert.equal((await toast.getAttribute('class'))?.includes('error'), false);
  await page.close();
}

/** The skip link moves to the content of the view shown; it does not switch views. */
export async function skipLinkKeepsView(kit: Kit): Promise<void> {
  const { page } = await newPage(kit);
  await signIn(kit, page, unique('skip'), 'admin');
  await page.getByRole('link', { name: 'All tokens' }).click();
  await page.getByRole('heading', { name: 'All tokens' }).waitFor();
  await page.locator('.skip-link').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction('location.hash === "#main"');
  await sleep(300);
  assert.equal(await page.locator('#view-inventory').isVisible(), true, 'the skip link switched views');
  assert.equal(await page.locator('#view-mine').isVisible(), false);
  await page.close();
}

/** Back on Service accounts, the open account's tokens show what All tokens did to them. */
export async function accountTokensStayFresh(kit: Kit): Promise<void> {
  const { page } = await newPage(kit);
  await signIn(kit, page, unique('stale-sa'), 'admin');
  const jwt = await sessionJwt(kit);
  const account = unique('bot');
  const sa = await apiAs(kit, jwt, 'POST', '/admin/service-accounts', { name: account, role: 'member' });
  assert.equal(sa.status, 201, JSON.stringify(sa.body));
  const token = await apiAs(kit, jwt, 'POST', `/admin/service-accounts/${sa.body!.id as string}/tokens`, {
    name: 'deployer',
    expires_in_days: 7,
  });
  assert.equal(token.status, 201, JSON.stringify(token.body));
  await page.getByRole('link', { name: 'Service accounts' }).click();
  await page.getByRole('button', { name: `Tokens ${account}` }).click();
  const saRow = page.locator('#sa-tokens tbody tr', { hasText: 'deployer' });
  await saRow.getByText('Active', { exact: true }).waitFor();
  await page.getByRole('link', { name: 'All tokens' }).click();
  await page.locator('#inv-owner').fill(sa.body!.id as string);
  const inventoryRow = page.locator('#inv-list tbody tr', { hasText: 'deployer' });
  await inventoryRow.getByRole('button', { name: 'Revoke deployer' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke' }).click();
  await inventoryRow.getByText('Revoked', { exact: true }).waitFor();
  await page.getByRole('link', { name: 'Service accounts' }).click();
  await saRow.getByText('Revoked', { exact: true }).waitFor({ timeout: 5_000 });
  await page.close();
}

/** A sign-out the gateway did not complete says so, instead of reloading the page still signed in. */
export async function failedSignOut(kit: Kit): Promise<void> {
  const { page } = await newPage(kit);
  await signIn(kit, page, unique('out'), 'member');
  await page.route('**/ui/session', (route) =>
    route.request().method() === 'DELETE'
      ? route.fulfill({ status: 503, contentType: 'application/problem+json', body: '{"status":503}' })
      : route.continue(),
  );
  await page.getByRole('button', { name: 'Sign out' }).click();
  const banner = page.locator('#banner');
  await banner.waitFor();
  assert.match((await banner.textContent()) ?? '', /^Sign-out failed \(HTTP 503\)\. You are still signed in/);
  await page.unroute('**/ui/session');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL('**/ui');
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.close();
}
