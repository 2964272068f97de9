import { eq } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import { tokens } from '../db/schema';

// last_used_at and the last IP are written at most once per token per interval per isolate, always in
// waitUntil, never on the request path. Failed-authentication audit events for known tokens are throttled alike.

const lastWritten = new Map<string, number>();
const MAX_TRACKED = 50_000;

/** True (and remembers `now`) when `key` has not been recorded within `intervalMs`. */
export function due(key: string, now: number, intervalMs: number): boolean {
  const last = lastWritten.get(key);
  if (last !== undefined && now - last < intervalMs) return false;
  if (lastWritten.size >= MAX_TRACKED) lastWritten.clear();
  lastWritten.set(key, now);
  return true;
}

/**
 * Records a use of a token that authenticated a request: through the proxy, on the management API, or in an
 * introspection (the resource server's call). `ip` is the client's address; undefined leaves the last one as it is
 * (an introspection knows only the resource server's). Every use counts, or the daily job would revoke a token
 * used every day for inactivity.
 */
export function noteUse(
  deps: { db: DrizzleD1Database; waitUntil: (promise: Promise<unknown>) => void },
  intervalMs: number,
  tokenId: string,
  ip: string | null | undefined,
  now: number,
): void {
  if (due(`u:${tokenId}`, now, intervalMs)) deps.waitUntil(recordUsage(deps.db, tokenId, ip, now));
}

function recordUsage(
  db: DrizzleD1Database,
  tokenId: string,
  ip: string | null | undefined,
  now: number,
): Promise<unknown> {
  return db
    .update(tokens)
    .set(ip === undefined ? { lastUsedAt: now } : { lastUsedAt: now, lastUsedIp: ip })
    .where(eq(tokens.id, tokenId))
    .run()
    .catch((error: unknown) =>
      console.error(
        JSON.stringify({ event: 'last_used_write_failed', token_id: tokenId, error: String(error) }),
      ),
    );
}
