import { html } from 'hono/html';
import { dialogs } from './dialogs';
import { layout } from './layout';

// The signed-in page: the markup of every view and dialog; app.js fills in the data and behaviour. Admin views are
// present but hidden, and shown only when GET /currentuser says `admin` (the API enforces it regardless).

export interface AppPageOptions {
  csrfToken: string;
  /** How the session arrived: our cookie (sign-out clears it) or Cloudflare Access (sign out at Access). */
  source: 'cookie' | 'access';
  displayName: string;
}

const STATUS_OPTIONS = html`<option value="">All statuses</option>
<option value="active">Active</option>
<option value="expired">Expired</option>
<option value="revoked">Revoked</option>`;

function pager(id: string) {
  return html`<nav class="pager" id="${id}" aria-label="Pages" hidden>
<button type="button" class="btn" data-page="prev">Previous</button>
<span class="pager-label" aria-live="polite"></span>
<button type="button" class="btn" data-page="next">Next</button>
</nav>`;
}

const myTokens = html`<section id="view-mine" class="view" aria-labelledby="mine-title">
<div class="view-head">
<h1 id="mine-title" tabindex="-1">Manage Personal Access Tokens</h1>
<button type="button" class="btn primary" id="create-btn">Create new</button>
</div>
<p class="lead">A personal access token lets a script or tool call the API as you, without your password. Treat it like
a password: it is shown once, and you can revoke it at any time.</p>
<div class="toolbar" role="search">
<div class="field inline"><label for="mine-status">Status</label><select id="mine-status">${STATUS_OPTIONS}</select></div>
<div class="field inline"><label for="mine-q">Name contains</label><input id="mine-q" type="search" maxlength="100" autocomplete="off"></div>
<div class="field inline"><label for="mine-size">Per page</label><select id="mine-size"><option>20</option><option>50</option><option>100</option></select></div>
</div>
<div id="mine-list" class="list" aria-live="polite" aria-busy="true"></div>
${pager('mine-pager')}
</section>`;

const serviceAccounts = html`<section id="view-accounts" class="view" aria-labelledby="accounts-title" hidden>
<div class="view-head">
<h1 id="accounts-title" tabindex="-1">Service accounts</h1>
<button type="button" class="btn primary" id="sa-create-btn">New service account</button>
</div>
<p class="lead">Service accounts own tokens for automation that must keep working when people leave. Only admins see them.</p>
<div id="sa-list" class="list" aria-live="polite"></div>
${pager('sa-pager')}
<section id="sa-detail" class="subview" aria-labelledby="sa-detail-title" hidden>
<div class="view-head">
<h2 id="sa-detail-title" tabindex="-1">Tokens</h2>
<button type="button" class="btn primary" id="sa-token-create-btn">Create token</button>
</div>
<p id="sa-detail-meta" class="muted"></p>
<div id="sa-tokens" class="list" aria-live="polite"></div>
${pager('sa-tokens-pager')}
</section>
</section>`;

const inventory = html`<section id="view-inventory" class="view" aria-labelledby="inventory-title" hidden>
<div class="view-head"><h1 id="inventory-title" tabindex="-1">All tokens</h1></div>
<p class="lead">Every token in this deployment, personal and service. Revoke anything that looks wrong.</p>
<div class="toolbar" role="search">
<div class="field inline"><label for="inv-type">Type</label><select id="inv-type"><option value="">All types</option><option value="personal">Personal</option><option value="service">Service</option></select></div>
<div class="field inline"><label for="inv-status">Status</label><select id="inv-status">${STATUS_OPTIONS}</select></div>
<div class="field inline"><label for="inv-q">Name contains</label><input id="inv-q" type="search" maxlength="100" autocomplete="off"></div>
<div class="field inline"><label for="inv-owner">Owner id</label><input id="inv-owner" type="search" maxlength="64" autocomplete="off" spellcheck="false"></div>
</div>
<div id="inv-list" class="list" aria-live="polite"></div>
${pager('inv-pager')}
</section>`;

export function appPage(options: AppPageOptions) {
  const signOut =
    options.source === 'access'
      ? html`<a class="btn subtle" href="/cdn-cgi/access/logout">Sign out</a>`
      : html`<button type="button" class="btn subtle" id="sign-out">Sign out</button>`;
  return layout({
    title: 'Manage Personal Access Tokens',
    meta: { 'csrf-token': options.csrfToken, 'session-source': options.source },
    script: true,
    body: html`<header class="topbar">
<span class="brand">pat-gateway</span>
<nav class="tabs" aria-label="Sections">
<a href="#mine" data-view="mine">My tokens</a>
<a href="#accounts" data-view="accounts" hidden>Service accounts</a>
<a href="#inventory" data-view="inventory" hidden>All tokens</a>
</nav>
<span class="who"><span id="whoami">${options.displayName}</span> ${signOut}</span>
</header>
<p id="banner" class="banner" role="alert" hidden></p>
<main id="main">
${myTokens}
${serviceAccounts}
${inventory}
<noscript><p class="notice">This page needs JavaScript (served by this gateway; nothing from elsewhere).</p></noscript>
</main>
<div id="toast" class="toast" role="status" aria-live="polite"></div>
${dialogs()}`,
  });
}
