import { and, eq, isNull } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { RequestContext } from '../audit';
import { decide, type TokenAction } from '../auth/permissions';
import { type Principal, toPrincipal } from '../auth/principals';
import { publishTokenState } from '../auth/token-cache';
import type { Config } from '../config';
import { principals, type TokenRow, tokens } from '../db/schema';
import { type AppError, conflict, forbidden, notFound } from '../errors';
import { enqueue, resyncLater, type SyncBudget } from './kv-sync';
import { findToken } from './repository';
import { tokenStateFrom } from './state';

// What every lifecycle operation shares: loading a token through the permission matrix, and publishing its new
// state to the caches after a change.

export interface ServiceDeps {
  db: DrizzleD1Database;
  kv: KVNamespace;
  config: Config;
  now: number;
  ctx: RequestContext;
  waitUntil(promise: Promise<unknown>): void;
  /** This invocation's KV operations for publishing changes (kv-sync.ts); a call without one has them all. */
  budget?: SyncBudget;
}

export async function findPrincipal(db: DrizzleD1Database, id: string): Promise<Principal | null> {
  const row = await db.select().from(principals).where(eq(principals.id, id)).get();
  return row ? toPrincipal(row) : null;
}

/**
 * The token and its owner, if the actor may do `action` to it: 404 when they may not even see it (no existence
 * oracle), 403 when they see it but may not do this. `presented`: the actor authenticated with this very token,
 * which is all the authority needed to view or revoke it (/tokens/self), whatever the matrix says about its type.
 */
export async function loadToken(
  deps: ServiceDeps,
  actor: Principal,
  id: string,
  action: TokenAction,
  presented = false,
): Promise<{ row: TokenRow; owner: Principal }> {
  const row = await findToken(deps.db, id);
  if (!row) throw notFound();
  const decision =
    presented && (action === 'view' || action === 'revoke') ? 'allowed' : decide(actor, action, row);
  if (decision === 'hidden') throw notFound();
  if (decision === 'denied')
    throw forbidden('not_permitted', `Your role (${actor.role}) may not ${action} this token.`);
  const owner = row.ownerId === actor.id ? actor : await findPrincipal(deps.db, row.ownerId);
  if (!owner) throw notFound();
  return { row, owner };
}

/** Refuses `generate` for this owner unless the matrix allows it. */
export function assertMayGenerate(actor: Principal, owner: Principal): void {
  const decision = decide(actor, 'generate', {
    type: owner.kind === 'user' ? 'personal' : 'service',
    ownerId: owner.id,
  });
  if (decision !== 'allowed')
    throw forbidden('not_permitted', `Your role (${actor.role}) may not create tokens for this owner.`);
}

export function isUniqueViolation(error: unknown, column: string): boolean {
  const text = `${(error as Error)?.message ?? ''} ${String((error as { cause?: unknown })?.cause ?? '')}`;
  return text.includes('UNIQUE constraint failed') && text.includes(column);
}

export function nameTaken(): AppError {
  return conflict('name_taken', 'This owner already has a token with this name.', [
    {
      field: 'name',
      code: 'duplicate',
      // Revoked tokens keep their names (they can be restored); deleting one frees its name.
      message:
        'Names must be unique among the owner’s tokens, revoked ones included (delete one to reuse its name).',
    },
  ]);
}

/**
 * Publishes the token's new state to the caches, then, a moment later, brings KV in line with what D1 says then
 * (`resyncMany`: the tombstone of a revoked or deleted token written once more, a record that differs from a live
 * one dropped). The second pass repairs a race (a verification that read D1 just before the change and refilled KV
 * just after it) and retries a failed first write. It reads D1 again rather than replaying the state, so a quick
 * revoke-then-restore is not undone. What KV refuses both times is left in kv_outbox for the minute cron.
 */
export async function publish(
  deps: ServiceDeps,
  row: TokenRow,
  owner: Principal | null,
  gone?: 'revoked' | 'deleted',
) {
  // A tombstone needs no owner; a live record does.
  const next =
    gone || !owner
      ? { tombstone: gone ?? ('revoked' as const), id: row.id }
      : tokenStateFrom({
          ...row,
          ownerSubject: owner.subject,
          ownerRole: owner.role,
          ownerActive: owner.active,
        });
  const item = { id: row.id, hash: row.secretHash };
  try {
    await publishTokenState(deps, row.secretHash, next);
  } catch (error) {
    // D1 holds the truth already; the resync below retries, and the minute cron after it (see README).
    console.error(JSON.stringify({ event: 'kv_publish_failed', token_id: row.id, error: String(error) }));
    await enqueue(deps.db, [item], deps.now).catch(() => {});
  }
  resyncLater(deps, [item]);
}

/**
 * The row is as it was read: no change since (every change sets updated_at), the same revocation state, and the
 * same hash (a verification may move it to a new pepper, and the caches are published under the hash).
 */
export function unchangedSince(row: TokenRow) {
  return and(
    eq(tokens.updatedAt, row.updatedAt),
    eq(tokens.secretHash, row.secretHash),
    row.revokedAt === null ? isNull(tokens.revokedAt) : eq(tokens.revokedAt, row.revokedAt),
  );
}

/** What a caller requires of the token as read (an HTTP If-Match); otherwise 412 and nothing is written. */
export type Precondition = (row: TokenRow) => boolean;

/** A guarded write changed nothing: 404 if the token is gone now, else 409. Never returns. */
export async function changedMeanwhile(
  deps: ServiceDeps,
  actor: Principal,
  id: string,
  action: TokenAction,
): Promise<never> {
  await loadToken(deps, actor, id, action);
  throw conflict(
    'token_changed',
    'The token changed while this request ran (revoked, restored, rotated or edited); load it again and retry.',
  );
}
