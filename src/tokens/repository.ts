import {
  and,
  count,
  desc,
  eq,
  inArray,
  isNotNull,
  isNull,
  or,
  type SQL,
  type SQLWrapper,
  sql,
} from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import { auditEvents, principals, type TokenRow, tokens } from '../db/schema';
import { type Cursor, decodeCursor, encodeCursor } from '../lib/cursor';
import type { TokenStateSource, TokenStatus } from './state';

// Queries over tokens and audit events. Every lookup column is indexed (D1 bills per row scanned).

export const SORTS = [
  'created_at',
  '-created_at',
  'name',
  '-name',
  'expires_at',
  '-expires_at',
  'last_used_at',
  '-last_used_at',
] as const;
export type TokenSort = (typeof SORTS)[number];

// Nullable sort columns get a total order: "never expires" sorts last, "never used" sorts first.
const SORT_KEYS = {
  created_at: sql<number>`${tokens.createdAt}`,
  name: sql<string>`${tokens.nameKey}`,
  expires_at: sql<number>`coalesce(${tokens.expiresAt}, 9007199254740991)`,
  last_used_at: sql<number>`coalesce(${tokens.lastUsedAt}, 0)`,
};

export function statusCondition(status: TokenStatus, now: number): SQL {
  switch (status) {
    case 'revoked':
      return isNotNull(tokens.revokedAt);
    case 'expired':
      return and(isNull(tokens.revokedAt), isNotNull(tokens.expiresAt), sql`${tokens.expiresAt} <= ${now}`)!;
    case 'active':
      return and(isNull(tokens.revokedAt), or(isNull(tokens.expiresAt), sql`${tokens.expiresAt} > ${now}`))!;
  }
}

export interface TokenListQuery {
  ownerId?: string;
  status?: TokenStatus;
  /** Case-insensitive substring of the name. */
  search?: string;
  expiringWithinDays?: number;
  type?: 'personal' | 'service';
  /** Tokens expiring before this instant (ms), never-expiring ones excluded. */
  expiresBefore?: number;
  /** Tokens last used before this instant (ms), never-used ones included. */
  lastUsedBefore?: number;
  sort: TokenSort;
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** Cuts the `limit + 1` rows a keyset query fetched into a page and the cursor for the next one. */
export function pageOf<T>(rows: T[], limit: number, cursorOf: (last: T) => string): Page<T> {
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? cursorOf(last) : null };
}

/**
 * Rows after a keyset cursor (`key`, then `id`): `key < k or (key = k and id < cursorId)` (`>` ascending), with the
 * redundant `key <= k` in front, which is what lets SQLite start its index range at the cursor instead of walking
 * the index from its first entry and filtering.
 */
function keysetAfter(
  key: SQLWrapper,
  descending: boolean,
  k: unknown,
  id: SQLWrapper,
  cursorId: string,
): SQL {
  const [op, bound] = descending ? [sql`<`, sql`<=`] : [sql`>`, sql`>=`];
  return sql`(${key} ${bound} ${k} and (${key} ${op} ${k} or (${key} = ${k} and ${id} ${op} ${cursorId})))`;
}

export async function listTokens(
  db: DrizzleD1Database,
  query: TokenListQuery,
  now: number,
): Promise<Page<TokenRow>> {
  const descending = query.sort.startsWith('-');
  const sortName = query.sort.replace(/^-/, '') as keyof typeof SORT_KEYS;
  const key = SORT_KEYS[sortName];
  const where: SQL[] = [];
  if (query.ownerId) where.push(eq(tokens.ownerId, query.ownerId));
  if (query.status) where.push(statusCondition(query.status, now));
  if (query.search)
    // instr(), not LIKE: D1 refuses LIKE patterns over 50 bytes, and a search may be 100 characters.
    where.push(sql`instr(${tokens.nameKey}, ${query.search.toLowerCase()}) > 0`);
  if (query.expiringWithinDays !== undefined) {
    where.push(
      statusCondition('active', now),
      sql`${tokens.expiresAt} <= ${now + query.expiringWithinDays * 86_400_000}`,
    );
  }
  if (query.type) where.push(eq(tokens.type, query.type));
  if (query.expiresBefore !== undefined) where.push(sql`${tokens.expiresAt} < ${query.expiresBefore}`);
  if (query.lastUsedBefore !== undefined)
    where.push(sql`coalesce(${tokens.lastUsedAt}, 0) < ${query.lastUsedBefore}`);
  if (query.cursor) {
    const cursor = decodeCursor(query.cursor, query.sort, sortName === 'name' ? 'string' : 'number');
    where.push(keysetAfter(key, descending, cursor.k, tokens.id, cursor.id));
  }
  const rows = await db
    .select({ row: tokens, sortKey: key })
    .from(tokens)
    .where(and(...where))
    .orderBy(descending ? sql`${key} desc` : sql`${key} asc`, descending ? desc(tokens.id) : tokens.id)
    .limit(query.limit + 1)
    .all();
  const page = pageOf(rows, query.limit, (last) =>
    encodeCursor({ s: query.sort, k: last.sortKey, id: last.row.id }),
  );
  return { data: page.data.map((r) => r.row), nextCursor: page.nextCursor };
}

export function findToken(db: DrizzleD1Database, id: string): Promise<TokenRow | undefined> {
  return db.select().from(tokens).where(eq(tokens.id, id)).get();
}

/** Tokens by id, 90 ids to a query (D1 binds at most 100 parameters); unknown ids are left out. */
export async function findTokens(db: DrizzleD1Database, ids: string[]): Promise<TokenRow[]> {
  const rows: TokenRow[] = [];
  for (let i = 0; i < ids.length; i += 90) {
    rows.push(
      ...(await db
        .select()
        .from(tokens)
        .where(inArray(tokens.id, ids.slice(i, i + 90)))
        .all()),
    );
  }
  return rows;
}

export async function countTokens(db: DrizzleD1Database, ownerId: string): Promise<number> {
  const row = await db.select({ n: count() }).from(tokens).where(eq(tokens.ownerId, ownerId)).get();
  return row?.n ?? 0;
}

type StoredTokenState = TokenStateSource & { secretHash: string; pepperVersion: number };

/** The verification read: the token and its owner's current state, by any of the candidate hashes. */
export async function findTokenStateByHash(
  db: DrizzleD1Database,
  hashes: string[],
): Promise<StoredTokenState | undefined> {
  return tokenStateQuery(db)
    .where(hashes.length === 1 ? eq(tokens.secretHash, hashes[0]!) : inArray(tokens.secretHash, hashes))
    .get();
}

/** The same read by token id, whatever hash the row holds now (a pepper upgrade may have changed it). */
export async function findTokenStateById(
  db: DrizzleD1Database,
  id: string,
): Promise<StoredTokenState | undefined> {
  return tokenStateQuery(db).where(eq(tokens.id, id)).get();
}

/** The same read for many tokens at once (at most 90 ids: D1 binds at most 100 parameters). */
export function findTokenStatesByIds(db: DrizzleD1Database, ids: string[]): Promise<StoredTokenState[]> {
  return tokenStateQuery(db).where(inArray(tokens.id, ids)).all();
}

function tokenStateQuery(db: DrizzleD1Database) {
  return db
    .select({
      id: tokens.id,
      type: tokens.type,
      expiresAt: tokens.expiresAt,
      revokedAt: tokens.revokedAt,
      createdAt: tokens.createdAt,
      scopes: tokens.scopes,
      secretHash: tokens.secretHash,
      pepperVersion: tokens.pepperVersion,
      ownerId: tokens.ownerId,
      ownerSubject: principals.subject,
      ownerRole: principals.role,
      ownerActive: principals.active,
    })
    .from(tokens)
    .innerJoin(principals, eq(principals.id, tokens.ownerId));
}

export interface AuditQuery {
  /** Events this principal caused or that concern what it owns (a user's own trail). */
  involving?: string;
  actorId?: string;
  targetId?: string;
  action?: string;
  since?: number;
  until?: number;
  limit: number;
  cursor?: string;
}

export async function listAuditEvents(
  db: DrizzleD1Database,
  query: AuditQuery,
): Promise<Page<typeof auditEvents.$inferSelect>> {
  const where: SQL[] = [];
  if (query.actorId) where.push(eq(auditEvents.actorId, query.actorId));
  if (query.targetId) where.push(eq(auditEvents.targetId, query.targetId));
  // `+action` (no index) beside a narrower filter: the (action, at) index would walk every event of that action.
  const narrowed = Boolean(query.involving || query.actorId || query.targetId);
  if (query.action)
    where.push(
      narrowed ? sql`+${auditEvents.action} = ${query.action}` : eq(auditEvents.action, query.action),
    );
  if (query.since !== undefined) where.push(sql`${auditEvents.at} >= ${query.since}`);
  if (query.until !== undefined) where.push(sql`${auditEvents.at} < ${query.until}`);
  if (query.cursor) {
    const cursor: Cursor = decodeCursor(query.cursor, 'at');
    where.push(keysetAfter(auditEvents.at, true, Number(cursor.k), auditEvents.id, cursor.id));
  }
  const page = (condition: SQL | undefined) =>
    db
      .select()
      .from(auditEvents)
      .where(condition)
      .orderBy(desc(auditEvents.at), desc(auditEvents.id))
      .limit(query.limit + 1);
  const cut = (rows: (typeof auditEvents.$inferSelect)[]) =>
    pageOf(rows, query.limit, (last) => encodeCursor({ s: 'at', k: last.at, id: last.id }));
  const me = query.involving;
  if (!me) return cut(await page(and(...where)).all());
  // A user's own trail: what concerns what they own, or what they did. Filtered by target, the target's index
  // bounds the read. Otherwise `owner = me or actor = me` would make SQLite read every event of both and sort them:
  // instead one page from each index, in its order (the second without the first's rows), merged here.
  if (query.targetId)
    return cut(await page(and(or(eq(auditEvents.ownerId, me), eq(auditEvents.actorId, me)), ...where)).all());
  const [owned, acted] = await db.batch([
    page(and(eq(auditEvents.ownerId, me), ...where)),
    page(and(eq(auditEvents.actorId, me), sql`${auditEvents.ownerId} is not ${me}`, ...where)),
  ]);
  const merged = [...owned, ...acted].sort((a, b) =>
    a.at !== b.at ? b.at - a.at : a.id < b.id ? 1 : a.id > b.id ? -1 : 0,
  );
  return cut(merged.slice(0, query.limit + 1));
}
