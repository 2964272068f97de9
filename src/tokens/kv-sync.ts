import { and, asc, inArray, lt, lte, type SQL, sql } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import { dropStaleRecords, publishTokenState } from '../auth/token-cache';
import type { Config } from '../config';
import { kvOutbox, tokens } from '../db/schema';
import { findTokenStatesByIds } from './repository';
import { admitsRequests, tokenStateFrom } from './state';

// Bringing KV in line with D1 after changes, in bulk and within what one invocation may do.
//
// Workers allow 1,000 KV operations per invocation (https://developers.cloudflare.com/kv/platform/limits/), and D1
// 1,000 queries on paid plans. A revocation costs two KV writes (the tombstone, and the same again 1.5 s later),
// so a change to hundreds of tokens at once (a bulk revoke, a leak report, a user deactivated or deleted, the
// inactivity job) would run out part way, and the tokens past that point would keep their KV record: a positive
// one lives up to KV_RECORD_TTL_SECONDS (a day by default). So:
//   - a bulk change writes its tokens to `kv_outbox` in the same D1 batch as the change (it cannot be lost);
//   - it publishes as many as this invocation's budget allows, and the resync that follows removes their rows;
//   - the minute cron (KV_SYNC_CRON) settles what is left: the rest of a large change, and any write KV refused.

/** wrangler.toml [triggers]: every minute, settle what is left in kv_outbox. */
export const KV_SYNC_CRON = '* * * * *';

/**
 * KV operations one invocation spends on publishing changes: KV's 1,000 less room for the request's own reads,
 * the resyncs' bulk reads and whatever else it does.
 */
export const KV_OPS_PER_INVOCATION = 800;

/** KV allows one write per second per key; the follow-up write waits longer than that. */
const RESYNC_DELAY_MS = 1_500;

/** The minute cron leaves a row younger than this to the resync of the change that wrote it. */
const DRAIN_AFTER_MS = 5_000;

/**
 * Rows the minute cron settles per run: a write each at most (two for a token moved to a new pepper meanwhile),
 * plus D1 reads 90 at a time and KV reads 100 at a time.
 */
const DRAIN_BATCH = 400;

/** What is left of an invocation's KV operations for publishing changes. */
export interface SyncBudget {
  left: number;
}

const budgets = new WeakMap<object, SyncBudget>();

export function newBudget(): SyncBudget {
  return { left: KV_OPS_PER_INVOCATION };
}

/** The budget of the invocation `owner` stands for (its ExecutionContext): shared by every change it makes. */
export function budgetOf(owner: object): SyncBudget {
  let budget = budgets.get(owner);
  if (!budget) {
    budget = newBudget();
    budgets.set(owner, budget);
  }
  return budget;
}

/** How many of `count` items, at `cost` KV operations each, this invocation may still publish; spends them. */
export function spend(budget: SyncBudget | undefined, count: number, cost: number): number {
  const fits = Math.max(0, Math.min(count, Math.floor((budget?.left ?? KV_OPS_PER_INVOCATION) / cost)));
  if (budget) budget.left -= fits * cost;
  return fits;
}

export interface SyncDeps {
  db: DrizzleD1Database;
  kv: KVNamespace;
  config: Config;
}

/** A token whose KV record must match D1: its id, and the hash its record was published under. */
export interface SyncItem {
  id: string;
  hash: string;
}

/** A token recorded again: the later change and the hash it was made under. */
const newerChange = { hash: sql`excluded.hash`, since: sql`max(${kvOutbox.since}, excluded.since)` };

/**
 * The statement that records the tokens matching `where` in kv_outbox, for the D1 batch that changes them. Put it
 * before the change in the batch when `where` selects what the change is about to change.
 */
export function outboxInsert(db: DrizzleD1Database, where: SQL | undefined, now: number) {
  return db
    .insert(kvOutbox)
    .select(sql`select ${tokens.id}, ${tokens.secretHash}, ${now} from ${tokens} where ${where ?? sql`1`}`)
    .onConflictDoUpdate({ target: kvOutbox.tokenId, set: newerChange });
}

/** Records `items` in kv_outbox (KV refused them, or they did not fit this invocation), to be settled later. */
export async function enqueue(db: DrizzleD1Database, items: SyncItem[], now: number): Promise<void> {
  // Three parameters a row, at most 100 per statement.
  for (let i = 0; i < items.length; i += 30) {
    await db
      .insert(kvOutbox)
      .values(items.slice(i, i + 30).map(({ id, hash }) => ({ tokenId: id, hash, since: now })))
      .onConflictDoUpdate({ target: kvOutbox.tokenId, set: newerChange });
  }
}

/**
 * Brings the KV records of `items` in line with what D1 says now, which is what a resync after a change does: a
 * revoked or deleted token gets its tombstone, and a live one that refuses requests (its owner deactivated) its
 * denial, written again whatever KV shows (a read here may not see a positive another location wrote); for a live
 * one that admits, a record that differs from D1 is dropped, never written (a positive written late could cover a
 * revocation made meanwhile). Both hashes when a verification moved the row to
 * a new pepper. D1 is read 90 tokens at a time and KV 100 at a time; only tombstones and denials cost a write each.
 *
 * Then the rows in kv_outbox that this settles are removed: those recorded before D1 was read. What KV refused is
 * recorded there instead, for the minute cron. Resolves with the number of tokens KV refused.
 */
export async function resyncMany(deps: SyncDeps, items: SyncItem[]): Promise<number> {
  let refused = 0;
  for (let i = 0; i < items.length; i += 90) {
    const chunk = items.slice(i, i + 90);
    const readAt = Date.now();
    const rows = new Map(
      (
        await findTokenStatesByIds(
          deps.db,
          chunk.map((item) => item.id),
        )
      ).map((row) => [row.id, row]),
    );
    const cache = { ...deps, now: readAt };
    const stale: { hash: string; fresh: string; id: string }[] = [];
    const writes: Promise<void>[] = [];
    const failed = new Set<string>();
    for (const { id, hash } of chunk) {
      const row = rows.get(id);
      const hashes = row && row.secretHash !== hash ? [hash, row.secretHash] : [hash];
      const state = row && row.revokedAt === null ? tokenStateFrom(row) : undefined;
      if (state && admitsRequests(state, readAt)) {
        const fresh = JSON.stringify(state);
        for (const h of hashes) stale.push({ hash: h, fresh, id });
      } else if (state) {
        // A live token that refuses (its owner deactivated): the denial is written again, as a tombstone is.
        for (const h of hashes)
          writes.push(publishTokenState(cache, h, state).catch(() => void failed.add(id)));
      } else {
        const gone = { tombstone: row ? ('revoked' as const) : ('deleted' as const), id };
        for (const h of hashes)
          writes.push(publishTokenState(cache, h, gone).catch(() => void failed.add(id)));
      }
    }
    const [refusedDrops] = await Promise.all([dropStaleRecords(cache, stale), Promise.all(writes)]);
    for (const { hash, id } of stale) if (refusedDrops.has(hash)) failed.add(id);
    const settled = chunk.filter((item) => !failed.has(item.id)).map((item) => item.id);
    if (settled.length > 0) {
      await deps.db
        .delete(kvOutbox)
        .where(and(inArray(kvOutbox.tokenId, settled), lte(kvOutbox.since, readAt)));
    }
    if (failed.size > 0) {
      refused += failed.size;
      await enqueue(
        deps.db,
        chunk.filter((item) => failed.has(item.id)),
        readAt,
      );
    }
  }
  return refused;
}

/** Schedules `resyncMany` for `items` RESYNC_DELAY_MS from now, within the invocation (waitUntil). */
export function resyncLater(
  deps: SyncDeps & { waitUntil?: (promise: Promise<unknown>) => void },
  items: SyncItem[],
): void {
  if (items.length === 0) return;
  deps.waitUntil?.(
    new Promise((resolve) => setTimeout(resolve, RESYNC_DELAY_MS))
      .then(() => resyncMany(deps, items))
      .then((refused) => {
        if (refused > 0) console.error(JSON.stringify({ event: 'kv_resync_refused', tokens: refused }));
      })
      .catch((error: unknown) =>
        console.error(
          JSON.stringify({ event: 'kv_resync_failed', tokens: items.length, error: String(error) }),
        ),
      ),
  );
}

/**
 * The minute cron: settles the oldest rows of kv_outbox (the rest of a change too large for one invocation, and
 * what KV refused). Changes made more than a second or so ago need one pass: any cache fill that raced them has
 * landed by now. Resolves with what it settled and what KV refused again.
 */
export async function drainKvOutbox(
  deps: SyncDeps,
  now: number,
): Promise<{ settled: number; refused: number }> {
  const rows = await deps.db
    .select({ id: kvOutbox.tokenId, hash: kvOutbox.hash })
    .from(kvOutbox)
    // Not a change whose own resync is still to come: two writes to one key within a second, KV refuses one.
    .where(lt(kvOutbox.since, now - DRAIN_AFTER_MS))
    .orderBy(asc(kvOutbox.since))
    .limit(DRAIN_BATCH)
    .all();
  if (rows.length === 0) return { settled: 0, refused: 0 };
  const refused = await resyncMany(deps, rows);
  const summary = { settled: rows.length - refused, refused };
  console.log(JSON.stringify({ event: 'kv_outbox_drained', ...summary }));
  return summary;
}
