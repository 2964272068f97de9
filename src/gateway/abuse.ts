import { ExpiringLru } from '../auth/lru';
import { type VerifyDeps, type VerifyResult, verifyPat } from '../auth/verify-pat';
import { AppError } from '../errors';
import { limiterFor } from '../lib/rate-limit';

// Failed authentications with a PAT are rate limited per client (`cf-connecting-ip`; an IPv6 client by its /64,
// since one subscriber holds at least that many addresses), on the gateway and on the management API alike. Every
// refused token (malformed, unknown, revoked, expired, owner inactive) counts; a missing token does not. Deployed,
// the count is Cloudflare's Rate Limiting binding AUTH_FAILURE_LIMITER (wrangler.toml, per location); locally an
// isolate-memory window with the same limits. Once a client is over the limit, this isolate remembers it until the
// window ends, and its tokens are verified from the caches only (isolate memory, then KV): a token the caches vouch
// for still works (an office behind one NAT keeps working), anything that would need D1 gets 429 with Retry-After,
// so a flood of made-up tokens costs no D1 read (a KV read each, at most). Without a client address (only possible
// off Cloudflare's edge) nothing is counted.

export const AUTH_FAILURE_LIMIT = { binding: 'AUTH_FAILURE_LIMITER', limit: 60, periodSeconds: 60 };

/** Clients over the limit → when their block ends (epoch ms). */
const blocked = new ExpiringLru<number>(10_000);

/** The rate-limiting key of a client address: IPv4 as is, IPv6 by its /64. */
export function clientKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.split('::', 2);
  const front = head ? head.split(':') : [];
  const back = tail === undefined ? [] : tail ? tail.split(':') : [];
  // `::` stands for at least one zero group, so more than seven around it is not IPv6 (and no array to fill).
  if (tail !== undefined && front.length + back.length > 7) return ip;
  const groups =
    tail === undefined ? front : [...front, ...Array(8 - front.length - back.length).fill('0'), ...back];
  const prefix = groups.slice(0, 4).map((group) => Number.parseInt(group, 16));
  // Anything that does not parse as IPv6 (it cannot come from the edge) is its own key.
  if (prefix.length < 4 || prefix.some((n) => !Number.isInteger(n) || n < 0 || n > 0xffff)) return ip;
  return `${prefix.map((n) => n.toString(16)).join(':')}::/64`;
}

/** When the block on this client ends (epoch ms), or null if it is not blocked. Free when nobody is. */
function blockedUntil(key: string | null, now: number): number | null {
  if (key === null || blocked.size === 0) return null;
  return blocked.get(key, now) ?? null;
}

/** Counts one failed authentication. Returns when the client's block ends if it is now over the limit, or null. */
async function countFailure(env: Record<string, unknown>, key: string, now: number): Promise<number | null> {
  const { binding, limit, periodSeconds } = AUTH_FAILURE_LIMIT;
  let allowed: boolean;
  try {
    allowed = await limiterFor(env, binding, limit, periodSeconds).allow(`auth:${key}`, now);
  } catch (error) {
    // The counter is a shield, not the lock: when it fails, the request still gets its plain 401.
    console.error(JSON.stringify({ event: 'rate_limit_failed', error: String(error) }));
    return null;
  }
  if (allowed) return null;
  const until = now + periodSeconds * 1000;
  blocked.set(key, until, until);
  return until;
}

export interface GuardedResult {
  result: VerifyResult;
  /** Set when the client is over its limit: the request gets 429 (see `tooManyFailures`), not 401. */
  blockedUntil: number | null;
}

/** `verifyPat` under the failed-authentication limit of the client at `clientIp`. */
export async function verifyPatGuarded(
  token: string,
  deps: Omit<VerifyDeps, 'cacheOnly'>,
  env: Record<string, unknown>,
  clientIp: string | null,
): Promise<GuardedResult> {
  const key = clientIp === null ? null : clientKey(clientIp);
  const block = blockedUntil(key, deps.now);
  const result = await verifyPat(token, block === null ? deps : { ...deps, cacheOnly: true });
  if (result.ok || key === null) return { result, blockedUntil: null };
  return { result, blockedUntil: block ?? (await countFailure(env, key, deps.now)) };
}

export function tooManyFailures(until: number, now: number): AppError {
  return new AppError(429, 'rate_limited', 'Too many failed authentications', {
    detail: 'Too many requests with invalid access tokens came from this address; try again later.',
    headers: { 'Retry-After': String(Math.max(1, Math.ceil((until - now) / 1000))) },
  });
}
