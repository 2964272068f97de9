import { html } from 'hono/html';

// Dialog markup (native <dialog>, opened modally by app.js, so the rest of the page is inert while one is open).
// Every input has a label; hints and errors are tied to their field with aria-describedby.

function textField(
  id: string,
  label: string,
  options: { required?: boolean; max: number; multiline?: boolean },
) {
  const describedBy = `${id}-count ${id}-error`;
  const tag = options.multiline
    ? html`<textarea id="${id}" rows="3" aria-describedby="${describedBy}"></textarea>`
    : html`<input id="${id}" type="text" autocomplete="off" aria-describedby="${describedBy}" ${options.required ? 'required' : ''}>`;
  return html`<div class="field">
<label for="${id}">${label} <span class="muted">${options.required ? '(required)' : '(optional)'}</span></label>
${tag}
<p class="hint counter" id="${id}-count">0 / ${options.max}</p>
<p class="field-error" id="${id}-error" hidden></p>
</div>`;
}

const tokenDialog = html`<dialog id="token-dialog" aria-labelledby="tf-title">
<form id="token-form" novalidate>
<h2 id="tf-title">Create Personal Access Token</h2>
<p id="tf-owner" class="muted" hidden></p>
<p class="form-error" id="tf-form-error" role="alert" hidden></p>
${textField('tf-name', 'Name', { required: true, max: 100 })}
${textField('tf-description', 'Description', { max: 500, multiline: true })}
<div class="field-row" id="tf-expiration">
<div class="field">
<label for="tf-preset">Expires in</label>
<select id="tf-preset" aria-describedby="tf-expires-hint"></select>
</div>
<div class="field">
<label for="tf-expires">Expiration date</label>
<input id="tf-expires" type="date" aria-describedby="tf-expires-hint tf-expires-error">
</div>
</div>
<p class="hint" id="tf-expires-hint"></p>
<p class="field-error" id="tf-expires-error" hidden></p>
<fieldset class="field" id="tf-scopes" hidden>
<legend>Scopes</legend>
<div id="tf-scopes-list" class="choices"></div>
<p class="field-error" id="tf-scopes-error" hidden></p>
</fieldset>
<div class="actions">
<button type="button" class="btn" data-close>Cancel</button>
<button type="submit" class="btn primary" id="tf-submit">Create</button>
</div>
</form>
</dialog>`;

const copyIcon = html`<svg aria-hidden="true" focusable="false" width="16" height="16" viewBox="0 0 16 16" fill="none" stroke="currentColor" stroke-width="1.5"><rect x="5" y="5" width="9" height="9" rx="1.5"/><path d="M11 5V3.5A1.5 1.5 0 0 0 9.5 2h-6A1.5 1.5 0 0 0 2 3.5v6A1.5 1.5 0 0 0 3.5 11H5"/></svg>`;

const copyDialog = html`<dialog id="copy-dialog" aria-labelledby="copy-title" aria-describedby="copy-warning">
<h2 id="copy-title">Copy your token</h2>
<p class="warning" id="copy-warning">This is the only time you will see the full token. Please copy and store it securely.</p>
<div class="field">
<label for="copy-value">Token</label>
<div class="copy-row">
<textarea id="copy-value" class="secret" rows="2" readonly spellcheck="false" autocomplete="off"></textarea>
<button type="button" class="btn" id="copy-btn">${copyIcon}<span>Copy</span></button>
</div>
</div>
<p id="copy-status" class="success" role="status" aria-live="polite"></p>
<div class="actions"><button type="button" class="btn primary" data-close>Close</button></div>
</dialog>`;

const confirmDialog = html`<dialog id="confirm-dialog" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-message">
<h2 id="confirm-title"></h2>
<p id="confirm-message"></p>
<div class="field" id="confirm-typed-field" hidden>
<label for="confirm-typed" id="confirm-typed-label"></label>
<input id="confirm-typed" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false">
</div>
<div class="actions">
<button type="button" class="btn" id="confirm-cancel">Cancel</button>
<button type="button" class="btn danger" id="confirm-ok">Proceed</button>
</div>
</dialog>`;

const serviceAccountDialog = html`<dialog id="sa-dialog" aria-labelledby="sa-title">
<form id="sa-form" novalidate>
<h2 id="sa-title">New service account</h2>
<p class="form-error" id="sa-form-error" role="alert" hidden></p>
${textField('sa-name', 'Name', { required: true, max: 100 })}
${textField('sa-description', 'Description', { max: 500, multiline: true })}
<div class="field">
<label for="sa-role">Role</label>
<select id="sa-role"><option value="member">Member</option><option value="admin">Admin</option></select>
<p class="field-error" id="sa-role-error" hidden></p>
</div>
<div class="actions">
<button type="button" class="btn" data-close>Cancel</button>
<button type="submit" class="btn primary">Create</button>
</div>
</form>
</dialog>`;

const historyDialog = html`<dialog id="history-dialog" aria-labelledby="history-title">
<h2 id="history-title">History</h2>
<p class="muted">What was done with this token, newest first. Uses that succeeded are shown as “Last used”, not here.</p>
<div id="history-list" class="list" aria-live="polite"></div>
<div class="actions">
<button type="button" class="btn" id="history-more" hidden>Show older</button>
<button type="button" class="btn primary" data-close>Close</button>
</div>
</dialog>`;

export function dialogs() {
  return html`${tokenDialog}
${copyDialog}
${confirmDialog}
${serviceAccountDialog}
${historyDialog}`;
}
