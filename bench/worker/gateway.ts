// The gateway as the benchmark runs it: the production Worker (src/index.ts) unchanged as the default export,
// plus a `BenchControl` entrypoint that the harness reaches on a socket of its own. It exists only in this bench
// build (never in wrangler.toml's `main`) and answers only when BENCH_STATS is "true", so the proxied path carries
// no extra code at all.
import { WorkerEntrypoint } from 'cloudflare:workers';
import { isolateCache } from '../../src/auth/token-cache';
import { verifyStats } from '../../src/auth/verify-pat';
import { getConfig } from '../../src/config';
import type { Env } from '../../src/env';
import worker from '../../src/index';
import { fillCache } from './fill';
import { runMicro } from './micro';

export default worker;

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
