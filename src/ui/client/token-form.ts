// Browser code for /ui/app.js, part 3: the create/edit token dialog (inline validation as the user types, the
// server's 422 errors shown beside the field they name) and the "Copy your token" dialog.

export const TOKEN_FORM_JS = `
let form = null; // what the open dialog is doing: {mode, token, endpoint, scopes, onDone}
let submitting = false; // a create or edit is on its way: the dialog stays open until it is answered
const touched = new Set();
const FIELD_IDS = { name: 'tf-name', description: 'tf-description', expires_at: 'tf-expires', expires_in_days: 'tf-expires', scopes: 'tf-scopes' };

function presetLabel(days) {
  if (days % 365 === 0) return days === 365 ? '1 year' : days / 365 + ' years';
  return days === 1 ? '1 day' : days + ' days';
}

/** Allowed expiration days. A date-only expiration ends at 00:00 UTC, so the first day is the first midnight ≥ earliest. */
function expirationLimits() {
  const e = state.policy.expiration;
  return { min: isoDay(Math.ceil(Date.parse(e.earliest_expires_at) / DAY_MS) * DAY_MS), max: e.latest_expires_at.slice(0, 10) };
}

function minimumText() {
  const min = state.policy.expiration.min;
  if (min.months) return 'at least ' + min.months + ' months from today';
  return 'at least ' + min.days + (min.days === 1 ? ' day' : ' days') + ' from today';
}

const validators = {
  'tf-name'() {
    const value = trimName($('#tf-name').value);
    if (!value) return 'Name is required and cannot be blank.';
    if (chars(value) > 100) return 'Name must be at most 100 characters (now ' + chars(value) + ').';
    return '';
  },
  'tf-description'() {
    const n = chars($('#tf-description').value.trim());
    return n > 500 ? 'Description must be at most 500 characters (now ' + n + ').' : '';
  },
  'tf-expires'() {
    const input = $('#tf-expires');
    if ($('#tf-preset').value === 'never' || input.disabled) return '';
    if (form.mode === 'edit' && input.value === input.defaultValue) return '';
    const { min, max } = expirationLimits();
    if (!input.value) return 'Choose an expiration date.';
    if (input.value < min) return 'The expiration date must be on or after ' + formatDay(min) + ' (' + minimumText() + ').';
    if (input.value > max) {
      return 'The expiration date must be on or before ' + formatDay(max) + ' (at most ' + state.policy.expiration.max_days + ' days from today).';
    }
    return '';
  },
};

function validateField(id) {
  const message = validators[id]();
  setFieldError(id, message);
  return !message;
}

function updateCounters() {
  $('#tf-name-count').textContent = chars(trimName($('#tf-name').value)) + ' / 100';
  $('#tf-description-count').textContent = chars($('#tf-description').value.trim()) + ' / 500';
}

/** Picks the preset whose date the date field shows, or "Custom date". */
function syncPreset() {
  const value = $('#tf-expires').value;
  const match = state.policy.expiration.presets.find((p) => isoDay(Date.now() + p.days * DAY_MS) === value);
  if ($('#tf-preset').value !== 'never') $('#tf-preset').value = match ? String(match.days) : 'custom';
}

function fillExpiration(token) {
  const e = state.policy.expiration;
  const preset = $('#tf-preset');
  const date = $('#tf-expires');
  const { min, max } = expirationLimits();
  const options = e.presets.map((p) => h('option', { value: p.days }, presetLabel(p.days)));
  options.push(h('option', { value: 'custom' }, 'Custom date'));
  if (!e.required) options.push(h('option', { value: 'never' }, 'No expiration'));
  preset.replaceChildren(...options);
  date.min = min;
  date.max = max;
  const current = token ? token.expires_at : e.default_expires_at;
  date.value = date.defaultValue = current ? current.slice(0, 10) : '';
  preset.value = current ? 'custom' : 'never';
  if (current) syncPreset();
  date.disabled = !current;
  const locked = Boolean(token) && !e.editable;
  preset.disabled = locked;
  if (locked) date.disabled = true;
  $('#tf-expires-hint').textContent = locked
    ? 'This deployment does not allow changing the expiration after creation.'
    : 'Between ' + formatDay(min) + ' and ' + formatDay(max) + '. The token stops working at 00:00 UTC on that day.';
}

function fillScopes(scopes) {
  const list = $('#tf-scopes-list');
  list.replaceChildren(...(scopes || []).map((scope) =>
    h('label', { class: 'choice' }, h('input', { type: 'checkbox', value: scope, checked: true }), scope),
  ));
  $('#tf-scopes').hidden = !scopes || scopes.length === 0;
}

/** Opens the dialog. options: {mode: 'create'|'edit', token?, endpoint, title?, owner?, scopes?, onDone(body), onStale() for edits}. */
function openTokenForm(options) {
  form = options;
  touched.clear();
  $('#token-form').reset();
  const editing = options.mode === 'edit';
  $('#tf-title').textContent = options.title || (editing ? 'Edit token' : 'Create Personal Access Token');
  $('#tf-submit').textContent = editing ? 'Save' : 'Create';
  $('#tf-owner').textContent = options.owner ? 'Owner: ' + options.owner : '';
  $('#tf-owner').hidden = !options.owner;
  $('#tf-name').value = editing ? options.token.name : '';
  $('#tf-description').value = editing ? options.token.description || '' : '';
  fillExpiration(editing ? options.token : null);
  fillScopes(editing ? [] : options.scopes);
  for (const id of Object.keys(validators).concat(['tf-scopes'])) setFieldError(id, '');
  showFormError('tf-form-error', '');
  updateCounters();
  openDialog($('#token-dialog'), $('#tf-name'));
}

function requestBody() {
  const name = trimName($('#tf-name').value);
  const description = $('#tf-description').value.trim();
  const date = $('#tf-expires');
  const preset = $('#tf-preset').value;
  const expires = preset === 'never' ? null : date.value;
  // A preset is a lifetime ("7 days" is 7 × 24 hours from now), not the date it shows, which ends at 00:00 UTC.
  const lifetime = /^[0-9]+$/.test(preset) ? { expires_in_days: Number(preset) } : { expires_at: expires };
  if (form.mode === 'edit') {
    const body = {};
    if (name !== form.token.name) body.name = name;
    if (description !== (form.token.description || '')) body.description = description || null;
    if (!date.disabled && date.value !== date.defaultValue) Object.assign(body, lifetime);
    if (preset === 'never' && form.token.expires_at) body.expires_at = null;
    return body;
  }
  const body = { name, ...lifetime };
  if (description) body.description = description;
  if (!$('#tf-scopes').hidden) body.scopes = [...$('#tf-scopes-list').querySelectorAll('input:checked')].map((i) => i.value);
  return body;
}

/** The server is the authority: each of its field errors goes under its field; anything else above the form. */
function showServerErrors(result) {
  const body = result.body || {};
  let placed = false;
  for (const error of body.errors || []) {
    const id = FIELD_IDS[String(error.field).split('.')[0]];
    if (!id) continue;
    setFieldError(id, error.message);
    placed = true;
  }
  if (!placed && body.code === 'scope_not_allowed') {
    setFieldError('tf-scopes', body.detail);
    placed = true;
  }
  showFormError('tf-form-error', placed ? '' : problemText(result));
  const firstInvalid = $('#token-form [aria-invalid="true"]');
  if (firstInvalid) firstInvalid.focus();
}

async function submitTokenForm(event) {
  event.preventDefault();
  const ids = Object.keys(validators);
  for (const id of ids) touched.add(id);
  const valid = ids.map(validateField).every(Boolean);
  showFormError('tf-form-error', '');
  if (!valid) return $('#token-form [aria-invalid="true"]').focus();
  const body = requestBody();
  if (form.mode === 'edit' && !Object.keys(body).length) return $('#token-dialog').close();
  const submit = $('#tf-submit');
  const label = submit.textContent;
  // The answer belongs to this form, whatever the dialog shows by then. While it is on its way the dialog cannot be
  // cancelled (Cancel disabled, Escape ignored): a create's answer carries the only copy of the new secret.
  const current = form;
  const cancel = $('#token-dialog [data-close]');
  submitting = true;
  submit.disabled = cancel.disabled = true;
  submit.textContent = current.mode === 'edit' ? 'Saving…' : 'Creating…';
  // An edit applies only to the token as this page showed it (If-Match: its updated_at, which is its ETag).
  const headers = current.mode === 'edit' ? { 'If-Match': '"' + current.token.updated_at + '"' } : undefined;
  let result;
  try {
    result = await api(current.mode === 'edit' ? 'PATCH' : 'POST', current.endpoint, body, headers);
  } finally {
    submitting = false;
    submit.disabled = cancel.disabled = false;
    submit.textContent = label;
  }
  const stillOpen = form === current && $('#token-dialog').open;
  if (result.status === 412) {
    if (stillOpen) $('#token-dialog').close();
    toast(problemText(result), true);
    return current.onStale();
  }
  if (!result.ok) return stillOpen ? showServerErrors(result) : toast(problemText(result), true);
  if (stillOpen) $('#token-dialog').close();
  current.onDone(result.body);
}

/** Shows a new token's secret once; closing the dialog forgets it. */
function showCopyDialog(secret) {
  $('#copy-value').value = secret;
  $('#copy-status').textContent = '';
  openDialog($('#copy-dialog'), $('#copy-btn'));
}

async function copyToken() {
  const input = $('#copy-value');
  let copied = true;
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // No clipboard permission (or an old browser): fall back to copying the selected field.
    input.select();
    copied = document.execCommand('copy');
  }
  // Never claim a copy that did not happen: this dialog is the only chance to take the token.
  $('#copy-status').textContent = copied
    ? 'You have copied token to your clipboard.'
    : 'Copying failed: the token is selected, press Ctrl+C (⌘C) to copy it.';
  if (!copied) input.select();
}

function setupTokenForm() {
  $('#token-form').addEventListener('submit', submitTokenForm);
  for (const id of Object.keys(validators)) {
    $('#' + id).addEventListener('input', () => {
      touched.add(id);
      updateCounters();
      if (id === 'tf-expires') syncPreset();
      validateField(id);
    });
    $('#' + id).addEventListener('blur', () => touched.has(id) && validateField(id));
  }
  $('#tf-preset').addEventListener('change', () => {
    const value = $('#tf-preset').value;
    const date = $('#tf-expires');
    date.disabled = value === 'never';
    if (value === 'never') date.value = '';
    else if (value !== 'custom') date.value = isoDay(Date.now() + Number(value) * DAY_MS);
    else date.focus();
    touched.add('tf-expires');
    validateField('tf-expires');
  });
  $('#copy-btn').addEventListener('click', copyToken);
  $('#copy-value').addEventListener('focus', (event) => event.target.select());
  // Escape would close the dialog as Cancel does: not while a create or edit is on its way.
  $('#token-dialog').addEventListener('cancel', (event) => {
    if (submitting) event.preventDefault();
  });
  $('#copy-dialog').addEventListener('close', () => {
    $('#copy-value').value = '';
  });
}
`;
