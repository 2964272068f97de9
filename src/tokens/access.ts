import { and, eq, isNull } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { RequestContext } from '../audit';
import { decide, type TokenAction } from '../auth/permissions';
import { type Principal, toPrincipal } from '../auth/principals';
import { dropStaleRecord, publishTokenState } from '../auth/token-cache';
import type { Config } from '../config';
import { principals, type TokenRow, tokens } from '../db/schema';
import { type AppError, conflict, forbidden, notFound } from '../errors';
import { findToken, findTokenStateById } from './repository';
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

/** KV allows one write per second per key; the follow-up write waits longer than that. */
const RESYNC_DELAY_MS = 1_500;

/**
 * Publishes the token's new state to the caches; if the token is then revoked or deleted, that is written once more
 * a moment later. The second write repairs a race (a verification that read D1 just before the revocation and
 * refilled KV just after it) and retries a failed first write. It reads D1 again rather than replaying the state,
 * so a quick revoke-then-restore is not undone.
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
  try {
    await publishTokenState(deps, row.secretHash, next);
  } catch (error) {
    // D1 holds the truth already; the resync below retries, and until then KV records age out (see README).
    console.error(JSON.stringify({ event: 'kv_publish_failed', token_id: row.id, error: String(error) }));
  }
  deps.waitUntil(
    new Promise((resolve) => setTimeout(resolve, RESYNC_DELAY_MS))
      .then(() => resyncTokenState(deps, row.id, row.secretHash))
      .catch((error: unknown) =>
        console.error(JSON.stringify({ event: 'kv_resync_failed', token_id: row.id, error: String(error) })),
      ),
  );
}

/**
 * Re-asserts a revocation or deletion from D1's current state. It never writes an active record: a positive
 * written late could cover a revocation made meanwhile (a live token missing from KV just falls back to D1). When
 * D1 says active, a record that differs from it is dropped instead, whoever wrote it: this publish's own, landed
 * after a newer change's; another isolate's cache fill whose D1 read began before this change and landed after it
 * (fills are written within 1 s of their read, so before this runs); or a tombstone a restore's KV write failed to
 * replace. So a cache never keeps a longer life or wider scopes than D1 holds, nor a denial D1 no longer has; a
 * record equal to D1's state stays.
 */
async function resyncTokenState(deps: ServiceDeps, id: string, hash: string): Promise<void> {
  // By id: a verification may have moved the row to a new pepper (a new hash) after this change read it, and
  // cached it under that hash.
  const current = await findTokenStateById(deps.db, id);
  const cache = { ...deps, now: Date.now() };
  let settle: (hash: string) => Promise<void>;
  if (current && current.revokedAt === null) {
    const fresh = JSON.stringify(tokenStateFrom(current));
    settle = (h) => dropStaleRecord(cache, h, fresh);
  } else {
    const gone = { tombstone: current ? ('revoked' as const) : ('deleted' as const), id };
    settle = (h) => publishTokenState(cache, h, gone);
  }
  // Each hash on its own: KV failing for one must not leave the other stale.
  const hashes = current && current.secretHash !== hash ? [hash, current.secretHash] : [hash];
  const failed = (await Promise.allSettled(hashes.map(settle))).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
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
