import { and, eq, isNull } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import { type Principal, toPrincipal } from '../auth/principals';
import { dropTokenState, publishTokenState } from '../auth/token-cache';
import type { Config } from '../config';
import { principals, tokens } from '../db/schema';
import { admitsRequests, tokenStateFrom } from './state';

// Cached token records carry the owner's role and active flag. When either changes, every live token of the
// owner is re-published (a denial written, a positive record dropped, in KV and isolate memory), so the change
// applies within the documented bound.
// As for token changes, the records are written again a moment later from what D1 says then: that repairs a
// verification in another isolate that read D1 just before the change and refilled KV just after it.

const RESYNC_DELAY_MS = 1_500;

interface OwnerCacheDeps {
  db: DrizzleD1Database;
  kv: KVNamespace;
  config: Config;
  now: number;
  /** When given, the delayed resync is scheduled with it. */
  waitUntil?: (promise: Promise<unknown>) => void;
}

async function publishAll(deps: OwnerCacheDeps, owner: Principal): Promise<number> {
  const rows = await deps.db
    .select()
    .from(tokens)
    .where(and(eq(tokens.ownerId, owner.id), isNull(tokens.revokedAt)))
    .all();
  // A handful of KV writes at a time keeps within the Worker's 6 simultaneous connections.
  for (let i = 0; i < rows.length; i += 6) {
    await Promise.all(
      rows.slice(i, i + 6).map((row) => {
        const state = tokenStateFrom({
          ...row,
          ownerSubject: owner.subject,
          ownerRole: owner.role,
          ownerActive: owner.active,
        });
        // A denial (the owner was deactivated) is written; a positive record is dropped instead, so the next
        // request reads D1: written from this snapshot, it could land after a revocation of that token made
        // meanwhile and cover it (the rows are read once, and an owner may have hundreds of tokens).
        const write = admitsRequests(state, deps.now)
          ? dropTokenState(deps, row.secretHash)
          : publishTokenState(deps, row.secretHash, state);
        return write.catch((error: unknown) =>
          // D1 holds the truth already and this isolate decides on the new state; the resync below retries KV.
          console.error(
            JSON.stringify({ event: 'kv_publish_failed', token_id: row.id, error: String(error) }),
          ),
        );
      }),
    );
  }
  return rows.length;
}

export async function republishOwnerTokens(deps: OwnerCacheDeps, owner: Principal): Promise<number> {
  const count = await publishAll(deps, owner);
  deps.waitUntil?.(
    new Promise((resolve) => setTimeout(resolve, RESYNC_DELAY_MS))
      .then(async () => {
        const row = await deps.db.select().from(principals).where(eq(principals.id, owner.id)).get();
        if (row) await publishAll({ ...deps, now: Date.now() }, toPrincipal(row));
      })
      .catch((error: unknown) =>
        console.error(
          JSON.stringify({ event: 'owner_resync_failed', owner_id: owner.id, error: String(error) }),
        ),
      ),
  );
  return count;
}
