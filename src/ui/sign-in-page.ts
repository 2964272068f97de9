import { html } from 'hono/html';
import { layout } from './layout';

// The page for someone without a session. In local development it is a sign-in form that needs no identity
// provider (any user name, either role), posted as a plain form so it works before any script runs. In production
// the session comes from the deployment's sign-in (Cloudflare Access, or a front end that sets the cookie).

export interface SignInOptions {
  devMode: boolean;
  notice?: string | undefined;
  errors?: { user?: string | undefined; role?: string | undefined };
  values?: { user?: string | undefined; role?: string | undefined };
}

function fieldError(id: string, message: string | undefined) {
  return message ? html`<p class="field-error" id="${id}">${message}</p>` : '';
}

function devForm(options: SignInOptions) {
  const errors = options.errors ?? {};
  const user = options.values?.user ?? '';
  const role = options.values?.role === 'admin' ? 'admin' : 'member';
  return html`<form class="card sign-in" method="post" action="/ui/session/dev" novalidate>
<h2>Development sign-in</h2>
<p class="muted">Local development only: choose any user name and a role. No password; production never offers this.</p>
<div class="field">
<label for="dev-user">User name</label>
<input id="dev-user" name="user" type="text" autocomplete="username" autocapitalize="none" spellcheck="false"
 required maxlength="64" value="${user}" aria-describedby="dev-user-hint${errors.user ? ' dev-user-error' : ''}"
 ${errors.user ? html`aria-invalid="true" autofocus` : ''}>
<p class="hint" id="dev-user-hint">Letters, digits and . _ @ -, at most 64 characters.</p>
${fieldError('dev-user-error', errors.user)}
</div>
<fieldset class="field">
<legend>Role</legend>
<label class="choice"><input type="radio" name="role" value="member" ${role === 'member' ? 'checked' : ''}> Member</label>
<label class="choice"><input type="radio" name="role" value="admin" ${role === 'admin' ? 'checked' : ''}> Admin (also manages service accounts and every token)</label>
${fieldError('dev-role-error', errors.role)}
</fieldset>
<button class="btn primary" type="submit">Sign in</button>
</form>`;
}

const productionHelp = html`<section class="card sign-in">
<h2>Sign in required</h2>
<p>This page uses your organization's sign-in. Open it through your company's sign-in portal (for example
Cloudflare Access), or sign in with your identity provider and come back.</p>
<p class="muted">Operators: see “Web UI” in the README for how the session is established.</p>
</section>`;

export function signInPage(options: SignInOptions) {
  return layout({
    title: 'Sign in · Personal Access Tokens',
    body: html`<header class="topbar"><span class="brand">pat-gateway</span></header>
<main id="main" class="narrow">
<h1>Manage Personal Access Tokens</h1>
${options.notice ? html`<p class="notice" role="alert">${options.notice}</p>` : ''}
${options.devMode ? devForm(options) : productionHelp}
</main>`,
  });
}
