import { and, asc, eq, gt, isNotNull, isNull, ne, type SQL, sql } from 'drizzle-orm';
import { auditInsert, auditInsertIfChanged } from '../audit';
import { type Principal, principalKeys, subjectMatches, toPrincipal } from '../auth/principals';
import type { Role } from '../config';
import { changedRows } from '../db/conditional';
import { type PrincipalRow, principals, tokens } from '../db/schema';
import { conflict, notFound } from '../errors';
import { decodeCursor, encodeCursor } from '../lib/cursor';
import { newId } from '../lib/ids';
import { findPrincipal, isUniqueViolation, type ServiceDeps } from './access';
import { outboxInsert } from './kv-sync';
import { republishOwnerTokens } from './owner-cache';
import { type Page, pageOf } from './repository';
import { revokeMany } from './revocation';

// Admin work on principals: service accounts (seed 004: created by admins, tokens that survive people leaving)
// and user deactivation (seed 002: a user who leaves loses their personal tokens, without revoking each one).

export interface PrincipalQuery {
  kind?: 'user' | 'service_account';
  active?: boolean;
  /** Case-insensitive substring of name, email or subject. */
  search?: string;
  limit: number;
  cursor?: string;
}

export async function listPrincipals(deps: ServiceDeps, query: PrincipalQuery): Promise<Page<PrincipalRow>> {
  const where: SQL[] = [];
  if (query.kind) where.push(eq(principals.kind, query.kind));
  if (query.active !== undefined) where.push(eq(principals.active, query.active));
  if (query.search) {
    // Both sides lower-cased in JavaScript (searchKey, principalKeys): SQLite's lower() and LIKE fold ASCII only.
    // instr(), not LIKE: D1 refuses LIKE patterns over 50 bytes, and a search may be 100 characters.
    where.push(sql`instr(${principals.searchKey}, ${query.search.toLowerCase()}) > 0`);
  }
  if (query.cursor) where.push(gt(principals.id, decodeCursor(query.cursor, 'id', 'string').k as string));
  const rows = await deps.db
    .select()
    .from(principals)
    .where(and(...where))
    .orderBy(asc(principals.id))
    .limit(query.limit + 1)
    .all();
  return pageOf(rows, query.limit, (last) => encodeCursor({ s: 'id', k: last.id, id: last.id }));
}

export async function loadPrincipal(
  deps: ServiceDeps,
  id: string,
  kind?: Principal['kind'],
): Promise<Principal> {
  const principal = await findPrincipal(deps.db, id);
  if (!principal || (kind && principal.kind !== kind))
    throw notFound(kind === 'service_account' ? 'service account' : 'principal');
  return principal;
}

/** Service account names are unique, case-insensitively (409 name_taken). */
async function assertNameFree(deps: ServiceDeps, name: string, exceptId?: string): Promise<void> {
  const taken = await deps.db
    .select({ id: principals.id })
    .from(principals)
    .where(
      and(
        eq(principals.kind, 'service_account'),
        eq(principals.nameKey, name.toLowerCase()),
        exceptId ? ne(principals.id, exceptId) : undefined,
      ),
    )
    .get();
  if (taken) throw serviceAccountNameTaken();
}

function serviceAccountNameTaken() {
  return conflict('name_taken', 'A service account with this name exists.', [
    { field: 'name', code: 'duplicate', message: 'Service account names are unique (case-insensitive).' },
  ]);
}

/** Runs a write; the unique index settles races the check above cannot (two creates at once). */
async function guardName<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (isUniqueViolation(error, 'principals.name_key')) throw serviceAccountNameTaken();
    throw error;
  }
}

export async function createServiceAccount(
  deps: ServiceDeps,
  input: { name: string; description?: string | null | undefined; role: Role },
): Promise<PrincipalRow> {
  const { db, now, ctx } = deps;
  await assertNameFree(deps, input.name);
  const row: PrincipalRow = {
    id: newId('svc'),
    kind: 'service_account',
    subject: null,
    name: input.name,
    email: null,
    ...principalKeys({ name: input.name, email: null, subject: null }),
    description: input.description ?? null,
    role: input.role,
    active: true,
    createdAt: now,
    updatedAt: now,
    lastSeenAt: null,
    createdBy: ctx.actor.id,
    claimsIssuedAt: null,
    deletedAt: null,
  };
  const event = {
    action: 'service_account.created',
    targetType: 'principal' as const,
    targetId: row.id,
    ownerId: row.id,
    detail: { name: row.name, role: row.role },
  };
  await guardName(db.batch([db.insert(principals).values(row), auditInsert(db, ctx, event, now)]));
  return row;
}

export async function updateServiceAccount(
  deps: ServiceDeps,
  id: string,
  input: { name?: string | undefined; description?: string | null | undefined; role?: Role | undefined },
): Promise<Principal> {
  const { db, now, ctx } = deps;
  const current = await loadPrincipal(deps, id, 'service_account');
  if (input.name !== undefined) await assertNameFree(deps, input.name, id);
  const stored = await db
    .select({ description: principals.description })
    .from(principals)
    .where(eq(principals.id, id))
    .get();
  const before: typeof input = {
    name: current.name ?? undefined,
    description: stored?.description ?? null,
    role: current.role,
  };
  // Only what differs from the row: a PATCH that restates a value changes nothing and records nothing.
  const changes = Object.fromEntries(
    Object.entries(input).filter(
      ([field, value]) => value !== undefined && value !== before[field as keyof typeof input],
    ),
  );
  if (Object.keys(changes).length === 0) return current;
  const event = {
    action: 'service_account.updated',
    targetType: 'principal' as const,
    targetId: id,
    ownerId: id,
    // Each field with what it was and what it became, as token.updated records them: a promotion and a demotion
    // must read differently.
    detail: {
      changed: Object.keys(changes),
      ...Object.fromEntries(
        Object.entries(changes).map(([field, to]) => [
          field,
          { from: before[field as keyof typeof input] ?? null, to },
        ]),
      ),
    },
  };
  const roleChanges = input.role !== undefined && input.role !== current.role;
  await guardName(
    db.batch([
      // Its tokens' KV records carry the role: they must follow (below; the minute cron if that cannot finish).
      outboxInsert(
        db,
        and(eq(tokens.ownerId, id), isNull(tokens.revokedAt), roleChanges ? undefined : sql`0`),
        now,
      ),
      db
        .update(principals)
        .set({
          ...changes,
          ...(input.name === undefined
            ? {}
            : principalKeys({ name: input.name, email: null, subject: null })),
          updatedAt: now,
        })
        .where(eq(principals.id, id)),
      auditInsert(db, ctx, event, now),
    ]),
  );
  const updated = { ...current, ...changes } as Principal;
  // Cached token records carry the owner's role: a lowered role applies on the tokens' next use.
  if (roleChanges) await republishOwnerTokens(deps, updated);
  return updated;
}

/**
 * Deactivates or reactivates a user. Their personal tokens stop (or work again) at once in this isolate and within
 * the KV bound elsewhere, because every cached record of theirs is re-published with the new owner state. Tokens
 * revoked or expired meanwhile stay so. Service tokens belong to service accounts and are not affected.
 */
export function setUserActive(
  deps: ServiceDeps,
  id: string,
  active: boolean,
  via: 'admin' | 'scim' = 'admin',
): Promise<Principal> {
  return updateUser(deps, id, { active }, via);
}

/**
 * Applies what an administrator or the identity provider (SCIM) says of a user: active, role or both, in one write
 * with one audit event per change. A role set here also dates the row's claims to now, so a JWT issued before it
 * (a demoted admin's earlier, unexpired one) cannot set the role back; a later JWT's claims apply as usual. A lowered
 * role roleChanges the user's tokens on their next use, like a deactivation stops them.
 */
export async function updateUser(
  deps: ServiceDeps,
  id: string,
  input: { active?: boolean | undefined; role?: Role | undefined },
  via: 'admin' | 'scim',
  /** False when the caller publishes the tokens' new state itself (deleteUser revokes them all next). */
  publish = true,
): Promise<Principal> {
  const { db, now, ctx } = deps;
  const user = await loadPrincipal(deps, id, 'user');
  const active = input.active !== undefined && input.active !== user.active ? input.active : undefined;
  const role = input.role !== undefined && input.role !== user.role ? input.role : undefined;
  // A user the identity provider deleted comes back only by being provisioned again (SCIM POST), not by an admin:
  // a reactivation applies only to a row not deleted, checked in the write itself (a DELETE may land meanwhile).
  const userDeleted = () =>
    conflict(
      'user_deleted',
      'The identity provider deleted this user; provision them again over SCIM to bring them back.',
    );
  // A role stated here dates the claims even when it is the stored one: a JWT issued before must not change it.
  // Dated a clock skew ahead: a JWT signed just before, by an issuer whose clock runs ahead (within the skew the
  // gateway accepts), must not count as newer either.
  const datesClaims = input.role !== undefined;
  const claimsIssuedAt = now + deps.config.auth.clockSkewSeconds * 1000;
  if (active === undefined && role === undefined && !datesClaims) return user;
  // Each event only if the write before it in the batch happened (the update, then the first event).
  const event = (action: string, detail: Record<string, unknown>) =>
    auditInsertIfChanged(
      db,
      ctx,
      { action, targetType: 'principal' as const, targetId: id, ownerId: id, detail: { ...detail, via } },
      now,
    );
  // Their tokens' KV records must follow (republishOwnerTokens below; the minute cron if that cannot finish).
  const republishes = active !== undefined || role !== undefined;
  const written = await db.batch([
    // Records nothing when nothing changes (a role restated): the guard is in the statement's own condition.
    outboxInsert(
      db,
      and(eq(tokens.ownerId, id), isNull(tokens.revokedAt), republishes ? undefined : sql`0`),
      now,
    ),
    db
      .update(principals)
      .set({
        ...(active === undefined ? {} : { active }),
        ...(role === undefined ? {} : { role }),
        ...(datesClaims ? { claimsIssuedAt } : {}),
        ...(active === undefined && role === undefined ? {} : { updatedAt: now }),
      })
      .where(and(eq(principals.id, id), active === true ? isNull(principals.deletedAt) : undefined)),
    ...(active === undefined ? [] : [event(active ? 'user.reactivated' : 'user.deactivated', {})]),
    ...(role === undefined ? [] : [event('user.role_changed', { from: user.role, to: role })]),
  ]);
  const update = written[1];
  if (changedRows(update) === 0) throw active === true ? userDeleted() : notFound('principal');
  if (active === undefined && role === undefined) return user;
  const updated = {
    ...user,
    ...(active === undefined ? {} : { active }),
    ...(role === undefined ? {} : { role, claimsIssuedAt }),
  };
  if (!publish) return updated;
  try {
    await republishOwnerTokens(deps, updated);
  } catch (error) {
    // D1 holds the truth already; the owner resync retries, and until then KV records age out (see README).
    console.error(JSON.stringify({ event: 'owner_publish_failed', owner_id: id, error: String(error) }));
  }
  return updated;
}

/**
 * A user an identity provider provisions (SCIM POST /Users) before their first sign-in: the row their first JWT
 * (whose `sub` is the `userName`) then finds. Null when a user with this subject exists (any case): SCIM's 409.
 */
export async function provisionUser(
  deps: ServiceDeps,
  input: {
    subject: string;
    name: string | null;
    email: string | null;
    role: Role | undefined;
    active: boolean;
  },
): Promise<PrincipalRow | null> {
  const { db, now, ctx } = deps;
  const taken = await db.select().from(principals).where(subjectMatches(input.subject)).get();
  if (taken && taken.deletedAt === null) return null;
  // A user the provider deleted and now provisions again: the same row (the subject still points at it), its old
  // tokens revoked for good by the deletion.
  const row: PrincipalRow = {
    id: taken?.id ?? newId('usr'),
    kind: 'user',
    subject: input.subject,
    name: input.name,
    email: input.email,
    ...principalKeys(input),
    description: null,
    role: input.role ?? 'member',
    active: input.active,
    createdAt: now,
    updatedAt: now,
    lastSeenAt: null,
    createdBy: null,
    // A role stated by the provider outranks JWTs issued before it, as a role set by PATCH does (see updateUser).
    claimsIssuedAt: input.role === undefined ? null : now + deps.config.auth.clockSkewSeconds * 1000,
    deletedAt: null,
  };
  const event = {
    action: 'user.provisioned',
    targetType: 'principal' as const,
    targetId: row.id,
    ownerId: row.id,
    detail: { role: row.role, active: row.active, via: 'scim', ...(taken ? { again: true } : {}) },
  };
  if (taken) {
    // A token created while the deletion ran (the user was still signed in) must not come back with the user.
    await revokePersonalTokens(deps, taken.id);
    const { id, createdAt, lastSeenAt, ...fields } = row;
    // Only while it is still deleted: a concurrent provisioning of the same user makes one of them a 409.
    const [update] = await db.batch([
      db
        .update(principals)
        .set(fields)
        .where(and(eq(principals.id, taken.id), isNotNull(principals.deletedAt))),
      auditInsertIfChanged(db, ctx, event, now),
    ]);
    if (changedRows(update) === 0) return null;
    const restored = { ...row, createdAt: taken.createdAt, lastSeenAt: taken.lastSeenAt };
    await republishOwnerTokens(deps, toPrincipal(restored));
    return restored;
  }
  try {
    await db.batch([db.insert(principals).values(row), auditInsert(db, ctx, event, now)]);
  } catch (error) {
    // The same subject created at once by a first sign-in or another provisioning call.
    if (isUniqueViolation(error, 'principals.subject')) return null;
    throw error;
  }
  return row;
}

/** Revokes for good (reason `deprovisioned`) every personal token of a user that is not revoked yet. */
async function revokePersonalTokens(deps: ServiceDeps, id: string): Promise<void> {
  const live = await deps.db
    .select()
    .from(tokens)
    .where(and(eq(tokens.ownerId, id), eq(tokens.type, 'personal'), isNull(tokens.revokedAt)))
    .all();
  // Each revocation publishes its tombstone and checks KV again 1.5 s later, as any revocation does: the owner's
  // own resync skips revoked tokens, so it would not repair a KV write that failed or a late cache fill.
  await revokeMany(deps, live, 'deprovisioned');
}

/**
 * A user the identity provider deletes (SCIM DELETE): deactivated at once (their personal tokens stop everywhere
 * within the KV bound, here at once), then every personal token of theirs is revoked for good, reason
 * `deprovisioned` (not restorable), and only then is the row marked deleted, so a DELETE that fails on the way can be
 * sent again. The row stays: SCIM answers 404 for it, the subject keeps pointing at it (so a JWT issued before gets
 * no fresh account), and the audit trail keeps its principal. Provisioning the same userName again revives the row,
 * without the old tokens. Their service accounts' tokens carry on.
 */
export async function deleteUser(deps: ServiceDeps, id: string): Promise<void> {
  const { db, now, ctx } = deps;
  const user = await db.select().from(principals).where(eq(principals.id, id)).get();
  if (user?.kind !== 'user' || user.deletedAt !== null) throw notFound('principal');
  // The revocation publishes every personal token's tombstone: publishing their denials first would double the KV
  // writes (hundreds for some users) for no gain. If it fails, the denials are published after all.
  const deactivated = await updateUser(deps, id, { active: false }, 'scim', false);
  try {
    await revokePersonalTokens(deps, id);
  } catch (error) {
    await republishOwnerTokens(deps, deactivated).catch(() => {});
    throw error;
  }
  const [update] = await db.batch([
    db
      .update(principals)
      .set({ deletedAt: now, updatedAt: now })
      .where(and(eq(principals.id, id), isNull(principals.deletedAt))),
    auditInsertIfChanged(
      db,
      ctx,
      { action: 'user.deleted', targetType: 'principal', targetId: id, ownerId: id, detail: { via: 'scim' } },
      now,
    ),
  ]);
  if (changedRows(update) === 0) throw notFound('principal');
}
