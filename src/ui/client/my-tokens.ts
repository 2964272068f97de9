// Browser code for /ui/app.js, part 4: "My tokens", the Manage Personal Access Tokens list (seed 001) with its
// filters, pagination, and the create → copy → list journey.

export const MY_TOKENS_JS = `
const mine = { list: null, actions: null };

function mineFiltered() {
  return Boolean($('#mine-status').value || $('#mine-q').value.trim());
}

function renderMine(rows) {
  const container = $('#mine-list');
  if (!rows.length) {
    if (mineFiltered()) return renderEmpty(container, 'No matching tokens', 'No token matches these filters. Change the status or the name to see more.');
    const create = h('button', { type: 'button', class: 'btn primary', onclick: openCreate }, 'Create new');
    return renderEmpty(container, 'No personal access tokens yet', 'Create a token to let a script or tool call the API as you.', create);
  }
  renderTable(container, {
    caption: 'Your personal access tokens',
    columns: ['name', 'description', 'expires', 'created', 'lastUsed', 'status'],
    rows,
    actions: (t) => mine.actions.buttons(t, [['Edit', openEdit], ['History', openHistory]]),
  });
}

function openCreate() {
  openTokenForm({
    mode: 'create',
    endpoint: '/tokens',
    scopes: state.policy.scopes[state.me.role] || [],
    async onDone(created) {
      toast('New token successfully created.');
      // Show every token again, so the new one is on the first page with its Active status.
      $('#mine-status').value = '';
      $('#mine-q').value = '';
      await mine.list.reset();
      showCopyDialog(created.token);
    },
  });
}

function openEdit(token, opener) {
  openTokenForm({
    mode: 'edit',
    token,
    endpoint: '/tokens/' + encodeURIComponent(token.id),
    async onDone(updated) {
      toast('Token “' + updated.name + '” updated.');
      await mine.list.reload();
      refocus(opener);
    },
    async onStale() {
      await mine.list.reload();
      refocus(opener);
    },
  });
}

function setupMine() {
  mine.list = pagedList({
    container: $('#mine-list'),
    pager: $('#mine-pager'),
    fetchPage: (cursor) =>
      api('GET', '/tokens?' + query({ status: $('#mine-status').value, q: $('#mine-q').value.trim(), limit: $('#mine-size').value, cursor })),
    render: renderMine,
  });
  mine.actions = lifecycleActions('/tokens/', mine.list, true);
  $('#create-btn').addEventListener('click', openCreate);
  $('#mine-status').addEventListener('change', () => mine.list.reset());
  $('#mine-size').addEventListener('change', () => mine.list.reset());
  $('#mine-q').addEventListener('input', debounce(() => mine.list.reset(), 300));
}
`;
