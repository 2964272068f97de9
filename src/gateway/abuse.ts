import { ExpiringLru } from '../auth/lru';
import { limiterFor } from '../lib/rate-limit';

// Failed authentications are rate limited per client IP (`cf-connecting-ip`). Every refused token (malformed,
// unknown, revoked, expired, owner inactive) counts; a missing token does not. Deployed, the count is Cloudflare's
// Rate Limiting binding AUTH_FAILURE_LIMITER (wrangler.toml, per location); locally an isolate-memory window with
// the same limits. Once an address is over the limit, this isolate remembers it until the window ends, and its
// requests are verified from the caches only: a token the caches vouch for still works (an office behind one NAT
// keeps working), anything that would need D1 gets 429 with Retry-After, so a flood of made-up tokens costs no
// storage reads. Without a client address (only possible off Cloudflare's edge) nothing is counted.

export const AUTH_FAILURE_LIMIT = { binding: 'AUTH_FAILURE_LIMITER', limit: 60, periodSeconds: 60 };

/** Addresses over the limit → when their block ends (epoch ms). */
const blocked = new ExpiringLru<number>(10_000);

/** When the block on this address ends (epoch ms), or null if it is not blocked. Free when nobody is. */
export function blockedUntil(clientIp: string | null, now: number): number | null {
  if (clientIp === null || blocked.size === 0) return null;
  return blocked.get(clientIp, now) ?? null;
}

/**
 * Counts one failed authentication from this address. Returns when its block ends if the address is now over the
 * limit (and remembers that), or null while it is within it.
 */
export async function countFailure(
  env: Record<string, unknown>,
  clientIp: string | null,
  now: number,
): Promise<number | null> {
  if (clientIp === null) return null;
  const { binding, limit, periodSeconds } = AUTH_FAILURE_LIMIT;
  let allowed: boolean;
  try {
    allowed = await limiterFor(env, binding, limit, periodSeconds).allow(`auth:${clientIp}`, now);
  } catch (error) {
    // The counter is a shield, not the lock: when it fails, the request still gets its plain 401.
    console.error(JSON.stringify({ event: 'rate_limit_failed', error: String(error) }));
    return null;
  }
  if (allowed) return null;
  const until = now + periodSeconds * 1000;
  blocked.set(clientIp, until, until);
  return until;
}
