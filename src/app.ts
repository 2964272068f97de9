import { OpenAPIHono } from '@hono/zod-openapi';
import { type DrizzleD1Database, drizzle } from 'drizzle-orm/d1';
import type { MiddlewareHandler } from 'hono';
import { managementApi } from './api';
import { withCommonErrors } from './api/schemas';
import { ConfigError, getConfig } from './config';
import type { AppEnv } from './env';
import { AppError } from './errors';
import { matchRoute, requestUrl } from './gateway/forward';
import { publicJwks } from './gateway/identity';
import { introspect } from './gateway/introspect';
import { proxyRequest } from './gateway/proxy';
import { refuseCrossSite } from './http/cross-site';
import { onError, validationHook } from './http/problem';
import { requestId } from './http/request-id';
import { securityHeaders } from './http/security-headers';
import { scimRoutes } from './scim/routes';
import { uiRoutes } from './ui';
import { DOCS_CSS, docsPage } from './ui/docs-page';

const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'pat-gateway management API',
    version: '1',
    description:
      'Create, list, edit, revoke, restore, rotate and delete personal access tokens. Errors are RFC 9457 problem+json with a stable `code`.',
  },
  servers: [{ url: '/' }],
  security: [{ bearer: [] }],
};

/** Parses the configuration once per isolate and fails closed: a broken config answers 500 to everything. */
const withConfig: MiddlewareHandler<AppEnv> = async function withConfig(c, next) {
  try {
    c.set('config', getConfig(c.env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(JSON.stringify({ event: 'configuration_error', problems: error.problems }));
    throw new AppError(500, 'configuration_error', 'Gateway misconfigured', {
      detail: 'The gateway configuration is invalid; the operator can see why in the logs.',
    });
  }
  c.set('db', database(c.env.DB));
  await next();
};

/** One drizzle instance per D1 binding (it holds no per-request state), instead of one per request. */
const databases = new WeakMap<D1Database, DrizzleD1Database>();
function database(binding: D1Database): DrizzleD1Database {
  let db = databases.get(binding);
  if (!db) {
    db = drizzle(binding);
    databases.set(binding, db);
  }
  return db;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export function createApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('*', requestId);
  app.use('*', securityHeaders);
  app.use('*', withConfig);
  app.use('/api/*', refuseCrossSite);
  app.use('/scim/*', refuseCrossSite);

  app.route('/api/v1', managementApi());
  app.route('/scim/v2', scimRoutes());
  let document: ReturnType<typeof app.getOpenAPI31Document> | undefined;
  const openApi = () => {
    document ??= withCommonErrors(app.getOpenAPI31Document(OPENAPI_INFO));
    return document;
  };
  app.get('/openapi.json', (c) => c.json(openApi()));
  app.get('/docs', (c) => c.html(docsPage(openApi())));
  app.get('/docs/style.css', (c) => c.body(DOCS_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' }));
  app.get('/.well-known/jwks.json', async (c) =>
    c.json(await publicJwks(c.get('config')), 200, { 'Cache-Control': 'public, max-age=300' }),
  );
  app.post('/oauth/introspect', introspect);
  app.route('/ui', uiRoutes({ dispatch: (request, env, ctx) => app.fetch(request, env, ctx) }));
  app.get('/healthz', (c) => c.json({ ok: true }));

  // A path the API has, asked with a method it does not: 405 with Allow (RFC 9110 §15.5.6) rather than a 404 that
  // would say the path does not exist. Unknown paths go on to the proxy's 404 like any unreserved path.
  let operations: { pattern: RegExp; allow: string; templated: boolean }[] | undefined;
  app.all('/api/v1/*', (c) => {
    operations ??= Object.entries(openApi().paths ?? {})
      .map(([path, item]) => {
        const listed = Object.keys(item ?? {}).map((m) => m.toUpperCase());
        if (listed.includes('GET')) listed.push('HEAD');
        const methods = METHODS.filter((m) => listed.includes(m));
        const pattern = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
        return {
          pattern: new RegExp(`^${pattern}$`),
          allow: methods.join(', '),
          templated: path.includes('{'),
        };
      })
      // Built and sorted once: `/tokens/self` before `/tokens/{id}`, which its pattern also matches.
      .sort((a, b) => Number(a.templated) - Number(b.templated));
    const known = operations.find((operation) => operation.pattern.test(c.req.path));
    if (!known) return proxyRequest(c);
    throw new AppError(405, 'method_not_allowed', 'Method not allowed', {
      detail: `${c.req.method} is not an operation of this path; it allows ${known.allow}.`,
      headers: { Allow: known.allow },
    });
  });

  // Everything else is for the proxy. The gateway's own paths above are registered first and reserved in
  // ROUTES validation, so they are never proxied.
  app.all('*', (c) => {
    if (c.req.path === '/' && !matchRoute(c.get('config').routes, requestUrl(c.req.url)))
      return c.redirect('/ui');
    return proxyRequest(c);
  });

  app.onError(onError);
  return app;
}
