import { and, eq, isNotNull, isNull } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import { auditInsert, auditInsertIfChanged, type RequestContext } from '../audit';
import type { Principal } from '../auth/principals';
import { publishTokenState } from '../auth/token-cache';
import type { Config } from '../config';
import { changedRows, insertIfPreviousChanged } from '../db/conditional';
import { type TokenRow, tokens } from '../db/schema';
import { type AppError, conflict, forbidden, notFound, validationError } from '../errors';
import { newId } from '../lib/ids';
import { generateToken, tokenHint } from './format';
import { hashToken } from './hash';
import { defaultExpiration, type ExpirationInput, resolveExpiration } from './policy';
import { countTokens, findToken, findTokenStateByHash } from './repository';
import { tokenStateFrom, tokenStatus } from './state';

// The token lifecycle: create, edit, revoke, restore, rotate, delete. Every change is one atomic D1 batch
// (the row and its audit event), followed by the cache update (KV overwrite, isolate eviction).

export interface ServiceDeps {
  db: DrizzleD1Database;
  kv: KVNamespace;
  config: Config;
  now: number;
  ctx: RequestContext;
  waitUntil(promise: Promise<unknown>): void;
}

export interface CreateTokenInput extends ExpirationInput {
  name: string;
  description?: string | null | undefined;
  scopes?: string[] | undefined;
}

export interface UpdateTokenInput extends ExpirationInput {
  name?: string | undefined;
  description?: string | null | undefined;
}

/** Reasons a revocation can be undone; rotation and leak reports are final. */
const RESTORABLE = new Set(['user', 'admin']);

function checkScopes(config: Config, owner: Principal, requested: string[] | undefined): string[] {
  const allowed = config.roleScopes[owner.role];
  if (requested === undefined) return allowed;
  const unknown = requested.flatMap((s, i) => (config.scopes.includes(s) ? [] : [i]));
  if (unknown.length) {
    throw validationError(
      unknown.map((i) => ({
        field: `scopes.${i}`,
        code: 'unknown_scope',
        message: `Unknown scope; known: ${config.scopes.join(', ')}.`,
      })),
    );
  }
  const excess = requested.filter((s) => !allowed.includes(s));
  if (excess.length) {
    throw forbidden('scope_not_allowed', `Your role (${owner.role}) cannot grant: ${excess.join(', ')}.`, {
      scopes: excess,
    });
  }
  return [...new Set(requested)].sort();
}

function isUniqueViolation(error: unknown, column: string): boolean {
  const text = `${(error as Error)?.message ?? ''} ${String((error as { cause?: unknown })?.cause ?? '')}`;
  return text.includes('UNIQUE constraint failed') && text.includes(column);
}

function nameTaken(): AppError {
  return conflict('name_taken', 'You already have a token with this name.', [
    { field: 'name', code: 'duplicate', message: 'Names must be unique among your tokens.' },
  ]);
}

/** KV allows one write per second per key; the follow-up write waits longer than that. */
const RESYNC_DELAY_MS = 1_500;

/**
 * Publishes the token's new state to the caches, then once more a moment later from what D1 says then. The second
 * write repairs a race (a verification that read D1 just before the change and refilled KV just after it) and
 * retries a failed first write. Reading D1 again, rather than replaying the state, keeps a quick revoke-then-restore
 * from being undone.
 */
async function publish(deps: ServiceDeps, row: TokenRow, owner: Principal, gone?: 'revoked' | 'deleted') {
  const next = gone
    ? { tombstone: gone, id: row.id }
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

async function resyncTokenState(deps: ServiceDeps, id: string, hash: string): Promise<void> {
  const current = await findTokenStateByHash(deps.db, [hash]);
  const next = current ? tokenStateFrom(current) : { tombstone: 'deleted' as const, id };
  const state = 'state' in next && next.state === 'revoked' ? { tombstone: 'revoked' as const, id } : next;
  await publishTokenState({ ...deps, now: Date.now() }, hash, state);
}

/** The owner's token, or 404 whether it is missing or someone else's (no existence oracle). */
export async function loadOwnedToken(deps: ServiceDeps, owner: Principal, id: string): Promise<TokenRow> {
  const row = await findToken(deps.db, id);
  if (!row || row.ownerId !== owner.id) throw notFound();
  return row;
}

async function insertNewToken(
  deps: ServiceDeps,
  owner: Principal,
  fields: {
    name: string;
    description: string | null;
    scopes: string[];
    expiresAt: number | null;
    rotatedFromId?: string;
  },
) {
  const { config, now } = deps;
  const token = generateToken(config.tokenPrefix);
  const row: TokenRow = {
    id: newId('tok'),
    ownerId: owner.id,
    type: owner.kind === 'user' ? 'personal' : 'service',
    name: fields.name,
    nameKey: fields.name.toLowerCase(),
    description: fields.description,
    scopes: JSON.stringify(fields.scopes),
    secretHash: await hashToken(token, config.peppers.current),
    pepperVersion: config.peppers.current.version,
    hint: tokenHint(token, config.tokenPrefix),
    createdAt: now,
    updatedAt: now,
    createdBy: deps.ctx.actor.id ?? owner.id,
    expiresAt: fields.expiresAt,
    revokedAt: null,
    revokedBy: null,
    revokeReason: null,
    lastUsedAt: null,
    lastUsedIp: null,
    rotatedFromId: fields.rotatedFromId ?? null,
  };
  return { token, row, insert: deps.db.insert(tokens).values(row) };
}

export async function createToken(deps: ServiceDeps, owner: Principal, input: CreateTokenInput) {
  const { config, now } = deps;
  const scopes = checkScopes(config, owner, input.scopes);
  const resolved = resolveExpiration(config.policy.expiration, input, now);
  const expiresAt = resolved === undefined ? defaultExpiration(config.policy.expiration, now) : resolved;
  if ((await countTokens(deps.db, owner.id)) >= config.policy.max_tokens_per_owner) {
    throw conflict(
      'too_many_tokens',
      `At most ${config.policy.max_tokens_per_owner} tokens per owner; delete some first.`,
    );
  }
  const created = await insertNewToken(deps, owner, {
    name: input.name,
    description: input.description ?? null,
    scopes,
    expiresAt,
  });
  try {
    await deps.db.batch([
      created.insert,
      auditInsert(
        deps.db,
        deps.ctx,
        {
          action: 'token.created',
          targetType: 'token',
          targetId: created.row.id,
          ownerId: owner.id,
          detail: { name: input.name, scopes, expires_at: expiresAt },
        },
        now,
      ),
    ]);
  } catch (error) {
    if (isUniqueViolation(error, 'name_key')) throw nameTaken();
    throw error;
  }
  // A KV record from the start: the first request in this location is a KV hit, not a D1 read.
  deps.waitUntil(publish(deps, created.row, owner));
  return created;
}

export async function updateToken(deps: ServiceDeps, owner: Principal, id: string, input: UpdateTokenInput) {
  const { config, now } = deps;
  const row = await loadOwnedToken(deps, owner, id);
  const changes: Partial<TokenRow> = {};
  if (input.name !== undefined && input.name !== row.name)
    Object.assign(changes, { name: input.name, nameKey: input.name.toLowerCase() });
  if (input.description !== undefined && input.description !== row.description)
    changes.description = input.description;
  const expiresAt = resolveExpiration(config.policy.expiration, input, now);
  if (expiresAt !== undefined && expiresAt !== row.expiresAt) {
    if (!config.policy.expiration.editable) {
      throw validationError([
        {
          field: input.expires_in_days !== undefined ? 'expires_in_days' : 'expires_at',
          code: 'immutable',
          message: 'This deployment does not allow changing the expiration after creation.',
        },
      ]);
    }
    changes.expiresAt = expiresAt;
  }
  if (Object.keys(changes).length === 0) return row;
  const updated = { ...row, ...changes, updatedAt: now };
  try {
    await deps.db.batch([
      deps.db
        .update(tokens)
        .set({ ...changes, updatedAt: now })
        .where(eq(tokens.id, id)),
      auditInsert(
        deps.db,
        deps.ctx,
        {
          action: 'token.updated',
          targetType: 'token',
          targetId: id,
          ownerId: row.ownerId,
          detail: {
            changed: Object.keys(changes).filter((k) => k !== 'nameKey'),
            ...('expiresAt' in changes ? { expires_at: { from: row.expiresAt, to: changes.expiresAt } } : {}),
          },
        },
        now,
      ),
    ]);
  } catch (error) {
    if (isUniqueViolation(error, 'name_key')) throw nameTaken();
    throw error;
  }
  if ('expiresAt' in changes && row.revokedAt === null) await publish(deps, updated, owner);
  return updated;
}

export async function revokeToken(deps: ServiceDeps, owner: Principal, id: string) {
  const { now, ctx } = deps;
  const row = await loadOwnedToken(deps, owner, id);
  if (row.revokedAt !== null) throw conflict('already_revoked', 'This token is already revoked.');
  const reason = ctx.actor.id === row.ownerId ? 'user' : 'admin';
  const updated: TokenRow = {
    ...row,
    revokedAt: now,
    revokedBy: ctx.actor.id,
    revokeReason: reason,
    updatedAt: now,
  };
  // The guard and changes(): of concurrent revocations exactly one changes the row, writes the event and wins.
  const [update] = await deps.db.batch([
    deps.db
      .update(tokens)
      .set({ revokedAt: now, revokedBy: ctx.actor.id, revokeReason: reason, updatedAt: now })
      .where(and(eq(tokens.id, id), isNull(tokens.revokedAt))),
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
  if (changedRows(update) === 0) throw conflict('already_revoked', 'This token is already revoked.');
  await publish(deps, updated, owner, 'revoked');
  return updated;
}

export async function restoreToken(deps: ServiceDeps, owner: Principal, id: string) {
  const { now, ctx } = deps;
  const row = await loadOwnedToken(deps, owner, id);
  if (row.revokedAt === null) throw conflict('not_revoked', 'Only a revoked token can be restored.');
  if (!RESTORABLE.has(row.revokeReason ?? '')) {
    throw conflict(
      'not_restorable',
      `A token revoked for "${row.revokeReason}" cannot be restored; create a new one.`,
    );
  }
  const updated: TokenRow = { ...row, revokedAt: null, revokedBy: null, revokeReason: null, updatedAt: now };
  let update: unknown;
  try {
    [update] = await deps.db.batch([
      deps.db
        .update(tokens)
        .set({ revokedAt: null, revokedBy: null, revokeReason: null, updatedAt: now })
        .where(and(eq(tokens.id, id), isNotNull(tokens.revokedAt))),
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
  if (changedRows(update) === 0) throw conflict('not_revoked', 'Only a revoked token can be restored.');
  await publish(deps, updated, owner);
  return updated;
}

export async function deleteToken(deps: ServiceDeps, owner: Principal, id: string) {
  const { config, now, ctx } = deps;
  const row = await loadOwnedToken(deps, owner, id);
  if (config.policy.delete_requires_inactive && tokenStatus(row, now) === 'active') {
    throw conflict(
      'token_active',
      'This deployment deletes only revoked or expired tokens: revoke it first.',
    );
  }
  await deps.db.batch([
    deps.db.delete(tokens).where(eq(tokens.id, id)),
    auditInsert(
      deps.db,
      ctx,
      {
        action: 'token.deleted',
        targetType: 'token',
        targetId: id,
        ownerId: row.ownerId,
        detail: { name: row.name, status: tokenStatus(row, now) },
      },
      now,
    ),
  ]);
  await publish(deps, row, owner, 'deleted');
}

export async function rotateToken(deps: ServiceDeps, owner: Principal, id: string, input: ExpirationInput) {
  const { config, now, ctx } = deps;
  const row = await loadOwnedToken(deps, owner, id);
  if (row.revokedAt !== null)
    throw conflict('token_revoked', 'A revoked token cannot be rotated; restore it or create a new one.');
  const resolved = resolveExpiration(config.policy.expiration, input, now);
  const expiresAt = resolved === undefined ? defaultExpiration(config.policy.expiration, now) : resolved;
  const scopes = (JSON.parse(row.scopes) as string[]).filter((s) =>
    config.roleScopes[owner.role].includes(s),
  );
  const created = await insertNewToken(deps, owner, {
    name: row.name,
    description: row.description,
    scopes,
    expiresAt,
    rotatedFromId: row.id,
  });
  const retired: TokenRow = {
    ...row,
    revokedAt: now,
    revokedBy: ctx.actor.id,
    revokeReason: 'rotated',
    updatedAt: now,
  };
  // Retire, insert the successor, audit: each step only if the one before changed a row, so of concurrent
  // rotations exactly one issues a new token and the others get 409.
  let retire: unknown;
  try {
    [retire] = await deps.db.batch([
      deps.db
        .update(tokens)
        .set({ revokedAt: now, revokedBy: ctx.actor.id, revokeReason: 'rotated', updatedAt: now })
        .where(and(eq(tokens.id, id), isNull(tokens.revokedAt))),
      insertIfPreviousChanged(deps.db, tokens, created.row),
      auditInsertIfChanged(
        deps.db,
        ctx,
        {
          action: 'token.rotated',
          targetType: 'token',
          targetId: id,
          ownerId: row.ownerId,
          detail: { replaced_by: created.row.id },
        },
        now,
      ),
    ]);
  } catch (error) {
    if (isUniqueViolation(error, 'name_key'))
      throw conflict('token_revoked', 'This token was rotated or revoked meanwhile.');
    throw error;
  }
  if (changedRows(retire) === 0)
    throw conflict('token_revoked', 'This token was rotated or revoked meanwhile.');
  await publish(deps, retired, owner, 'revoked');
  deps.waitUntil(publish(deps, created.row, owner));
  return created;
}
