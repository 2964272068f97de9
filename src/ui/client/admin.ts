// Browser code for /ui/app.js, part 5: the admin views (service accounts with their tokens, and the inventory of
// every token), over /api/v1/admin. A 404 there means this deployment has no admin API yet: say so, plainly.

export const ADMIN_JS = `
const admin = { accounts: null, saTokens: null, inventory: null, account: null };
const ADMIN_UNAVAILABLE = 'The admin API (/api/v1/admin) is not available on this deployment yet.';

function renderAccounts(rows) {
  if (!rows.length) return renderEmpty($('#sa-list'), 'No service accounts yet', 'Create one for automation that should not depend on a person.');
  renderTable($('#sa-list'), {
    caption: 'Service accounts',
    columns: [
      ['Name', (a) => h('strong', null, a.name)],
      ['Description', (a) => a.description || none('—')],
      ['Role', (a) => (a.role === 'admin' ? 'Admin' : 'Member')],
      ['Status', (a) => h('span', { class: 'badge ' + (a.active ? 'status-active' : 'status-inactive') }, a.active ? 'Active' : 'Inactive')],
      ['Created', (a) => timeEl(a.created_at, formatDay(a.created_at))],
    ],
    rows,
    actions: () => [['Tokens', openAccount]],
  });
}

function openAccount(account) {
  admin.account = account;
  $('#sa-detail').hidden = false;
  $('#sa-detail-title').textContent = 'Tokens of ' + account.name;
  $('#sa-detail-meta').textContent = 'Role: ' + account.role + (account.active ? '' : ' · inactive: its tokens do not work');
  admin.saTokens.reset();
  $('#sa-detail-title').focus();
}

function renderServiceTokens(rows) {
  if (!rows.length) return renderEmpty($('#sa-tokens'), 'No tokens', 'This service account has no tokens yet.');
  renderTable($('#sa-tokens'), {
    caption: 'Tokens of ' + admin.account.name,
    columns: ['name', 'description', 'expires', 'created', 'lastUsed', 'status'],
    rows,
    actions: (t) => admin.saTokenActions.buttons(t, [['Edit', openServiceTokenEdit]]),
  });
}

/** Name, description and expiration of a service account's token (admins may edit service tokens). */
function openServiceTokenEdit(token, opener) {
  openTokenForm({
    mode: 'edit',
    token,
    title: 'Edit service token',
    owner: admin.account.name + ' (service account)',
    endpoint: '/tokens/' + encodeURIComponent(token.id),
    async onDone(updated) {
      toast('Token “' + updated.name + '” updated.');
      await admin.saTokens.reload();
      refocus(opener);
    },
    async onStale() {
      await admin.saTokens.reload();
      refocus(opener);
    },
  });
}

function renderInventory(rows) {
  if (!rows.length) return renderEmpty($('#inv-list'), 'No tokens', 'No token matches these filters.');
  renderTable($('#inv-list'), {
    caption: 'All tokens',
    columns: ['name', 'owner', 'type', 'expires', 'lastUsed', 'status'],
    rows,
    actions: (t) => admin.inventoryActions.buttons(t, [['History', openHistory]]),
  });
}

function openServiceTokenForm() {
  const account = admin.account;
  openTokenForm({
    mode: 'create',
    title: 'Create service token',
    owner: account.name + ' (service account)',
    endpoint: '/admin/service-accounts/' + encodeURIComponent(account.id) + '/tokens',
    scopes: state.policy.scopes[account.role] || [],
    async onDone(created) {
      toast('New token successfully created.');
      await admin.saTokens.reset();
      showCopyDialog(created.token);
    },
  });
}

const SA_FIELDS = { name: 'sa-name', description: 'sa-description', role: 'sa-role' };

function validateAccountForm() {
  const name = trimName($('#sa-name').value);
  const description = $('#sa-description').value.trim();
  setFieldError('sa-name', !name ? 'Name is required and cannot be blank.' : chars(name) > 100 ? 'Name must be at most 100 characters.' : '');
  setFieldError('sa-description', chars(description) > 500 ? 'Description must be at most 500 characters.' : '');
  $('#sa-name-count').textContent = chars(name) + ' / 100';
  $('#sa-description-count').textContent = chars(description) + ' / 500';
  return !$('#sa-form [aria-invalid="true"]');
}

async function submitAccountForm(event) {
  event.preventDefault();
  showFormError('sa-form-error', '');
  if (!validateAccountForm()) return $('#sa-form [aria-invalid="true"]').focus();
  const body = { name: trimName($('#sa-name').value), role: $('#sa-role').value };
  if ($('#sa-description').value.trim()) body.description = $('#sa-description').value.trim();
  const result = await api('POST', '/admin/service-accounts', body);
  if (!result.ok) {
    let placed = false;
    for (const error of result.body?.errors || []) {
      const id = SA_FIELDS[String(error.field).split('.')[0]];
      if (id) setFieldError(id, error.message);
      placed = placed || Boolean(id);
    }
    showFormError('sa-form-error', placed ? '' : result.status === 404 ? ADMIN_UNAVAILABLE : problemText(result));
    return;
  }
  $('#sa-dialog').close();
  toast('Service account “' + result.body.name + '” created.');
  await admin.accounts.reset();
}

function setupAdmin() {
  admin.accounts = pagedList({
    container: $('#sa-list'),
    pager: $('#sa-pager'),
    unavailable: ADMIN_UNAVAILABLE,
    fetchPage: (cursor) => api('GET', '/admin/service-accounts?' + query({ limit: 20, cursor })),
    render: renderAccounts,
  });
  admin.saTokens = pagedList({
    container: $('#sa-tokens'),
    pager: $('#sa-tokens-pager'),
    unavailable: ADMIN_UNAVAILABLE,
    fetchPage: (cursor) =>
      api('GET', '/admin/service-accounts/' + encodeURIComponent(admin.account.id) + '/tokens?' + query({ limit: 20, cursor })),
    render: renderServiceTokens,
  });
  admin.inventory = pagedList({
    container: $('#inv-list'),
    pager: $('#inv-pager'),
    unavailable: ADMIN_UNAVAILABLE,
    fetchPage: (cursor) =>
      api('GET', '/admin/tokens?' + query({
        type: $('#inv-type').value,
        status: $('#inv-status').value,
        q: $('#inv-q').value.trim(),
        owner_id: $('#inv-owner').value.trim(),
        limit: 50,
        cursor,
      })),
    render: renderInventory,
  });
  admin.saTokenActions = lifecycleActions('/admin/tokens/', admin.saTokens, true);
  admin.inventoryActions = lifecycleActions('/admin/tokens/', admin.inventory);
  $('#sa-token-create-btn').addEventListener('click', openServiceTokenForm);
  $('#sa-create-btn').addEventListener('click', () => {
    $('#sa-form').reset();
    for (const id of Object.values(SA_FIELDS)) setFieldError(id, '');
    $('#sa-name-count').textContent = '0 / 100';
    $('#sa-description-count').textContent = '0 / 500';
    showFormError('sa-form-error', '');
    openDialog($('#sa-dialog'), $('#sa-name'));
  });
  $('#sa-form').addEventListener('submit', submitAccountForm);
  for (const id of ['sa-name', 'sa-description']) $('#' + id).addEventListener('input', validateAccountForm);
  for (const id of ['inv-type', 'inv-status']) $('#' + id).addEventListener('change', () => admin.inventory.reset());
  for (const id of ['inv-q', 'inv-owner']) $('#' + id).addEventListener('input', debounce(() => admin.inventory.reset(), 300));
}
`;
