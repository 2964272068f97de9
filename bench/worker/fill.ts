// Fills the isolate's per-token state the way proxied requests do, for `n` distinct freshly generated tokens:
// verifyPat (a stub KV answers a new active record for each, as a real KV read would parse one, so every token
// leaves a positive entry, the largest kind), then the identity headers (an ES256 JWT signed per token and route)
// and the last-used throttle. D1 is never reached: this is how the memory bound is checked at 100,000 distinct
// tokens without waiting on the local D1 simulator for each of them.
import { isolateCache } from '../../src/auth/token-cache';
import { verifyPat } from '../../src/auth/verify-pat';
import type { Config } from '../../src/config';
import { identity } from '../../src/gateway/identity';
import { due } from '../../src/gateway/usage';
import { generateToken } from '../../src/tokens/format';
import type { TokenState } from '../../src/tokens/state';
import { activeRecord } from '../lib/records';

let serial = 0;

export async function fillCache(n: number, config: Config) {
  const now = Date.now();
  const kv = {
    get: async (): Promise<TokenState> => activeRecord(`fill${String(++serial).padStart(12, '0')}`, now),
  } as unknown as KVNamespace;
  const deps = { config, db: null as never, kv, now, waitUntil: () => {} };
  const route = config.routes[0];
  if (!route) throw new Error('the bench config has no route');
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const result = await verifyPat(generateToken(config.tokenPrefix), deps);
    if (!result.ok) continue;
    ok++;
    await identity(config, result.state, route, result.scopes, now);
    due(`u:${result.state.id}`, now, config.lastUsedIntervalMs);
  }
  return { verified: ok, cacheEntries: isolateCache(config).size };
}
