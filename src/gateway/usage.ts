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

export function recordUsage(
  db: DrizzleD1Database,
  tokenId: string,
  ip: string | null,
  now: number,
): Promise<unknown> {
  return db
    .update(tokens)
    .set({ lastUsedAt: now, lastUsedIp: ip })
    .where(eq(tokens.id, tokenId))
    .run()
    .catch((error: unknown) =>
      console.error(
        JSON.stringify({ event: 'last_used_write_failed', token_id: tokenId, error: String(error) }),
      ),
    );
}
