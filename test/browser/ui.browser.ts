// `npm run test:browser`: the Manage Personal Access Tokens page in headless Chromium against the real gateway.
// A person's whole journey (sign in → invalid input → create → copy → use → revoke → restore → edit → delete), the
// phone layout, keyboard use, pagination and the admin view. Screenshots of each step go to artifacts/screenshots/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { adminJourney } from './admin-steps';
import {
  accountTokensStayFresh,
  dialogWhileSaving,
  doubleClickRestore,
  failedSignOut,
  skipLinkKeepsView,
} from './flight-steps';
import {
  adminRevocation,
  crossOriginApp,
  history,
  keyboardUse,
  lateHistory,
  pagination,
  phoneLayout,
  regenerate,
} from './more-steps';
import {
  formMatchesServer,
  lateAnswers,
  longNameOnPhone,
  retryAfterFailure,
  sessionReplaced,
  staleChanges,
  typedDeleteWithEnter,
  viewsStayFresh,
} from './robustness-steps';
import { apiAs, gatewayStatus, type Kit, newPage, sessionJwt, shot, signIn, startKit } from './support';

let kit: Kit;
before(async () => {
  kit = await startKit();
});
after(async () => {
  await kit?.stop();
});

const unique = (name: string) => `${name}-${Date.now().toString(36)}`;
const row = (page: Page, name: string) => page.locator('#mine-list tbody tr', { hasText: name });
const fieldError = (page: Page, id: string) => page.locator(`#${id}-error`);

async function isoDate(page: Page, id: string): Promise<string> {
  return page.locator(`#${id}`).inputValue();
}

describe('a member manages a token from sign-in to delete', () => {
  it('the whole journey', async (t) => {
    const { page, problems } = await newPage(kit);
    let jwt = '';
    let secret = '';
    const name = 'laptop CLI';

    await t.test('sign in with the development form', async () => {
      await signIn(kit, page, unique('alice'), 'member', '01-sign-in');
      await page.getByRole('heading', { name: 'No personal access tokens yet' }).waitFor();
      assert.equal(
        await page.getByRole('link', { name: 'All tokens' }).count(),
        0,
        'members see no admin view',
      );
      await shot(page, '02-empty-list');
      jwt = await sessionJwt(kit);
    });

    await t.test('invalid input is explained beside each field as the user types', async () => {
      const policy = (await apiAs(kit, jwt, 'GET', '/policy')).body as { expiration: Record<string, string> };
      await page.getByRole('button', { name: 'Create new' }).first().click();
      const dialog = page.getByRole('dialog', { name: 'Create Personal Access Token' });
      await dialog.waitFor();
      assert.equal(await isoDate(page, 'tf-expires'), policy.expiration.default_expires_at!.slice(0, 10));
      await shot(page, '03-create-dialog');
      await page.locator('#tf-name').fill('   ');
      assert.equal(await fieldError(page, 'tf-name').textContent(), 'Name is required and cannot be blank.');
      await page.locator('#tf-name').fill('x'.repeat(101));
      assert.match((await fieldError(page, 'tf-name').textContent()) ?? '', /at most 100 characters/);
      await page.locator('#tf-description').fill('d'.repeat(501));
      assert.match((await fieldError(page, 'tf-description').textContent()) ?? '', /at most 500 characters/);
      await page.locator('#tf-expires').fill('2099-01-01');
      assert.match((await fieldError(page, 'tf-expires').textContent()) ?? '', /on or before .* 365 days/);
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      assert.equal(await dialog.isVisible(), true, 'an invalid form must not be sent');
      assert.equal(await page.locator('#tf-name').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.evaluate('document.activeElement.id'), 'tf-name');
      await shot(page, '04-create-invalid');
    });

    await t.test('the server’s own errors appear next to their field', async () => {
      // A name the server refuses although it looks fine here: one that is already taken (409 name_taken).
      assert.equal(
        (await apiAs(kit, jwt, 'POST', '/tokens', { name: 'taken', expires_in_days: 7 })).status,
        201,
      );
      await page.locator('#tf-name').fill('taken');
      await page.locator('#tf-description').fill('my shell scripts\nand a cron job');
      await page.locator('#tf-preset').selectOption('30');
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      await fieldError(page, 'tf-name').getByText('unique').waitFor();
      await shot(page, '05-server-error');
    });

    await t.test('create it and see “Copy your token”', async () => {
      await page.locator('#tf-name').fill(name);
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      const copy = page.getByRole('dialog', { name: 'Copy your token' });
      await copy.waitFor();
      await copy
        .getByText('This is the only time you will see the full token. Please copy and store it securely.')
        .waitFor();
      await page.getByText('New token successfully created.').waitFor();
      secret = await page.locator('#copy-value').inputValue();
      assert.match(secret, /^pat_[0-9A-Za-z]{36}$/);
      assert.equal(await page.locator('#copy-value').getAttribute('readonly'), '');
      await shot(page, '06-copy-dialog');
    });

    await t.test('copy it to the clipboard', async () => {
      await page.getByRole('button', { name: 'Copy' }).click();
      await page.getByText('You have copied token to your clipboard.').waitFor();
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), secret);
      await shot(page, '07-copied');
    });

    await t.test('closing returns to the list, where the token is Active and never used', async () => {
      await page
        .getByRole('dialog', { name: 'Copy your token' })
        .getByRole('button', { name: 'Close' })
        .click();
      await page.getByRole('dialog', { name: 'Copy your token' }).waitFor({ state: 'hidden' });
      assert.equal(
        await page.locator('#copy-value').inputValue(),
        '',
        'the secret must not stay in the page',
      );
      await row(page, name).getByText('Active', { exact: true }).waitFor();
      await row(page, name).getByText('Never used').waitFor();
      assert.match((await row(page, name).textContent()) ?? '', /my shell scripts/);
      await shot(page, '08-list-active');
    });

    await t.test('the gateway accepts the token', async () => {
      assert.equal(await gatewayStatus(kit, secret), 200);
      await page.reload();
      await row(page, name).getByText('just now').waitFor();
    });

    await t.test('revoke it in the UI: the gateway refuses it', async () => {
      await row(page, name)
        .getByRole('button', { name: `Revoke ${name}` })
        .click();
      const confirm = page.getByRole('alertdialog', { name: 'Revoke this token?' });
      await confirm.waitFor();
      await shot(page, '09-revoke-confirm');
      await confirm.getByRole('button', { name: 'Revoke' }).click();
      await row(page, name).getByText('Revoked', { exact: true }).waitFor();
      await row(page, name)
        .getByRole('button', { name: `Restore ${name}` })
        .waitFor();
      await shot(page, '10-revoked');
      assert.equal(await gatewayStatus(kit, secret), 401);
    });

    await t.test('restore it: the gateway accepts it again', async () => {
      await row(page, name)
        .getByRole('button', { name: `Restore ${name}` })
        .click();
      await row(page, name).getByText('Active', { exact: true }).waitFor();
      assert.equal(await gatewayStatus(kit, secret), 200);
      await shot(page, '11-restored');
    });

    await t.test('edit its description', async () => {
      await row(page, name)
        .getByRole('button', { name: `Edit ${name}` })
        .click();
      await page.getByRole('dialog', { name: 'Edit token' }).waitFor();
      await page.locator('#tf-description').fill('CI and my shell scripts');
      await shot(page, '12-edit-dialog');
      await page.getByRole('button', { name: 'Save' }).click();
      await row(page, name).getByText('CI and my shell scripts').waitFor();
    });

    await t.test('delete it after confirming: it is gone, and so is its access', async () => {
      await row(page, name)
        .getByRole('button', { name: `Delete ${name}` })
        .click();
      const confirm = page.getByRole('alertdialog');
      await confirm
        .getByText('This personal access token will be permanently deleted and cannot be restored.')
        .waitFor();
      await confirm.getByRole('button', { name: 'Cancel' }).waitFor();
      // Seed 002: type DELETE to confirm; Proceed stays disabled until then.
      const proceed = confirm.getByRole('button', { name: 'Proceed' });
      assert.equal(await proceed.isDisabled(), true);
      const typed = confirm.getByLabel('Type DELETE to confirm');
      await typed.fill('delete');
      assert.equal(await proceed.isDisabled(), true);
      await typed.fill('DELETE');
      await shot(page, '13-delete-confirm');
      await proceed.click();
      await row(page, name).waitFor({ state: 'detached' });
      assert.equal(await gatewayStatus(kit, secret), 401);
      await shot(page, '14-deleted');
    });

    assert.deepEqual(problems, []);
    await page.close();
  });
});

describe('on a phone (375 px)', () => {
  it('lists tokens as cards and keeps dialogs on screen, without sideways scrolling', () => phoneLayout(kit));
});

describe('keyboard', () => {
  it('opens, traps focus in and closes dialogs with the keyboard, with a visible focus ring', () =>
    keyboardUse(kit));
});

describe('hundreds of tokens', () => {
  it('pages through them with Next and Previous', () => pagination(kit));
});

describe('regenerate', () => {
  it('replaces a token with a new secret shown once; the old one stops at once', () => regenerate(kit));
});

describe('history', () => {
  it('a token’s History dialog lists what was done with it, by whom, newest first', () => history(kit));
  it('a slow History page for a closed dialog never shows in the next one', () => lateHistory(kit));
});

describe('a token an admin revoked', () => {
  it('offers its member owner no Restore (only an admin can undo it)', () => adminRevocation(kit));
});

describe('around the journey', () => {
  it('the form counts as the server does, and a preset is a whole lifetime', () => formMatchesServer(kit));
  it('Enter in “Type DELETE” deletes once and opens nothing else', () => typedDeleteWithEnter(kit));
  it('a late answer never replaces a newer one; a double click on Next moves one page', () =>
    lateAnswers(kit));
  it('a list that failed to load offers to try again', () => retryAfterFailure(kit));
  it('going back to My tokens shows what happened in All tokens', () => viewsStayFresh(kit));
  it('a long user name wraps on a phone, Sign out stays on screen', () => longNameOnPhone(kit));
  it('a sign-in as someone else in another tab: this tab says its session changed', () =>
    sessionReplaced(kit));
  it('an edit or delete of a token changed in another tab changes nothing and says so', () =>
    staleChanges(kit));
});

describe('while a request is on its way, and around it', () => {
  it('the token dialog stays open under a create or edit, and a slow create still shows its secret', () =>
    dialogWhileSaving(kit));
  it('a double click on Restore sends one request and reports success', () => doubleClickRestore(kit));
  it('the skip link keeps the view shown', () => skipLinkKeepsView(kit));
  it("back on Service accounts, the open account's tokens show what All tokens did", () =>
    accountTokensStayFresh(kit));
  it('a sign-out that failed says so, and the next one signs out', () => failedSignOut(kit));
});

describe('a browser app on another origin', () => {
  it('calls a route with a CORS policy with its token; an origin not listed cannot', () =>
    crossOriginApp(kit));
});

describe('admin view', () => {
  it('service accounts, their tokens and the inventory (when the admin API exists)', async (t) => {
    await adminJourney(kit, t);
  });
});
