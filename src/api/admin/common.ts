import { z } from '@hono/zod-openapi';
import { inArray } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { MiddlewareHandler } from 'hono';
import { type PrincipalRow, principals, type TokenRow } from '../../db/schema';
import type { AppEnv } from '../../env';
import { forbidden } from '../../errors';
import { parseExpiration } from '../../tokens/policy';
import { TokenResource, toTokenResource } from '../schemas';

// Shared by the admin routes: the admin gate, and tokens rendered with their owner.

/** After managementAuth(): only admins pass (PATs never reach here: managementAuth refuses them). */
export const requireAdmin: MiddlewareHandler<AppEnv> = async function requireAdmin(c, next) {
  if (c.get('caller').principal.role !== 'admin')
    throw forbidden('admin_required', 'This needs the admin role.');
  await next();
};

export const OwnerSummary = z
  .object({
    id: z.string(),
    kind: z.enum(['user', 'service_account']),
    name: z.string().nullable(),
    email: z.string().nullable(),
    subject: z.string().nullable(),
    active: z.boolean(),
  })
  .openapi('OwnerSummary');

export const AdminToken = TokenResource.extend({ owner: OwnerSummary }).openapi('AdminToken');

export const Principal = z
  .object({
    id: z.string(),
    kind: z.enum(['user', 'service_account']),
    subject: z.string().nullable(),
    name: z.string().nullable(),
    email: z.string().nullable(),
    description: z.string().nullable(),
    role: z.enum(['admin', 'member']),
    active: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
    last_seen_at: z.string().nullable(),
    deleted_at: z.string().nullable().openapi({
      description:
        'When the identity provider deleted the user over SCIM (their personal tokens were revoked).',
    }),
  })
  .openapi('Principal');

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function toPrincipalResource(row: PrincipalRow): z.infer<typeof Principal> {
  return {
    id: row.id,
    kind: row.kind,
    subject: row.subject,
    name: row.name,
    email: row.email,
    description: row.description,
    role: row.role,
    active: row.active,
    created_at: iso(row.createdAt)!,
    updated_at: iso(row.updatedAt)!,
    last_seen_at: iso(row.lastSeenAt),
    deleted_at: iso(row.deletedAt),
  };
}

function summary(row: PrincipalRow | undefined, id: string): z.infer<typeof OwnerSummary> {
  if (!row) return { id, kind: 'user', name: null, email: null, subject: null, active: false };
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    email: row.email,
    subject: row.subject,
    active: row.active,
  };
}

/** Tokens with their owners, owners fetched in one query. */
export async function withOwners(db: DrizzleD1Database, rows: TokenRow[], now: number) {
  const ids = [...new Set(rows.map((r) => r.ownerId))];
  const owners = ids.length
    ? await db.select().from(principals).where(inArray(principals.id, ids)).all()
    : [];
  const byId = new Map(owners.map((o) => [o.id, o]));
  return rows.map((row) => ({
    ...toTokenResource(row, now),
    owner: summary(byId.get(row.ownerId), row.ownerId),
  }));
}

/** A date query parameter: `YYYY-MM-DD` or an RFC 3339 date-time, parsed to epoch ms (400 naming it otherwise). */
export const dateParam = z
  .string()
  .max(40)
  .transform((value, ctx) => {
    const ms = parseExpiration(value);
    if (ms === null) {
      ctx.addIssue({
        code: 'custom',
        message: 'YYYY-MM-DD or an RFC 3339 date-time',
        params: { code: 'invalid_date' },
      });
      return z.NEVER;
    }
    return ms;
  })
  .optional()
  .openapi({ type: 'string', format: 'date-time' });
