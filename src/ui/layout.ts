import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { ASSET_VERSION } from './assets';

// The document frame every UI page shares. Nothing inline (the CSP allows only 'self' scripts and styles) and
// nothing from another origin: the stylesheet and the script are served by this Worker under /ui.

export type Markup = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface LayoutOptions {
  title: string;
  /** `<meta>` values the script reads (it cannot be given data inline). */
  meta?: Record<string, string>;
  script?: boolean;
  body: Markup;
}

export function layout(options: LayoutOptions) {
  const meta = Object.entries(options.meta ?? {});
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
${meta.map(([name, content]) => html`<meta name="${name}" content="${content}">\n`)}<title>${options.title}</title>
<link rel="stylesheet" href="/ui/app.css?v=${ASSET_VERSION}">
${options.script ? html`<script src="/ui/app.js?v=${ASSET_VERSION}" defer></script>` : ''}
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
${options.body}
</body>
</html>`;
}
