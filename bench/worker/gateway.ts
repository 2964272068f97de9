// The gateway as the benchmark runs it: the production Worker (src/index.ts) unchanged as the default export,
// plus a `BenchControl` entrypoint that the harness reaches on a socket of its own. It exists only in this bench
// build (never in wrangler.toml's `main`) and answers only when BENCH_STATS is "true", so the proxied path carries
// no extra code at all.
import { WorkerEntrypoint } from 'cloudflare:workers';
import { type DrizzleD1Database, drizzle } from 'drizzle-orm/d1';
import { isolateCache } from '../../src/auth/token-cache';
import { verifyStats } from '../../src/auth/verify-pat';
import { getConfig } from '../../src/config';
import type { Env } from '../../src/env';
import { AppError } from '../../src/errors';
import { matchRoute, requestUrl } from '../../src/gateway/forward';
import { proxy } from '../../src/gateway/proxy';
import worker from '../../src/index';
import { fillCache } from './fill';
import { runMicro } from './micro';

export default worker;

/**
 * A PROPOSAL, measured but not shipped: proxied requests skip the Hono app (router, Context, middleware) and go
 * straight to `proxy`; everything else, and every failure, is left to the app as today. Production would render
 * failures itself instead of handing the request to the app again (which only works for bodiless requests).
 */
export class FastPath extends WorkerEntrypoint<Env> {
  override async fetch(request: Request): Promise<Response> {
    const config = getConfig(this.env);
    const url = requestUrl(request.url);
    if (url.pathname !== '/' && matchRoute(config.routes, url)) {
      const env = this.env;
      const ctx = this.ctx;
      const requestId = crypto.randomUUID();
      let db: DrizzleD1Database | undefined;
      try {
        const response = await proxy(request, {
          config,
          env,
          get db() {
            db ??= drizzle(env.DB);
            return db;
          },
          requestId,
          waitUntil: (promise) => ctx.waitUntil(promise),
        });
        response.headers.set('X-Request-Id', requestId);
        return response;
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
      }
    }
    return worker.fetch(request as Parameters<typeof worker.fetch>[0], this.env, this.ctx);
  }
}

const json = (value: unknown, status = 200) => Response.json(value, { status });

export class BenchControl extends WorkerEntrypoint<Env> {
  override async fetch(request: Request): Promise<Response> {
    if (this.env.BENCH_STATS !== 'true') return json({ error: 'BENCH_STATS is off' }, 404);
    const url = new URL(request.url);
    const config = getConfig(this.env);
    switch (url.pathname) {
      // Storage reads made by verification so far, and what the isolate cache holds.
      case '/stats':
        return json({
          ...verifyStats,
          cacheEntries: isolateCache(config).size,
          cacheMax: config.cache.maxEntries,
        });
      case '/micro':
        return json(await runMicro(url.searchParams, config));
      case '/fill':
        return json(await fillCache(Number(url.searchParams.get('n') ?? '0'), config));
      default:
        return json({ error: 'unknown bench path' }, 404);
    }
  }
}
