import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { ADMIN_JS } from './client/admin';
import { CORE_JS } from './client/core';
import { LISTS_JS } from './client/lists';
import { MAIN_JS } from './client/main';
import { MY_TOKENS_JS } from './client/my-tokens';
import { TOKEN_FORM_JS } from './client/token-form';
import { APP_CSS } from './styles';

// The UI's two static assets, served by the Worker itself (nothing from a CDN; the CSP allows only 'self').
// Pages link them with ?v=<content hash>, so a deploy changes the URL and browsers may cache each version forever.

export const APP_JS = `'use strict';\n(() => {${[CORE_JS, LISTS_JS, TOKEN_FORM_JS, MY_TOKENS_JS, ADMIN_JS, MAIN_JS].join('')}})();\n`;

/** FNV-1a, 32 bits: a content fingerprint for cache busting, not security (and synchronous, unlike SubtleCrypto). */
function fingerprint(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36);
}

export const ASSET_VERSION = fingerprint(APP_JS + APP_CSS);
const ETAG = `"${ASSET_VERSION}"`;

const TYPES = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
} as const;

export function serveAsset(c: Context<AppEnv>, kind: keyof typeof TYPES): Response {
  const immutable = c.req.query('v') === ASSET_VERSION;
  const headers = {
    'Content-Type': TYPES[kind],
    ETag: ETAG,
    'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
  if (c.req.header('If-None-Match') === ETAG) return c.body(null, 304, headers);
  return c.body(kind === 'js' ? APP_JS : APP_CSS, 200, headers);
}
