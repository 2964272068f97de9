import { and, eq, isNull } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { Principal } from '../auth/principals';
import { publishTokenState } from '../auth/token-cache';
import type { Config } from '../config';
import { tokens } from '../db/schema';
import { tokenStateFrom } from './state';

// Cached token records carry the owner's role and active flag. When either changes, every live token of the
// owner is re-published (KV overwrite + isolate eviction), so the change applies within the documented bound.

export async function republishOwnerTokens(
  deps: { db: DrizzleD1Database; kv: KVNamespace; config: Config; now: number },
  owner: Principal,
): Promise<number> {
  const rows = await deps.db
    .select()
    .from(tokens)
    .where(and(eq(tokens.ownerId, owner.id), isNull(tokens.revokedAt)))
    .all();
  // A handful of KV writes at a time keeps within the Worker's 6 simultaneous connections.
  for (let i = 0; i < rows.length; i += 6) {
    await Promise.all(
      rows.slice(i, i + 6).map((row) =>
        publishTokenState(
          deps,
          row.secretHash,
          tokenStateFrom({
            ...row,
            ownerSubject: owner.subject,
            ownerRole: owner.role,
            ownerActive: owner.active,
          }),
        ),
      ),
    );
  }
  return rows.length;
}
