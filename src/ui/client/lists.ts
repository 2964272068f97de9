// Browser code for /ui/app.js, part 2: token tables (desktop table, cards on a phone), status badges, the actions
// each status allows, and cursor-paged lists (the API pages with opaque cursors, so "Previous" replays a stack).

export const LISTS_JS = `
const STATUS_LABELS = { active: 'Active', expired: 'Expired', revoked: 'Revoked' };
const statusBadge = (status) => h('span', { class: 'badge status-' + status }, STATUS_LABELS[status] || status);
const none = (text) => h('span', { class: 'muted' }, text);

function ownerLabel(owner) {
  if (!owner) return none('—');
  const name = owner.name || owner.email || owner.subject || owner.id;
  return [h('span', null, name), h('br'), h('span', { class: 'mono muted' }, owner.id)];
}

/** Table columns by key: [header, cell content for a token]. */
const TOKEN_COLUMNS = {
  name: ['Name', (t) => [h('strong', null, t.name), h('span', { class: 'mono muted' }, t.hint)]],
  description: ['Description', (t) => t.description || none('—')],
  owner: ['Owner', (t) => ownerLabel(t.owner)],
  type: ['Type', (t) => (t.type === 'service' ? 'Service' : 'Personal')],
  expires: ['Expiration date', (t) => (t.expires_at ? timeEl(t.expires_at, formatDay(t.expires_at)) : 'Never')],
  created: ['Created', (t) => timeEl(t.created_at, formatDay(t.created_at))],
  lastUsed: ['Last used', (t) => (t.last_used_at ? timeEl(t.last_used_at, ago(t.last_used_at)) : none('Never used'))],
  status: ['Status', (t) => statusBadge(t.status)],
};

/**
 * Restorable: revoked by its owner or an admin (rotation and leak reports are final; only an admin undoes an
 * admin's revocation) and not yet expired.
 */
function canRestore(t) {
  const admin = state.me.role === 'admin';
  const reasonAllows = !t.revoke_reason || t.revoke_reason === 'user' || (t.revoke_reason === 'admin' && admin);
  return t.status === 'revoked' && reasonAllows && (!t.expires_at || Date.parse(t.expires_at) > Date.now());
}
const canDelete = (t) => !(state.policy.delete_requires_inactive && t.status === 'active');

/**
 * Renders rows into a table. columns: keys of TOKEN_COLUMNS or [header, cell] pairs; actions(row) returns
 * [label, handler, className] triples, rendered as buttons whose accessible name includes the row's name.
 */
function renderTable(container, options) {
  const columns = options.columns.map((c) => (typeof c === 'string' ? TOKEN_COLUMNS[c] : c));
  const headers = columns.map((c) => c[0]).concat(options.actions ? ['Actions'] : []);
  const body = options.rows.map((row) => {
    const cells = columns.map(([label, cell], i) =>
      h('td', { 'data-label': label, class: i === 0 ? 'name' : label === 'Description' ? 'desc' : null }, cell(row)),
    );
    if (options.actions) {
      const buttons = options.actions(row).map(([label, handler, className]) =>
        h('button', {
          type: 'button',
          class: 'btn small ' + (className || ''),
          'data-id': row.id,
          'data-action': label,
          'aria-label': label + ' ' + row.name,
          onclick: (event) => handler(row, event.currentTarget),
        }, label),
      );
      cells.push(h('td', { class: 'act', 'data-label': 'Actions' }, h('div', { class: 'row-actions' }, buttons)));
    }
    return h('tr', { 'data-row': row.id }, cells);
  });
  const table = h('table', null,
    h('caption', null, options.caption),
    h('thead', null, h('tr', null, headers.map((text) => h('th', { scope: 'col' }, text)))),
    h('tbody', null, body),
  );
  container.replaceChildren(h('div', { class: 'table-wrap' }, table));
}

function renderEmpty(container, title, text, button) {
  container.replaceChildren(h('div', { class: 'empty' }, h('h2', null, title), h('p', null, text), button || null));
}

/**
 * A cursor-paged list. fetchPage(cursor) → api result; render(rows) draws them. Keeps its page on reload (after
 * an action) and steps back when the page it was on became empty. A 404 means the endpoint does not exist here.
 */
function pagedList(options) {
  const pager = options.pager;
  let cursors = [null];
  let index = 0;
  let next = null;
  let latest = 0;
  const prev = $('[data-page="prev"]', pager);
  const nextButton = $('[data-page="next"]', pager);
  async function load() {
    // Only the latest request draws: a slow answer to an older search or page never replaces a newer one.
    const mine = ++latest;
    options.container.setAttribute('aria-busy', 'true');
    prev.disabled = nextButton.disabled = true;
    const result = await options.fetchPage(cursors[index]);
    if (mine !== latest) return;
    options.container.setAttribute('aria-busy', 'false');
    if (!result.ok) {
      pager.hidden = true;
      const unavailable = result.status === 404 && options.unavailable;
      const retry = unavailable ? null : h('button', { type: 'button', class: 'btn', onclick: () => load() }, 'Try again');
      renderEmpty(options.container, unavailable ? 'Not available' : 'Could not load', unavailable ? options.unavailable : problemText(result), retry);
      return;
    }
    if (!result.body.data.length && index > 0) {
      index--;
      return load();
    }
    next = result.body.next_cursor;
    options.render(result.body.data);
    pager.hidden = index === 0 && !next;
    prev.disabled = index === 0;
    nextButton.disabled = !next;
    $('.pager-label', pager).textContent = 'Page ' + (index + 1);
  }
  prev.addEventListener('click', () => {
    index = Math.max(0, index - 1);
    load();
  });
  nextButton.addEventListener('click', () => {
    if (!next) return;
    cursors = cursors.slice(0, index + 1).concat([next]);
    next = null;
    index++;
    load();
  });
  return {
    reload: load,
    reset() {
      cursors = [null];
      index = 0;
      return load();
    },
  };
}

const query = (params) => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, String(value));
  return search.toString();
};

function debounce(fn, ms) {
  let timer = 0;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

const HISTORY_WORDS = {
  'token.created': 'Created',
  'token.updated': 'Edited',
  'token.revoked': 'Revoked',
  'token.restored': 'Restored',
  'token.rotated': 'Regenerated',
  'token.deleted': 'Deleted',
  'token.auth_failed': 'A request with it was refused',
  'token.leak_reported': 'Reported as leaked',
  'token.inactive': 'Not used for a long time',
  'token.expiring_30d': 'Expires within 30 days',
  'token.expiring_7d': 'Expires within 7 days',
};
const REVOKE_WORDS = {
  user: 'by its owner',
  admin: 'by an administrator',
  rotated: 'replaced by a regenerated token',
  leaked: 'reported as leaked',
  inactivity: 'unused for too long',
  deprovisioned: 'its owner was removed',
};

function historyWhat(event) {
  const detail = event.detail || {};
  const what = HISTORY_WORDS[event.action] || event.action;
  if (event.action === 'token.revoked' && detail.reason) return what + ' (' + (REVOKE_WORDS[detail.reason] || detail.reason) + ')';
  if (event.action === 'token.updated' && Array.isArray(detail.changed)) return what + ': ' + detail.changed.join(', ');
  if (event.action === 'token.auth_failed') return what + ' (' + [detail.reason, detail.route && 'route ' + detail.route].filter(Boolean).join(', ') + ')';
  return what;
}

function historyWho(event) {
  const actor = event.actor;
  if (actor.kind === 'system') return 'The gateway';
  if (actor.kind === 'anonymous') return 'A client';
  if (actor.id === state.me.id) return actor.token_id ? 'You, with a token' : 'You';
  return ['Someone else', h('br'), h('span', { class: 'mono muted' }, actor.id)];
}

const HISTORY_COLUMNS = [
  ['When', (e) => timeEl(e.at, fullFormat.format(new Date(e.at)) + ' UTC')],
  ['What', historyWhat],
  ['Who', historyWho],
  ['From', (e) => e.ip || none('—')],
];

/**
 * A token's history in a dialog: its audit events (your own audit trail, or for an admin the whole log), newest
 * first, 20 at a time.
 */
let historyShown = 0;
async function openHistory(t, opener) {
  // Only the token shown now draws: a slow page for a token whose dialog was closed never lands in the next one's.
  const shown = ++historyShown;
  const dialog = $('#history-dialog');
  const list = $('#history-list');
  const more = $('#history-more');
  const endpoint = state.me.role === 'admin' && t.owner_id !== state.me.id ? '/admin/audit' : '/audit';
  const rows = [];
  let cursor = null;
  $('#history-title').textContent = 'History of “' + t.name + '”';
  async function load() {
    more.disabled = true;
    list.setAttribute('aria-busy', 'true');
    const result = await api('GET', endpoint + '?' + query({ target_id: t.id, limit: 20, cursor }));
    if (shown !== historyShown) return;
    list.setAttribute('aria-busy', 'false');
    more.disabled = false;
    if (!result.ok) {
      more.hidden = true;
      return renderEmpty(list, 'Could not load', problemText(result));
    }
    rows.push(...result.body.data);
    cursor = result.body.next_cursor;
    more.hidden = !cursor;
    if (!rows.length) return renderEmpty(list, 'No history', 'Nothing has been recorded for this token.');
    renderTable(list, { caption: 'History of ' + t.name, columns: HISTORY_COLUMNS, rows });
  }
  more.onclick = load;
  list.replaceChildren();
  more.hidden = true;
  openDialog(dialog, dialog.querySelector('[data-close]'));
  openers.set(dialog, opener);
  await load();
}

/** If-Match for the token as the list shows it. */
const ifShown = (t) => ({ 'If-Match': '"' + t.updated_at + '"' });

/**
 * Revoke, restore and delete, for the caller's own tokens (/tokens) or as an admin (/admin/tokens); with rotate,
 * also Regenerate (POST /tokens/{id}/rotate), for tokens whose new secret the caller may hold: their own, and an
 * admin's service tokens.
 */
function lifecycleActions(base, list, rotate) {
  const path = (t, action) => base + encodeURIComponent(t.id) + (action ? '/' + action : '');
  // One action per token at a time: a double click must not send a second request, stale once the first lands
  // (its If-Match would fail and report an error over the success).
  const running = new Set();
  async function run(t, opener, method, action, done, headers) {
    if (running.has(t.id)) return;
    running.add(t.id);
    if (opener) opener.disabled = true;
    try {
      const result = await api(method, path(t, action), undefined, headers);
      if (result.ok) toast(done);
      else toast(problemText(result), true);
      await list.reload();
    } finally {
      running.delete(t.id);
      if (opener) opener.disabled = false;
    }
    refocus(opener);
  }
  return {
    async revoke(t, opener) {
      const message = 'Anything using “' + t.name + '” stops working immediately. You can restore it later.';
      if (await confirmAction('Revoke this token?', message, 'Revoke')) {
        await run(t, opener, 'POST', 'revoke', 'Token “' + t.name + '” revoked.');
      }
    },
    // Only the token as shown: if it changed meanwhile (in another tab, say), nothing happens and the toast says so.
    restore: (t, opener) => run(t, opener, 'POST', 'restore', 'Token “' + t.name + '” restored.', ifShown(t)),
    async remove(t, opener) {
      const message =
        t.type === 'service'
          ? 'This service token will be permanently deleted and cannot be restored.'
          : 'This personal access token will be permanently deleted and cannot be restored.';
      // Seed 001's message and Proceed/Cancel, with seed 002's typed confirmation: deletion cannot be undone.
      if (await confirmAction('Delete “' + t.name + '”?', message, 'Proceed', 'DELETE')) {
        // Only the token as shown: if it changed meanwhile (restored elsewhere, say), nothing is deleted.
        await run(t, opener, 'DELETE', '', 'Token “' + t.name + '” deleted.', ifShown(t));
      }
    },
    async regenerate(t, opener) {
      const message =
        'A new token with the same name, description and scopes replaces “' + t.name + '”, which stops working ' +
        'immediately. The new token gets the default expiration. You will see it once.';
      if (!(await confirmAction('Regenerate this token?', message, 'Regenerate'))) return;
      const result = await api('POST', '/tokens/' + encodeURIComponent(t.id) + '/rotate', undefined, ifShown(t));
      if (result.ok) toast('Token “' + t.name + '” regenerated.');
      else toast(problemText(result), true);
      await list.reload();
      if (result.ok) showCopyDialog(result.body.token);
      else refocus(opener);
    },
    /** The buttons a token's status allows; the server checks again. */
    buttons(t, extra) {
      const buttons = extra ? extra.slice() : [];
      // A revoked token cannot be rotated (409); an expired one can, which is how it comes back to life.
      if (rotate && t.status !== 'revoked') buttons.push(['Regenerate', this.regenerate]);
      if (t.status === 'active') buttons.push(['Revoke', this.revoke]);
      if (canRestore(t)) buttons.push(['Restore', this.restore]);
      if (canDelete(t)) buttons.push(['Delete', this.remove, 'danger-outline']);
      return buttons;
    },
  };
}
`;
