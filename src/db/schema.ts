import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Times are integers in epoch milliseconds (UTC). The API renders them as ISO 8601 strings.

/** Someone who can own tokens: a human user (from the identity JWT) or a service account (made by an admin). */
export const principals = sqliteTable(
  'principals',
  {
    /** `usr_…` for users, `svc_…` for service accounts. */
    id: text('id').primaryKey(),
    /** `user` or `service_account`. */
    kind: text('kind', { enum: ['user', 'service_account'] }).notNull(),
    /** The identity provider's `sub` claim; null for service accounts. */
    subject: text('subject'),
    /** Display name (from the JWT `name` claim, or set by an admin for a service account). */
    name: text('name'),
    /** E-mail from the JWT `email` claim, when present. */
    email: text('email'),
    /** What a service account is for. */
    description: text('description'),
    /** `admin` or `member`; refreshed from every JWT for users. */
    role: text('role', { enum: ['admin', 'member'] }).notNull(),
    /** 0 when an admin (or SCIM) deactivated the principal: its personal tokens stop working. */
    active: integer('active', { mode: 'boolean' }).notNull().default(true),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    /** Last time a management call authenticated as this principal. */
    lastSeenAt: integer('last_seen_at'),
    /** Principal id of the admin who created a service account. */
    createdBy: text('created_by'),
    /**
     * `name` lower-cased in JavaScript (SQLite's lower() only knows ASCII), so that "Équipe" and "équipe" are one
     * service account name. Written with the name (src/auth/principals.ts `principalKeys`).
     */
    nameKey: text('name_key'),
    /** Name, e-mail and subject lower-cased in JavaScript, for the admin search (`?q=`). */
    searchKey: text('search_key').notNull().default(''),
    /**
     * Issue time (epoch ms, the JWT `iat`) of the newest JWT whose claims set the role and profile: an older JWT,
     * still unexpired, never sets them back (a demoted admin's earlier token cannot re-promote them).
     */
    claimsIssuedAt: integer('claims_issued_at'),
    /**
     * When the identity provider deleted the user (SCIM DELETE): the row stays, inactive, so the subject keeps
     * pointing at it (a JWT issued before gets no account) and the audit trail keeps its principal.
     */
    deletedAt: integer('deleted_at'),
  },
  (t) => [
    uniqueIndex('principals_subject_uq').on(t.subject),
    // Subjects compare case-insensitively on first sign-in and in SCIM's userName filter (`subjectMatches`).
    index('principals_subject_lower_idx').on(sql`lower(${t.subject})`),
    // Service account names are unique, case-insensitively.
    uniqueIndex('principals_service_name_key_uq').on(t.nameKey).where(sql`${t.kind} = 'service_account'`),
  ],
);

/** One personal access token. The secret itself is never stored: only its keyed hash and a display hint. */
export const tokens = sqliteTable(
  'tokens',
  {
    /** `tok_…`: the public id used in URLs; unrelated to the secret. */
    id: text('id').primaryKey(),
    /** The principal whose rights the token carries. */
    ownerId: text('owner_id')
      .notNull()
      .references(() => principals.id),
    /** `personal` (owned by a user) or `service` (owned by a service account). */
    type: text('type', { enum: ['personal', 'service'] }).notNull(),
    /** Trimmed display name, 1–100 characters. */
    name: text('name').notNull(),
    /** Lower-cased name: unique per owner, so names compare case-insensitively. */
    nameKey: text('name_key').notNull(),
    description: text('description'),
    /** JSON array of scope names, sorted. */
    scopes: text('scopes').notNull().default('[]'),
    /** Lower-case hex HMAC-SHA256(pepper, token). Unique: the lookup key of every verification. */
    secretHash: text('secret_hash').notNull(),
    /** Which pepper produced `secret_hash`, so peppers can be rotated. */
    pepperVersion: integer('pepper_version').notNull(),
    /** Display hint: the prefix and the last 4 characters, e.g. `pat_…x9Qa`. */
    hint: text('hint').notNull(),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    /** Principal id of whoever created it (the owner, or an admin for service tokens). */
    createdBy: text('created_by').notNull(),
    /** Null means the token never expires (only when the policy allows it). */
    expiresAt: integer('expires_at'),
    revokedAt: integer('revoked_at'),
    revokedBy: text('revoked_by'),
    /**
     * `user`, `admin`, `rotated`, `leaked`, `inactivity` or `deprovisioned`. Only `user` and `admin` revocations can be
     * restored.
     */
    revokeReason: text('revoke_reason'),
    /** Written at most once a minute per token by the gateway. */
    lastUsedAt: integer('last_used_at'),
    lastUsedIp: text('last_used_ip'),
    /** The token this one replaced through rotation. */
    rotatedFromId: text('rotated_from_id'),
  },
  (t) => [
    uniqueIndex('tokens_secret_hash_uq').on(t.secretHash),
    // Names are unique per owner among tokens not retired by rotation (a rotated token's successor keeps the name).
    uniqueIndex('tokens_owner_name_uq')
      .on(t.ownerId, t.nameKey)
      .where(sql`${t.revokeReason} IS NOT 'rotated'`),
    index('tokens_owner_created_idx').on(t.ownerId, t.createdAt),
    index('tokens_expires_idx').on(t.expiresAt),
    // The admin inventory (every owner's tokens) in each of its sort orders, read a page at a time in index order
    // (src/tokens/repository.ts SORT_KEYS: the expressions must stay identical).
    index('tokens_created_id_idx').on(t.createdAt, t.id),
    index('tokens_name_id_idx').on(t.nameKey, t.id),
    index('tokens_expiry_sort_idx').on(sql`coalesce(${t.expiresAt}, 9007199254740991)`, t.id),
    index('tokens_last_used_sort_idx').on(sql`coalesce(${t.lastUsedAt}, 0)`, t.id),
  ],
);

/** Append-only record of every change to tokens and principals, and of notable gateway events. Never holds a secret. */
export const auditEvents = sqliteTable(
  'audit_events',
  {
    id: text('id').primaryKey(),
    at: integer('at').notNull(),
    /** Dotted verb, e.g. `token.created`, `token.revoked`. */
    action: text('action').notNull(),
    /** Principal that acted; null for the system (cron) and anonymous callers (leak reports). */
    actorId: text('actor_id'),
    /** `user`, `service_account`, `system` or `anonymous`. */
    actorKind: text('actor_kind').notNull(),
    /** Set when the actor authenticated with a PAT rather than a JWT. */
    actorTokenId: text('actor_token_id'),
    /** Principal that owns the target, so owners can list what happened to their tokens. */
    ownerId: text('owner_id'),
    /** `token` or `principal`. */
    targetType: text('target_type').notNull(),
    targetId: text('target_id').notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
    /** JSON object with action-specific facts (changed fields, reason); never a secret. */
    detail: text('detail'),
    requestId: text('request_id'),
  },
  (t) => [
    index('audit_owner_at_idx').on(t.ownerId, t.at),
    index('audit_actor_at_idx').on(t.actorId, t.at),
    index('audit_target_at_idx').on(t.targetId, t.at),
    index('audit_at_idx').on(t.at),
    // The admin trail filtered by action alone. Queries that also filter by actor, target or owner write `+action`
    // (src/tokens/repository.ts, src/cron/hygiene.ts) so that SQLite keeps their narrower index.
    index('audit_action_at_idx').on(t.action, t.at),
  ],
);

export type PrincipalRow = typeof principals.$inferSelect;
export type TokenRow = typeof tokens.$inferSelect;
export type AuditRow = typeof auditEvents.$inferSelect;

/**
 * A token's `updated_at` for a change: now, but always after the value it replaces, so it orders changes even
 * within one millisecond. It is the token's version (its ETag), which If-Match and the guarded writes compare.
 * `nextUpdatedAt` is the stored value; `nextUpdatedAtAfter` the same for the row as read, for the answer.
 */
export const nextUpdatedAt = (now: number) => sql<number>`max(${now}, ${tokens.updatedAt} + 1)`;
export const nextUpdatedAtAfter = (row: { updatedAt: number }, now: number) =>
  Math.max(now, row.updatedAt + 1);

/**
 * Tokens whose KV record must still be brought in line with D1 (src/tokens/kv-sync.ts): written in the same D1 batch
 * as a bulk change, or when KV refused a write, and removed once KV matches. The minute cron retries what is left.
 * Holds the token's hash as published (never the token).
 */
export const kvOutbox = sqliteTable(
  'kv_outbox',
  {
    tokenId: text('token_id').primaryKey(),
    hash: text('hash').notNull(),
    /** When the change was made (ms): a row is done by a resync whose D1 read began after it. */
    since: integer('since').notNull(),
  },
  // The minute cron takes the oldest first; during a KV outage the table grows.
  (t) => [index('kv_outbox_since_idx').on(t.since)],
);
