import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env';
import { forbidden } from '../errors';

// Management endpoints refuse cross-site requests from browsers. No CORS headers are ever sent, so other sites
// cannot read answers; this also stops them from *sending* state-changing requests (form posts, fetch with
// credentials), whatever the credential. Non-browser clients send neither header and are unaffected.

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export const refuseCrossSite: MiddlewareHandler<AppEnv> = async function refuseCrossSite(c, next) {
  if (!SAFE.has(c.req.method)) {
    const site = c.req.header('sec-fetch-site');
    const origin = c.req.header('origin');
    const self = new URL(c.req.url).origin;
    if (
      site === 'cross-site' ||
      site === 'same-site' ||
      (origin && origin !== 'null' && origin !== self) ||
      origin === 'null'
    ) {
      throw forbidden('cross_site_request', 'Cross-site requests to the management API are refused.');
    }
  }
  await next();
};
