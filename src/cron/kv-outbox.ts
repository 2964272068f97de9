import { drizzle } from 'drizzle-orm/d1';
import { getConfig } from '../config';
import type { Env } from '../env';
import { drainKvOutbox } from '../tokens/kv-sync';

/** The minute job (wrangler.toml [triggers], KV_SYNC_CRON): KV records that changes left behind (kv-sync.ts). */
export function runKvSync(env: Env, now: number) {
  return drainKvOutbox({ db: drizzle(env.DB), kv: env.TOKEN_CACHE, config: getConfig(env) }, now);
}
