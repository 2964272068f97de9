import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { budgetOf } from '../tokens/kv-sync';
import type { ServiceDeps } from '../tokens/service';

/** Per-request services for the token lifecycle. */
export function serviceDeps(c: Context<AppEnv>): ServiceDeps {
  return {
    db: c.get('db'),
    kv: c.env.TOKEN_CACHE,
    config: c.get('config'),
    now: Date.now(),
    ctx: c.get('audit'),
    waitUntil: (promise) => c.executionCtx.waitUntil(promise),
    budget: budgetOf(c.executionCtx),
  };
}

/** Management responses are never cached anywhere (they may carry a secret, and always carry account data). */
export const NO_STORE = { 'Cache-Control': 'no-store' } as const;
