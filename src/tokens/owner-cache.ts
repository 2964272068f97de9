import { and, eq, isNull } from 'drizzle-orm';
import type { Principal } from '../auth/principals';
import { dropTokenState, holdUnpublished, publishTokenState } from '../auth/token-cache';
import { tokens } from '../db/schema';
import { enqueue, resyncLater, type SyncBudget, type SyncDeps, type SyncItem, spend } from './kv-sync';
import { admitsRequests, tokenStateFrom } from './state';

// Cached token records carry the owner's role and active flag. When either changes, every live token of the
// owner is re-published (a denial written, a positive record dropped, in KV and isolate memory), so the change
// applies within the documented bound. As for token changes, a moment later KV is brought in line with what D1 says
// then (`resyncMany`): that repairs a verification in another isolate that read D1 just before the change and
// refilled KV just after it. An owner with more tokens than this invocation's KV budget covers gets the rest
// published by the minute cron (kv_outbox).

interface OwnerCacheDeps extends SyncDeps {
  now: number;
  /** When given, the delayed resync is scheduled with it. */
  waitUntil?: (promise: Promise<unknown>) => void;
  budget?: SyncBudget;
}

async function publishAll(deps: OwnerCacheDeps, owner: Principal): Promise<number> {
  const rows = await deps.db
    .select()
    .from(tokens)
    .where(and(eq(tokens.ownerId, owner.id), isNull(tokens.revokedAt)))
    .all();
  const states = rows.map((row) => ({
    item: { id: row.id, hash: row.secretHash },
    state: tokenStateFrom({
      ...row,
      ownerSubject: owner.subject,
      ownerRole: owner.role,
      ownerActive: owner.active,
    }),
  }));
  // Two KV operations a token: the write or delete now, and the resync's.
  const fits = spend(deps.budget, states.length, 2);
  const later = states.slice(fits);
  for (const { item, state } of later) holdUnpublished(deps, item.hash, state);
  const refused: SyncItem[] = [];
  // A handful of KV writes at a time keeps within the Worker's 6 simultaneous connections.
  for (let i = 0; i < fits; i += 6) {
    await Promise.all(
      states.slice(i, Math.min(i + 6, fits)).map(({ item, state }) => {
        // A denial (the owner was deactivated) is written; a positive record is dropped instead, so the next
        // request reads D1: written from this snapshot, it could land after a revocation of that token made
        // meanwhile and cover it (the rows are read once, and an owner may have hundreds of tokens).
        const write = admitsRequests(state, deps.now)
          ? dropTokenState(deps, item.hash)
          : publishTokenState(deps, item.hash, state);
        return write.catch((error: unknown) => {
          // D1 holds the truth already and this isolate decides on the new state; the resync and the cron retry.
          console.error(
            JSON.stringify({ event: 'kv_publish_failed', token_id: item.id, error: String(error) }),
          );
          refused.push(item);
        });
      }),
    );
  }
  if (later.length > 0) console.log(JSON.stringify({ event: 'kv_publish_deferred', tokens: later.length }));
  await enqueue(deps.db, [...refused, ...later.map(({ item }) => item)], deps.now).catch((error: unknown) =>
    console.error(JSON.stringify({ event: 'kv_outbox_failed', owner_id: owner.id, error: String(error) })),
  );
  resyncLater(
    deps,
    states.slice(0, fits).map(({ item }) => item),
  );
  return rows.length;
}

export async function republishOwnerTokens(deps: OwnerCacheDeps, owner: Principal): Promise<number> {
  return publishAll(deps, owner);
}
