import { OpenAPIHono } from '@hono/zod-openapi';
import { drizzle } from 'drizzle-orm/d1';
import type { MiddlewareHandler } from 'hono';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { managementApi } from './api';
import { ConfigError, getConfig } from './config';
import type { AppEnv } from './env';
import { AppError } from './errors';
import { onError, validationHook } from './http/problem';
import { docsPage } from './ui/docs-page';

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
  c.set('db', drizzle(c.env.DB));
  await next();
};

export function createApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('*', requestId({ headerName: 'X-Request-Id' }));
  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        styleSrc: ["'self'"],
        scriptSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
      referrerPolicy: 'no-referrer',
      crossOriginResourcePolicy: 'same-origin',
    }),
  );
  app.use('*', withConfig);

  app.route('/api/v1', managementApi());
  app.doc31('/openapi.json', OPENAPI_INFO);
  app.get('/docs', (c) => c.html(docsPage(app.getOpenAPI31Document(OPENAPI_INFO))));
  app.get('/', (c) => c.redirect('/docs'));

  app.notFound(() => {
    throw new AppError(404, 'not_found', 'Not found', { detail: 'No route matches this path.' });
  });
  app.onError(onError);
  return app;
}
