import { and, eq, sql } from 'drizzle-orm';
import { auditInsertIfChanged } from '../audit';
import type { Principal } from '../auth/principals';
import type { Config } from '../config';
import { changedRows, insertIfPreviousChanged, insertWhere } from '../db/conditional';
import { nextUpdatedAt, nextUpdatedAtAfter, type TokenRow, tokens } from '../db/schema';
import { AppError, conflict, preconditionFailed, validationError } from '../errors';
import { newId } from '../lib/ids';
import { nameKey } from '../lib/names';
import {
  assertMayGenerate,
  changedMeanwhile,
  isUniqueViolation,
  loadToken,
  nameTaken,
  type Precondition,
  publish,
  type ServiceDeps,
  unchangedSince,
} from './access';
import { generateToken, tokenHint } from './format';
import { hashToken } from './hash';
import { defaultExpiration, type ExpirationInput, resolveExpiration } from './policy';
import { countTokens, findToken } from './repository';
import { tokenStatus } from './state';

/** Column names as the API spells them, for audit details. */
const API_FIELD: Record<string, string> = { expiresAt: 'expires_at' };

export type { ServiceDeps } from './access';

export { restoreToken, revokeToken } from './revocation';

// The token lifecycle: create, edit, rotate, delete (revoke and restore: ./revocation.ts). Every change is one atomic D1 batch
// (the row and its audit event), followed by the cache update (KV overwrite, isolate eviction).

export interface CreateTokenInput extends ExpirationInput {
  name: string;
  description?: string | null | undefined;
  scopes?: string[] | undefined;
}

export interface UpdateTokenInput extends ExpirationInput {
  name?: string | undefined;
  description?: string | null | undefined;
}

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
    throw new AppError(403, 'scope_not_allowed', 'Forbidden', {
      detail: `Your role (${owner.role}) cannot grant: ${excess.join(', ')}.`,
      // Which field and why, as for every other refused field; `scopes` lists the names.
      errors: requested.flatMap((s, i) =>
        allowed.includes(s)
          ? []
          : [
              {
                field: `scopes.${i}`,
                code: 'scope_not_allowed',
                message: `The role ${owner.role} cannot hold ${s}.`,
              },
            ],
      ),
      extensions: { scopes: excess },
    });
  }
  return [...new Set(requested)].sort();
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
    nameKey: nameKey(fields.name),
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
  return { token, row };
}

/** Creates a token owned by `owner` (the actor themself, or a service account an admin manages). */
export async function createToken(
  deps: ServiceDeps,
  actor: Principal,
  owner: Principal,
  input: CreateTokenInput,
) {
  const { config, now } = deps;
  assertMayGenerate(actor, owner);
  const scopes = checkScopes(config, owner, input.scopes);
  const resolved = resolveExpiration(config.policy.expiration, input, now);
  const expiresAt = resolved === undefined ? defaultExpiration(config.policy.expiration, now) : resolved;
  const cap = config.policy.max_tokens_per_owner;
  const tooMany = () => conflict('too_many_tokens', `At most ${cap} tokens per owner; delete some first.`);
  if ((await countTokens(deps.db, owner.id)) >= cap) throw tooMany();
  const created = await insertNewToken(deps, owner, {
    name: input.name,
    description: input.description ?? null,
    scopes,
    expiresAt,
  });
  let inserted: unknown;
  try {
    [inserted] = await deps.db.batch([
      // The cap again, in the insert itself: concurrent creates cannot all pass the count above.
      insertWhere(
        deps.db,
        tokens,
        created.row,
        sql`(select count(*) from ${tokens} where ${tokens.ownerId} = ${owner.id}) < ${cap}`,
      ),
      auditInsertIfChanged(
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
  if (changedRows(inserted) === 0) throw tooMany();
  // A KV record from the start: the first request in this location is a KV hit, not a D1 read.
  deps.waitUntil(publish(deps, created.row, owner));
  return created;
}

export async function updateToken(
  deps: ServiceDeps,
  actor: Principal,
  id: string,
  input: UpdateTokenInput,
  precondition?: Precondition,
) {
  const { config, now } = deps;
  const { row, owner } = await loadToken(deps, actor, id, 'edit');
  if (precondition && !precondition(row)) throw preconditionFailed();
  const changes: Partial<TokenRow> = {};
  if (input.name !== undefined && input.name !== row.name)
    Object.assign(changes, { name: input.name, nameKey: nameKey(input.name) });
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
  const updated = { ...row, ...changes, updatedAt: nextUpdatedAtAfter(row, now) };
  let result: unknown;
  try {
    [result] = await deps.db.batch([
      deps.db
        .update(tokens)
        .set({ ...changes, updatedAt: nextUpdatedAt(now) })
        // Only the row as it was read: a revoke, restore, rotation or edit meanwhile must not be overwritten, and
        // what is published below must be what D1 now holds.
        .where(and(eq(tokens.id, id), unchangedSince(row))),
      auditInsertIfChanged(
        deps.db,
        deps.ctx,
        {
          action: 'token.updated',
          targetType: 'token',
          targetId: id,
          ownerId: row.ownerId,
          // Field names as the API spells them, each with what it was and what it became.
          detail: {
            changed: Object.keys(changes).flatMap((k) => (k === 'nameKey' ? [] : [API_FIELD[k] ?? k])),
            ...('name' in changes ? { name: { from: row.name, to: changes.name } } : {}),
            ...('description' in changes
              ? { description: { from: row.description, to: changes.description } }
              : {}),
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
  if (changedRows(result) === 0) await changedMeanwhile(deps, actor, id, 'edit');
  if ('expiresAt' in changes && row.revokedAt === null) await publish(deps, updated, owner);
  return updated;
}

export async function deleteToken(
  deps: ServiceDeps,
  actor: Principal,
  id: string,
  precondition?: Precondition,
) {
  const { config, now, ctx } = deps;
  const { row, owner } = await loadToken(deps, actor, id, 'delete');
  if (precondition && !precondition(row)) throw preconditionFailed();
  if (config.policy.delete_requires_inactive && tokenStatus(row, now) === 'active') {
    throw conflict(
      'token_active',
      'This deployment deletes only revoked or expired tokens: revoke it first.',
    );
  }
  const [result] = await deps.db.batch([
    deps.db.delete(tokens).where(and(eq(tokens.id, id), unchangedSince(row))),
    auditInsertIfChanged(
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
  // Deleted by someone else meanwhile (404), or changed (409): the check above may no longer hold.
  if (changedRows(result) === 0) await changedMeanwhile(deps, actor, id, 'delete');
  await publish(deps, row, owner, 'deleted');
}

export async function rotateToken(
  deps: ServiceDeps,
  actor: Principal,
  id: string,
  input: ExpirationInput,
  precondition?: Precondition,
) {
  const { config, now, ctx } = deps;
  const { row, owner } = await loadToken(deps, actor, id, 'rotate');
  if (row.revokedAt !== null)
    throw conflict('token_revoked', 'A revoked token cannot be rotated; restore it or create a new one.');
  if (precondition && !precondition(row)) throw preconditionFailed();
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
    updatedAt: nextUpdatedAtAfter(row, now),
  };
  // Retire, insert the successor, audit: each step only if the one before changed a row, so of concurrent
  // rotations exactly one issues a new token and the others get 409.
  let retire: unknown;
  try {
    [retire] = await deps.db.batch([
      deps.db
        .update(tokens)
        .set({
          revokedAt: now,
          revokedBy: ctx.actor.id,
          revokeReason: 'rotated',
          updatedAt: nextUpdatedAt(now),
        })
        // Only the row as read: the successor copies its name, description and scopes, which an edit meanwhile
        // would have changed (and If-Match was checked against it).
        .where(and(eq(tokens.id, id), unchangedSince(row))),
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
      // The successor's own trail starts here, as any token's does.
      auditInsertIfChanged(
        deps.db,
        ctx,
        {
          action: 'token.created',
          targetType: 'token',
          targetId: created.row.id,
          ownerId: row.ownerId,
          detail: { name: row.name, scopes, expires_at: expiresAt, rotated_from_id: id },
        },
        now,
      ),
    ]);
  } catch (error) {
    if (isUniqueViolation(error, 'name_key'))
      throw conflict('token_revoked', 'This token was rotated or revoked meanwhile.');
    throw error;
  }
  if (changedRows(retire) === 0) {
    // Rotated or revoked meanwhile (one of two concurrent rotations lost), or edited: 409 either way.
    if ((await findToken(deps.db, id))?.revokedAt != null)
      throw conflict('token_revoked', 'This token was rotated or revoked meanwhile.');
    await changedMeanwhile(deps, actor, id, 'rotate');
  }
  await publish(deps, retired, owner, 'revoked');
  deps.waitUntil(publish(deps, created.row, owner));
  return created;
}
