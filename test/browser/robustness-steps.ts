// Browser checks of what goes wrong around the main journey: keyboard confirmation, counting as the server counts,
// presets as lifetimes, answers that arrive late or fail, a second click, and views that must not go stale.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { apiAs, assertNoHorizontalScroll, type Kit, newPage, PHONE, sessionJwt, signIn } from './support';

const unique = (name: string) => `${name}-${Date.now().toString(36)}`;
const row = (page: Page, name: string) => page.locator('#mine-list tbody tr', { hasText: name });

/** The create form counts characters as the server does, and a preset is a lifetime, not a midnight. */
export async function formMatchesServer(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('form'), 'member');
  const jwt = await sessionJwt(kit);
  await page.getByRole('button', { name: 'Create new' }).first().click();
  // 60 × (e + combining acute): the server stores 60 characters (NFC), so the form must not say 120.
  await page.locator('#tf-name').fill('e\u0301'.repeat(60));
  assert.equal(await page.locator('#tf-name-count').textContent(), '60 / 100');
  assert.equal(await page.locator('#tf-name-error').isHidden(), true);
  // A zero-width space at the end is trimmed by the server, so it does not count here either.
  await page.locator('#tf-name').fill(`${'x'.repeat(100)}\u200B`);
  assert.equal(await page.locator('#tf-name-count').textContent(), '100 / 100');
  await page.locator('#tf-name').fill('seven days');
  await page.locator('#tf-preset').selectOption('7');
  const before = Date.now();
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('dialog', { name: 'Copy your token' }).waitFor();
  const list = (await apiAs(kit, jwt, 'GET', '/tokens')).body as {
    data: { name: string; expires_at: string }[];
  };
  const created = list.data.find((t) => t.name === 'seven days')!;
  // Seven whole days from now, not the coming midnight of the seventh day (up to a day short).
  const lifetime = Date.parse(created.expires_at) - before;
  assert.ok(Math.abs(lifetime - 7 * 86_400_000) < 120_000, `lifetime ${lifetime} ms`);
  assert.deepEqual(problems, []);
  await page.close();
}

/** Enter in "Type DELETE" deletes once, and no second, orphaned confirmation opens. */
export async function typedDeleteWithEnter(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('enter'), 'member');
  const jwt = await sessionJwt(kit);
  for (const name of ['first', 'second'])
    assert.equal((await apiAs(kit, jwt, 'POST', '/tokens', { name, expires_in_days: 7 })).status, 201);
  await page.reload();
  await row(page, 'second').getByRole('button', { name: 'Delete second' }).focus();
  await page.keyboard.press('Enter');
  await page.getByLabel('Type DELETE to confirm').waitFor();
  await page.keyboard.type('DELETE');
  await page.keyboard.press('Enter');
  await row(page, 'second').waitFor({ state: 'detached' });
  await page.waitForTimeout(300);
  assert.equal(await page.locator('dialog[open]').count(), 0, 'a confirmation opened again');
  const left = (await apiAs(kit, jwt, 'GET', '/tokens')).body as { data: { name: string }[] };
  assert.deepEqual(
    left.data.map((t) => t.name),
    ['first'],
  );
  assert.deepEqual(problems, []);
  await page.close();
}

/** A slow answer to an older search never replaces a newer one; a double click on Next moves one page. */
export async function lateAnswers(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('late'), 'member');
  const jwt = await sessionJwt(kit);
  for (let i = 0; i < 23; i++) {
    const name = i < 3 ? `alpha ${i}` : `beta ${i}`;
    assert.equal((await apiAs(kit, jwt, 'POST', '/tokens', { name, expires_in_days: 7 })).status, 201);
  }
  await page.reload();
  const rows = page.locator('#mine-list tbody tr');
  await rows.nth(19).waitFor();
  // The search for "alpha" answers 1.5 s late, after the box was cleared again.
  let delayed = 0;
  await page.route('**/ui/api/v1/tokens?*q=alpha*', async (route) => {
    delayed++;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await route.continue();
  });
  await page.locator('#mine-q').fill('alpha');
  await page.waitForTimeout(600);
  await page.locator('#mine-q').fill('');
  await page.waitForTimeout(2500);
  assert.ok(delayed > 0, 'the search was never sent');
  assert.equal(await rows.count(), 20, 'the late answer to "alpha" replaced the full list');
  await page.getByText('Page 1').waitFor();
  await page.unrouteAll();

  await page.getByRole('button', { name: 'Next' }).dblclick();
  await page.waitForTimeout(800);
  assert.equal(await page.locator('.pager-label').first().textContent(), 'Page 2');
  assert.equal(await rows.count(), 3);
  assert.deepEqual(problems, []);
  await page.close();
}

/** A list that failed to load offers to try again. */
export async function retryAfterFailure(kit: Kit): Promise<void> {
  const { page } = await newPage(kit);
  await signIn(kit, page, unique('retry'), 'member');
  let failures = 0;
  await page.route('**/ui/api/v1/tokens?*', async (route) => {
    if (failures++ > 0) return route.continue();
    await route.fulfill({
      status: 503,
      contentType: 'application/problem+json',
      body: JSON.stringify({
        status: 503,
        code: 'service_unavailable',
        detail: 'Storage is unavailable; try again shortly.',
      }),
    });
  });
  await page.reload();
  await page.getByText('Storage is unavailable; try again shortly.').waitFor();
  await page.getByRole('button', { name: 'Try again' }).click();
  await page.getByRole('heading', { name: 'No personal access tokens yet' }).waitFor();
  await page.close();
}

/** An admin revokes their own token in All tokens; My tokens shows it revoked when they go back. */
export async function viewsStayFresh(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('fresh-admin'), 'admin');
  const jwt = await sessionJwt(kit);
  const name = unique('mine');
  assert.equal((await apiAs(kit, jwt, 'POST', '/tokens', { name, expires_in_days: 7 })).status, 201);
  await page.reload();
  await row(page, name).getByText('Active', { exact: true }).waitFor();
  await page.getByRole('link', { name: 'All tokens' }).click();
  const inventoryRow = page.locator('#view-inventory tbody tr', { hasText: name });
  await inventoryRow.getByRole('button', { name: `Revoke ${name}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke' }).click();
  await inventoryRow.getByText('Revoked', { exact: true }).waitFor();
  await page.getByRole('link', { name: 'My tokens' }).click();
  await row(page, name).getByText('Revoked', { exact: true }).waitFor();
  // No Revoke button any more (waited for: a snapshot count taken right after the status changed was 1 in some
  // runs, though every later look shows none).
  await row(page, name)
    .getByRole('button', { name: `Revoke ${name}` })
    .waitFor({ state: 'detached', timeout: 2_000 });
  assert.equal(await row(page, name).getByRole('button', { name: 'Restore' }).count(), 1);
  assert.deepEqual(problems, []);
  await page.close();
}

/** A long user name wraps on a phone instead of pushing Sign out off the screen. */
export async function longNameOnPhone(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit, PHONE);
  await signIn(kit, page, `maximilian.oberhauser@internationalholdings.example.${Date.now()}`, 'member');
  await assertNoHorizontalScroll(page);
  const signOut = await page.getByRole('button', { name: 'Sign out' }).boundingBox();
  assert.ok(signOut && signOut.x + signOut.width <= PHONE.width, `Sign out at ${JSON.stringify(signOut)}`);
  assert.deepEqual(problems, []);
  await page.close();
}

/** Someone signs in as another user in a second tab: the first tab says its session changed, and shows nothing of theirs. */
export async function sessionReplaced(kit: Kit): Promise<void> {
  const { page: first } = await newPage(kit);
  await signIn(kit, first, unique('alice'), 'member');
  const { page: second } = await newPage(kit);
  await signIn(kit, second, unique('mallory'), 'member');
  const theirs = unique('mallory-token');
  assert.equal(
    (await apiAs(kit, await sessionJwt(kit), 'POST', '/tokens', { name: theirs, expires_in_days: 7 })).status,
    201,
  );
  // Back in the first tab, a read (a filter change).
  await first.locator('#mine-status').selectOption('active');
  await first.getByText('Your session changed.').waitFor();
  await first.getByRole('link', { name: 'Sign in again' }).waitFor();
  assert.equal(
    await first.locator('#mine-list').getByText(theirs).count(),
    0,
    'the other user’s token is shown',
  );
  await first.close();
  await second.close();
}

/**
 * A token changed in another tab after this page showed it: an edit or a delete from this page changes nothing,
 * says so, and the list shows the token as it is now.
 */
export async function staleChanges(kit: Kit): Promise<void> {
  const { page, problems } = await newPage(kit);
  await signIn(kit, page, unique('stale'), 'member');
  const jwt = await sessionJwt(kit);
  const created = await apiAs(kit, jwt, 'POST', '/tokens', { name: 'shared', expires_in_days: 7 });
  const id = created.body!.id as string;
  await page.reload();
  await row(page, 'shared').getByText('Active', { exact: true }).waitFor();

  // Another tab revokes it; this one still shows it Active and edits it.
  assert.equal((await apiAs(kit, jwt, 'POST', `/tokens/${id}/revoke`)).status, 200);
  await row(page, 'shared').getByRole('button', { name: 'Edit shared' }).click();
  await page.locator('#tf-description').fill('edited in a stale tab');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#toast', { hasText: 'changed elsewhere' }).waitFor();
  await row(page, 'shared').getByText('Revoked', { exact: true }).waitFor();
  assert.equal(await page.locator('dialog[open]').count(), 0);
  assert.equal((await apiAs(kit, jwt, 'GET', `/tokens/${id}`)).body!.description, null);

  // Another tab restores it; this one still shows it Revoked, with Delete, and deletes it.
  assert.equal((await apiAs(kit, jwt, 'POST', `/tokens/${id}/restore`)).status, 200);
  await row(page, 'shared').getByRole('button', { name: 'Delete shared' }).click();
  await page.getByLabel('Type DELETE to confirm').fill('DELETE');
  await page.getByRole('alertdialog').getByRole('button', { name: 'Proceed' }).click();
  await page.locator('#toast', { hasText: 'changed elsewhere' }).waitFor();
  await row(page, 'shared').getByText('Active', { exact: true }).waitFor();
  assert.equal((await apiAs(kit, jwt, 'GET', `/tokens/${id}`)).status, 200);
  assert.deepEqual(problems, []);
  await page.close();
}
