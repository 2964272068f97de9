// The admin part of the browser test. The admin API (/api/v1/admin, issue 4) is built separately: when this
// gateway does not have it yet, only the page's "not available" state is checked and the rest is skipped.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import {
  apiAs,
  gatewayStatus,
  gatewayStatusWithin,
  type Kit,
  newPage,
  sessionJwt,
  shot,
  signIn,
} from './support';

export async function adminJourney(kit: Kit, t: TestContext): Promise<void> {
  const { page, problems } = await newPage(kit);
  const suffix = Date.now().toString(36);
  await signIn(kit, page, `root-${suffix}`, 'admin', 'admin-01-sign-in');
  const jwt = await sessionJwt(kit);
  const probe = await apiAs(kit, jwt, 'GET', '/admin/service-accounts');
  await page.getByRole('link', { name: 'Service accounts' }).click();
  await page.getByRole('heading', { name: 'Service accounts', exact: true }).waitFor();

  if (probe.status === 404) {
    await page.getByText('The admin API (/api/v1/admin) is not available on this deployment yet.').waitFor();
    await shot(page, 'admin-02-unavailable');
    assert.deepEqual(problems, []);
    await page.close();
    t.skip('GET /api/v1/admin/service-accounts answers 404 here: only the "not available" state was checked');
    return;
  }
  assert.equal(probe.status, 200, JSON.stringify(probe.body));

  const account = `ci-bot-${suffix}`;
  await page.getByRole('button', { name: 'New service account' }).click();
  await page.locator('#sa-name').fill(account);
  await page.locator('#sa-description').fill('Deploys from CI');
  await page
    .getByRole('dialog', { name: 'New service account' })
    .getByRole('button', { name: 'Create' })
    .click();
  await page.locator('#sa-list tbody tr', { hasText: account }).waitFor();
  await page.getByRole('button', { name: `Tokens ${account}` }).click();
  await page.getByRole('heading', { name: `Tokens of ${account}` }).waitFor();

  await page.getByRole('button', { name: 'Create token' }).click();
  await page.getByRole('dialog', { name: 'Create service token' }).waitFor();
  await page.locator('#tf-name').fill('deploy');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('dialog', { name: 'Copy your token' }).waitFor();
  const secret = await page.locator('#copy-value').inputValue();
  await page.getByRole('dialog', { name: 'Copy your token' }).getByRole('button', { name: 'Close' }).click();
  await page
    .locator('#sa-tokens tbody tr', { hasText: 'deploy' })
    .getByText('Active', { exact: true })
    .waitFor();
  assert.equal(await gatewayStatus(kit, secret), 200);
  // An admin edits the service token like their own.
  await page
    .locator('#sa-tokens tbody tr', { hasText: 'deploy' })
    .getByRole('button', { name: 'Edit deploy' })
    .click();
  await page.getByRole('dialog', { name: 'Edit service token' }).waitFor();
  await page.locator('#tf-description').fill('Production deploys');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#sa-tokens tbody tr', { hasText: 'deploy' }).getByText('Production deploys').waitFor();
  await shot(page, 'admin-02-service-account-tokens');

  await page.getByRole('link', { name: 'All tokens' }).click();
  await page.locator('#inv-type').selectOption('service');
  const row = page.locator('#inv-list tbody tr', { hasText: account });
  await row.waitFor();
  await row.getByRole('button', { name: 'Revoke deploy' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke' }).click();
  await row.getByText('Revoked', { exact: true }).waitFor();
  const status = await gatewayStatus(kit, secret);
  if (status !== 401) {
    // A known race outside the UI: a revoke within ~1.5 s of the token's creation can be overwritten in KV by the
    // creation's delayed resync until the revoke's own resync (src/tokens/access.ts publish). Say so, then insist.
    t.diagnostic(`the gateway answered ${status} right after the revoke; waiting for the revoke's resync`);
    assert.equal(await gatewayStatusWithin(kit, secret, 401, 3_000), 401);
  }
  await shot(page, 'admin-03-inventory');
  assert.deepEqual(problems, []);
  await page.close();
}
