// Browser code for /ui/app.js, part 6: start-up (who is signed in, the policy), the views behind the hash links
// (#mine, #accounts, #inventory; admin views only for admins), and sign-out.

export const MAIN_JS = `
const VIEWS = { mine: () => mine.list, accounts: () => admin.accounts, inventory: () => admin.inventory };
const loaded = new Set();

let shown = null;

function route(moveFocus) {
  let view = location.hash.slice(1);
  // Another fragment (the skip link's #main) is not a view: the one shown stays.
  if (!VIEWS[view] && shown) return;
  if (!VIEWS[view] || (view !== 'mine' && state.me.role !== 'admin')) view = 'mine';
  shown = view;
  for (const name of Object.keys(VIEWS)) $('#view-' + name).hidden = name !== view;
  for (const link of document.querySelectorAll('.tabs a')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  // Shown again, a view reloads (keeping its page): another view may have revoked or deleted one of its tokens.
  if (!loaded.has(view)) {
    loaded.add(view);
    VIEWS[view]().reset();
  } else {
    VIEWS[view]().reload();
    // The open account's tokens too: All tokens may have revoked or deleted one of them meanwhile.
    if (view === 'accounts' && !$('#sa-detail').hidden) admin.saTokens.reload();
  }
  if (moveFocus) $('#view-' + view + ' h1').focus();
}

async function signOut() {
  let res = null;
  try {
    res = await fetch('/ui/session', { method: 'DELETE', headers: { 'X-CSRF-Token': CSRF }, credentials: 'same-origin' });
  } catch {
    // Offline: said below.
  }
  // Only once the session is gone: reloading while it is not would look like a sign-out and leave the user in.
  if (res?.ok) return location.assign('/ui');
  const banner = $('#banner');
  banner.replaceChildren(
    'Sign-out failed' + (res ? ' (HTTP ' + res.status + ')' : ': the gateway could not be reached') + '. You are still signed in; try again.',
  );
  banner.hidden = false;
}

async function main() {
  setupDialogs();
  const [me, policy] = await Promise.all([api('GET', '/currentuser'), api('GET', '/policy')]);
  if (!me.ok || !policy.ok) {
    $('#mine-list').setAttribute('aria-busy', 'false');
    // Nothing works without these two: hide what would do nothing, and offer to try again.
    for (const button of document.querySelectorAll('#view-mine .btn')) button.hidden = true;
    const retry = h('button', { type: 'button', class: 'btn', onclick: () => location.reload() }, 'Try again');
    return renderEmpty($('#mine-list'), 'Could not load', problemText(me.ok ? policy : me), retry);
  }
  state.me = me.body;
  state.policy = policy.body;
  const who = state.me.name || state.me.email || state.me.subject || state.me.id;
  $('#whoami').textContent = who + (state.me.role === 'admin' ? ' · Admin' : '');
  const signOutButton = $('#sign-out');
  if (signOutButton) signOutButton.addEventListener('click', signOut);
  setupTokenForm();
  setupMine();
  if (state.me.role === 'admin') {
    for (const link of document.querySelectorAll('.tabs a[hidden]')) link.hidden = false;
    setupAdmin();
  }
  window.addEventListener('hashchange', () => route(true));
  route(false);
}

main();
`;
