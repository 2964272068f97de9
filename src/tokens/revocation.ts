import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import { auditInsertIfChanged } from '../audit';
import type { Principal } from '../auth/principals';
import { holdUnpublished, publishTokenState } from '../auth/token-cache';
import { changedRows } from '../db/conditional';
import { auditEvents, nextUpdatedAt, nextUpdatedAtAfter, type TokenRow, tokens } from '../db/schema';
import { conflict, preconditionFailed } from '../errors';
import {
  changedMeanwhile,
  isUniqueViolation,
  loadToken,
  nameTaken,
  type Precondition,
  publish,
  type ServiceDeps,
  unchangedSince,
} from './access';
import { isWellFormedToken } from './format';
import { hashToken } from './hash';
import { outboxInsert, resyncLater, spend } from './kv-sync';
import { tokenStatus } from './state';

// Revoking and restoring tokens: one at a time (owner or admin), in bulk (admin), and by value (leak reports).
// Each revocation is a guarded update plus its audit event in one D1 batch, then a tombstone in KV.

/** Reasons a revocation can be undone; rotation, leak reports and inactivity are final. */
const RESTORABLE = new Set(['user', 'admin']);

/** `presented`: the actor authenticated with this very token (/tokens/self/revoke). */
export async function revokeToken(deps: ServiceDeps, actor: Principal, id: string, presented = false) {
  const { now, ctx } = deps;
  const { row, owner } = await loadToken(deps, actor, id, 'revoke', presented);
  if (row.revokedAt !== null) {
    // A retry of a revocation whose answer was lost: make sure the caches know, then say so.
    await publish(deps, row, owner, 'revoked');
    throw conflict('already_revoked', 'This token is already revoked.');
  }
  const reason = ctx.actor.id === row.ownerId ? 'user' : 'admin';
  // The guard and changes(): of concurrent revocations exactly one changes the row, writes the event and wins.
  // Revoking must work whatever changed meanwhile (an edit, say), so the answer is the row as written, not as read.
  const [written] = await deps.db.batch([
    deps.db
      .update(tokens)
      .set({ revokedAt: now, revokedBy: ctx.actor.id, revokeReason: reason, updatedAt: nextUpdatedAt(now) })
      .where(and(eq(tokens.id, id), isNull(tokens.revokedAt)))
      .returning(),
    auditInsertIfChanged(
      deps.db,
      ctx,
      {
        action: 'token.revoked',
        targetType: 'token',
        targetId: id,
        ownerId: row.ownerId,
        detail: { reason },
      },
      now,
    ),
  ]);
  const updated = written[0];
  if (!updated) throw conflict('already_revoked', 'This token is already revoked.');
  await publish(deps, updated, owner, 'revoked');
  return updated;
}

export async function restoreToken(
  deps: ServiceDeps,
  actor: Principal,
  id: string,
  precondition?: Precondition,
) {
  const { now, ctx } = deps;
  const { row, owner } = await loadToken(deps, actor, id, 'restore');
  if (precondition && !precondition(row)) throw preconditionFailed();
  if (row.revokedAt === null) throw conflict('not_revoked', 'Only a revoked token can be restored.');
  if (!RESTORABLE.has(row.revokeReason ?? '')) {
    throw conflict(
      'not_restorable',
      `A token revoked for "${row.revokeReason}" cannot be restored; create a new one.`,
    );
  }
  const updated: TokenRow = {
    ...row,
    revokedAt: null,
    revokedBy: null,
    revokeReason: null,
    updatedAt: nextUpdatedAtAfter(row, now),
  };
  let update: unknown;
  try {
    [update] = await deps.db.batch([
      deps.db
        .update(tokens)
        .set({ revokedAt: null, revokedBy: null, revokeReason: null, updatedAt: nextUpdatedAt(now) })
        // Only the row as read: a leak report (final) or another change meanwhile must not be undone.
        .where(and(eq(tokens.id, id), unchangedSince(row))),
      auditInsertIfChanged(
        deps.db,
        ctx,
        {
          action: 'token.restored',
          targetType: 'token',
          targetId: id,
          ownerId: row.ownerId,
          detail: { status: tokenStatus(updated, now) },
        },
        now,
      ),
    ]);
  } catch (error) {
    if (isUniqueViolation(error, 'name_key')) throw nameTaken();
    throw error;
  }
  if (changedRows(update) === 0) await changedMeanwhile(deps, actor, id, 'restore');
  await publish(deps, updated, owner);
  return updated;
}

/**
 * Revokes many tokens at once (admin bulk revoke, leak reports, inactivity, a user deleted over SCIM). Per chunk, one D1 batch writes an
 * audit event for exactly the rows that are still live and then revokes them, so events and revocations match
 * even under concurrency. Returns the rows that this call revoked.
 */
export async function revokeMany(
  deps: ServiceDeps,
  rows: TokenRow[],
  reason: 'admin' | 'leaked' | 'inactivity' | 'user' | 'deprovisioned',
): Promise<TokenRow[]> {
  const { db, now, ctx } = deps;
  const revoked: TokenRow[] = [];
  const detail = JSON.stringify({ reason });
  // Stay well under D1's 100 bound parameters per statement.
  for (let i = 0; i < rows.length; i += 50) {
    const chunk = rows.slice(i, i + 50);
    const ids = chunk.map((row) => row.id);
    const live = and(inArray(tokens.id, ids), isNull(tokens.revokedAt));
    const [, , changed] = await db.batch([
      // Before the update, while `live` still selects them: the tokens whose KV record this must overwrite.
      outboxInsert(db, live, now),
      db.insert(auditEvents).select(
        sql`select 'evt_' || lower(hex(randomblob(10))), ${now}, 'token.revoked', ${ctx.actor.id}, ${ctx.actor.kind},
          ${ctx.actor.tokenId ?? null}, ${tokens.ownerId}, 'token', ${tokens.id}, ${ctx.ip}, ${ctx.userAgent?.slice(0, 512) ?? null},
          ${detail}, ${ctx.requestId} from ${tokens} where ${live}`,
      ),
      db
        .update(tokens)
        .set({ revokedAt: now, revokedBy: ctx.actor.id, revokeReason: reason, updatedAt: nextUpdatedAt(now) })
        .where(live)
        // The hash as revoked: a verification may have moved the row to a new pepper since it was read, and
        // cached it under that hash, which is the one the tombstone must cover.
        .returning({ id: tokens.id, secretHash: tokens.secretHash }),
    ]);
    const hashes = new Map(
      (changed as { id: string; secretHash: string }[]).map((r) => [r.id, r.secretHash]),
    );
    for (const row of chunk) {
      const secretHash = hashes.get(row.id);
      if (secretHash !== undefined) revoked.push({ ...row, secretHash });
    }
  }
  await publishRevoked(deps, revoked);
  return revoked.map((row) => ({
    ...row,
    revokedAt: now,
    revokedBy: ctx.actor.id,
    revokeReason: reason,
    updatedAt: nextUpdatedAtAfter(row, now),
  }));
}

/**
 * Tombstones for tokens revoked in bulk, as many as this invocation's KV budget allows (two writes each: now and at
 * the resync). The others wait in kv_outbox, where the revocation's batch put every one of them, for the minute
 * cron; this isolate refuses them at once meanwhile.
 */
async function publishRevoked(deps: ServiceDeps, revoked: TokenRow[]): Promise<void> {
  const fits = spend(deps.budget, revoked.length, 2);
  const now = revoked.slice(0, fits).map((row) => ({ id: row.id, hash: row.secretHash }));
  const later = revoked.slice(fits);
  for (const row of later) holdUnpublished(deps, row.secretHash, { tombstone: 'revoked', id: row.id });
  if (later.length > 0) {
    console.log(JSON.stringify({ event: 'kv_publish_deferred', tokens: later.length }));
  }
  await Promise.all(
    now.map(({ id, hash }) =>
      publishTokenState(deps, hash, { tombstone: 'revoked', id }).catch((error: unknown) =>
        // In kv_outbox already: the resync below retries, and the minute cron after it.
        console.error(JSON.stringify({ event: 'kv_publish_failed', token_id: id, error: String(error) })),
      ),
    ),
  );
  resyncLater(deps, now);
}

/**
 * Leak reports (as GitHub's credential revocation API): revokes every live token among `candidates`, reason
 * `leaked`. A reported token that was already revoked by hand (restorable) is marked `leaked` too, so it can never
 * be restored. Malformed strings cost nothing; well-formed ones are looked up by hash, never stored.
 */
export async function revokeLeaked(deps: ServiceDeps, candidates: string[]): Promise<number> {
  const { config } = deps;
  const wellFormed = [...new Set(candidates)].filter((token) => isWellFormedToken(token, config.tokenPrefix));
  const peppers = [config.peppers.current, ...config.peppers.previous];
  const hashes = (
    await Promise.all(wellFormed.flatMap((token) => peppers.map((p) => hashToken(token, p))))
  ).filter(Boolean);
  const live: TokenRow[] = [];
  for (let i = 0; i < hashes.length; i += 90) {
    const chunk = hashes.slice(i, i + 90);
    const rows = await deps.db.select().from(tokens).where(inArray(tokens.secretHash, chunk)).all();
    live.push(...rows.filter((row) => row.revokedAt === null));
    const restorable = rows.filter((row) => row.revokedAt !== null && RESTORABLE.has(row.revokeReason ?? ''));
    if (restorable.length) live.push(...(await markLeaked(deps, restorable)));
  }
  return (await revokeMany(deps, live, 'leaked')).length;
}

/**
 * Makes revocations final: a token its owner or an admin revoked, and that was then reported leaked, gets reason
 * `leaked` (restore answers 409 not_restorable) and a `token.leak_reported` event. Returns the tokens restored in
 * the meantime, which are live again: the caller revokes them as leaked.
 */
async function markLeaked(deps: ServiceDeps, rows: TokenRow[]): Promise<TokenRow[]> {
  const { db, now, ctx } = deps;
  const ids = rows.map((row) => row.id);
  const stillRestorable = and(
    inArray(tokens.id, ids),
    isNotNull(tokens.revokedAt),
    inArray(tokens.revokeReason, [...RESTORABLE]),
  );
  const [, marked] = await db.batch([
    db.insert(auditEvents).select(
      sql`select 'evt_' || lower(hex(randomblob(10))), ${now}, 'token.leak_reported', ${ctx.actor.id}, ${ctx.actor.kind},
        ${ctx.actor.tokenId ?? null}, ${tokens.ownerId}, 'token', ${tokens.id}, ${ctx.ip}, ${ctx.userAgent?.slice(0, 512) ?? null},
        json_object('reason', 'leaked', 'previous_reason', ${tokens.revokeReason}), ${ctx.requestId} from ${tokens} where ${stillRestorable}`,
    ),
    db
      .update(tokens)
      .set({ revokeReason: 'leaked', updatedAt: nextUpdatedAt(now) })
      .where(stillRestorable)
      .returning({ id: tokens.id }),
  ]);
  const done = new Set((marked as { id: string }[]).map((row) => row.id));
  const missed = ids.filter((id) => !done.has(id));
  if (missed.length === 0) return [];
  return db
    .select()
    .from(tokens)
    .where(and(inArray(tokens.id, missed), isNull(tokens.revokedAt)))
    .all();
}
