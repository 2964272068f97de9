// Browser code for /ui/app.js, part 1: DOM and API helpers, dates, toasts, dialogs. The client files are plain
// JavaScript kept in strings (the Worker serves them; there is no bundler for the browser) and concatenated into
// one strict-mode function scope by ../assets.ts. Data only ever reaches the page as text nodes, never as HTML.

import { EDGE_INVISIBLE } from '../../api/schemas';

export const CORE_JS = `
const $ = (selector, root) => (root || document).querySelector(selector);
const state = { me: null, policy: null };
const CSRF = $('meta[name="csrf-token"]')?.content || '';
const DAY_MS = 86400000;

/** h('td', {class: 'x', onclick: fn}, child, ...): an element with attributes and text or element children. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/**
 * Calls the management API. Requests go to /ui/api/v1 because the session cookie is scoped to /ui (it must never
 * reach proxied upstreams); every one carries the session's CSRF token. Resolves with {ok, status, body}.
 */
async function api(method, path, body, extraHeaders) {
  // On reads too: the server then notices when this tab's session was replaced by another sign-in.
  const headers = { Accept: 'application/json', 'X-CSRF-Token': CSRF, ...extraHeaders };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch('/ui/api/v1' + path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, body: { detail: 'The gateway could not be reached. Check your connection.' } };
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  // The server's words for these are meant for API clients (“Send a bearer token…”); a person needs to sign in.
  if (res.status === 401) {
    sessionLost('Your session has expired.');
    data = { ...data, detail: 'Your session has expired. Sign in again.' };
  } else if (res.status === 403 && data && data.code === 'csrf_failed') {
    sessionLost('Your session changed.');
    data = { ...data, detail: 'Your session changed in another tab. Sign in again.' };
  } else if (res.status === 412) {
    data = { ...data, detail: 'This token was changed elsewhere (in another tab or by someone else) after this page showed it. Nothing was changed; the list now shows it as it is.' };
  }
  return { ok: res.ok, status: res.status, body: data };
}

function sessionLost(why) {
  const banner = $('#banner');
  banner.replaceChildren(why + ' ', h('a', { href: '/ui' }, 'Sign in again'), '.');
  banner.hidden = false;
  // An open dialog makes the page behind it inert: close it so the sign-in link can be reached.
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
}

function problemText(result) {
  const body = result.body || {};
  return body.detail || body.title || 'Something went wrong (HTTP ' + result.status + '). Please try again.';
}

// Expirations are whole UTC days (a date-only expiration ends at 00:00 UTC), so dates are shown in UTC.
const dayFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const formatDay = (value) => dayFormat.format(new Date(value.length === 10 ? value + 'T00:00:00Z' : value));

function ago(iso) {
  const minutes = Math.round((Date.now() - Date.parse(iso)) / 60000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return relative.format(-minutes, 'minute');
  const hours = Math.round(minutes / 60);
  if (hours < 24) return relative.format(-hours, 'hour');
  const days = Math.round(hours / 24);
  return days < 30 ? relative.format(-days, 'day') : formatDay(iso);
}

function timeEl(iso, text) {
  return h('time', { datetime: iso, title: fullFormat.format(new Date(iso)) + ' UTC' }, text);
}

let toastTimer = 0;
function toast(message, isError) {
  const el = $('#toast');
  el.classList.toggle('error', Boolean(isError));
  el.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.textContent = '';
  }, 6000);
}

const FOCUSABLE = 'a[href],button:not([disabled]),input:not([disabled]),select:not([disabled]),textarea:not([disabled]),[tabindex="0"]';
const focusables = (root) => [...root.querySelectorAll(FOCUSABLE)].filter((el) => !el.closest('[hidden]'));
const openers = new WeakMap();

/** Opens a modal dialog (the page behind it becomes inert) and remembers what to give focus back to. */
function openDialog(dialog, initialFocus) {
  openers.set(dialog, document.activeElement);
  dialog.showModal();
  const target = initialFocus || focusables(dialog)[0];
  if (target) target.focus();
}

/**
 * Focus after a list re-render: the element itself if still there, else the same action on the same row, else
 * the view's heading, so keyboard users never land at the top of the document.
 */
function refocus(element) {
  if (element?.isConnected) return element.focus();
  const id = element?.dataset?.id;
  const row = id ? '[data-id="' + CSS.escape(id) + '"]' : null;
  const again =
    row && (document.querySelector(row + '[data-action="' + element.dataset.action + '"]') || document.querySelector(row));
  if (again) return again.focus();
  const heading = document.querySelector('.view:not([hidden]) h1');
  if (heading) heading.focus();
}

function setupDialogs() {
  for (const dialog of document.querySelectorAll('dialog')) {
    dialog.addEventListener('close', () => {
      const opener = openers.get(dialog);
      // The opener may be gone (the empty list's "Create new" after the first token): its row, else the heading.
      if (opener?.isConnected) opener.focus();
      else if (opener) refocus(opener);
    });
    dialog.addEventListener('click', (event) => {
      if (event.target.closest('[data-close]')) dialog.close();
    });
    // Keep Tab cycling inside the dialog instead of escaping to the browser's own controls.
    dialog.addEventListener('keydown', (event) => {
      if (event.key !== 'Tab') return;
      const items = focusables(dialog);
      if (!items.length) return;
      const first = items[0];
      const last = items[items.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    });
  }
}

/**
 * A confirmation dialog; resolves true only when the user chose the action. With "typed" (seed 002: "Type DELETE to
 * confirm"), the action stays disabled until that word is typed.
 */
function confirmAction(title, message, actionLabel, typed) {
  return new Promise((resolve) => {
    const dialog = $('#confirm-dialog');
    const field = $('#confirm-typed-field');
    const input = $('#confirm-typed');
    const ok = $('#confirm-ok');
    let chosen = false;
    $('#confirm-title').textContent = title;
    $('#confirm-message').textContent = message;
    ok.textContent = actionLabel;
    field.hidden = !typed;
    input.value = '';
    ok.disabled = Boolean(typed);
    if (typed) {
      $('#confirm-typed-label').textContent = 'Type ' + typed + ' to confirm';
      input.oninput = () => {
        ok.disabled = input.value.trim() !== typed;
      };
      input.onkeydown = (event) => {
        if (event.key !== 'Enter') return;
        // Without this, the same Enter would also press the button focus returns to (the row's Delete).
        event.preventDefault();
        if (!ok.disabled) ok.click();
      };
    }
    ok.onclick = () => {
      chosen = true;
      dialog.close();
    };
    $('#confirm-cancel').onclick = () => dialog.close();
    dialog.addEventListener('close', () => resolve(chosen), { once: true });
    openDialog(dialog, typed ? input : $('#confirm-cancel'));
  });
}

/** Shows (or clears, with '') the error under a field and marks the field invalid for assistive technology. */
function setFieldError(id, message) {
  const field = $('#' + id);
  const error = $('#' + id + '-error');
  error.textContent = message || '';
  error.hidden = !message;
  if (message) field.setAttribute('aria-invalid', 'true');
  else field.removeAttribute('aria-invalid');
}

function showFormError(id, message) {
  const el = $('#' + id);
  el.textContent = message || '';
  el.hidden = !message;
}

// As the server counts: code points after Unicode NFC (e + U+0301 is one character, é).
const chars = (text) => [...text.normalize('NFC')].length;
// As the server trims a name: spaces and invisible format characters (zero-width spaces, BOM…) at either end.
const trimName = (text) => text.replace(${EDGE_INVISIBLE}, '');
`;
