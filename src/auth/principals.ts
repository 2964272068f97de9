import { and, eq, isNull, lte, ne, or, sql } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { Role } from '../config';
import { changedRows } from '../db/conditional';
import { type PrincipalRow, principals } from '../db/schema';
import { forbidden } from '../errors';
import { newId } from '../lib/ids';
import { nameKey } from '../lib/names';
import type { Identity } from './jwt';

export interface Principal {
  id: string;
  kind: 'user' | 'service_account';
  subject: string | null;
  name: string | null;
  email: string | null;
  role: Role;
  active: boolean;
}

export function toPrincipal(row: PrincipalRow): Principal {
  return {
    id: row.id,
    kind: row.kind,
    subject: row.subject,
    name: row.name,
    email: row.email,
    role: row.role,
    active: row.active,
  };
}

/**
 * The lower-cased keys stored next to a principal's name, e-mail and subject, computed here because SQLite's
 * lower() folds ASCII only: service account names are unique through `nameKey`, the admin search reads `searchKey`.
 */
export function principalKeys(p: { name: string | null; email: string | null; subject: string | null }) {
  return {
    nameKey: p.name === null ? null : nameKey(p.name),
    searchKey: [p.name ?? '', p.email ?? '', p.subject ?? ''].join('\n').toLowerCase(),
  };
}

/** The principal whose subject is `userName`, in any case (SCIM's userName is not case-exact, RFC 7643 §4.1.1). */
export const subjectMatches = (userName: string) => sql`lower(${principals.subject}) = lower(${userName})`;

/** last_seen_at is refreshed at most this often (ms), so ordinary calls do not write. */
const SEEN_INTERVAL_MS = 3_600_000;

export interface UpsertResult {
  principal: Principal;
  /** The previous role when this call changed it (the caller refreshes cached token records). */
  roleChangedFrom: Role | null;
  /** This call created the user (their first sign-in). */
  created: boolean;
}

/**
 * Records a user the first time they call (just in time) and refreshes their profile from later JWTs.
 * Writes only when something changed, or once an hour for last_seen_at.
 */
export async function upsertUser(
  db: DrizzleD1Database,
  identity: Identity,
  now: number,
): Promise<UpsertResult> {
  // An `iat` ahead of our clock (a skewed or broken issuer) counts as now: it must not outrank every later JWT.
  const issuedAt = identity.issuedAt === null ? null : Math.min(identity.issuedAt, now);
  let row = await db.select().from(principals).where(eq(principals.subject, identity.subject)).get();
  if (!row) {
    // A user whose subject differs only in (ASCII) letter case (SCIM's userName is not case-exact, so a provider may
    // have provisioned `ALICE`): the same person or not, the gateway cannot tell. Merging could hand one user
    // another's tokens; a second account would dodge that one's deprovisioning. Neither: the sign-in is refused. The
    // exact subject is not a look-alike: a first sign-in running at once may have just inserted it.
    const lookalike = await db
      .select({ id: principals.id })
      .from(principals)
      .where(and(subjectMatches(identity.subject), ne(principals.subject, identity.subject)))
      .get();
    if (lookalike)
      throw forbidden(
        'subject_conflict',
        'An account whose subject differs from yours only in letter case exists; ask an administrator.',
      );
    const inserted = await db
      .insert(principals)
      .values({
        id: newId('usr'),
        kind: 'user',
        subject: identity.subject,
        name: identity.name,
        email: identity.email,
        ...principalKeys({ name: identity.name, email: identity.email, subject: identity.subject }),
        role: identity.role,
        active: true,
        createdAt: now,
        updatedAt: now,
        lastSeenAt: now,
        claimsIssuedAt: issuedAt,
      })
      // Two first calls at once: the second insert is a no-op and both read the same row below.
      .onConflictDoNothing({ target: principals.subject })
      .run();
    row = await db.select().from(principals).where(eq(principals.subject, identity.subject)).get();
    if (!row) throw new Error('principal vanished after insert');
    return { principal: toPrincipal(row), roleChangedFrom: null, created: changedRows(inserted) === 1 };
  }
  // A JWT issued before the one whose claims the row holds (a demoted admin's earlier, unexpired token) does not
  // set them back: the row's newer role and profile apply to this call too. Nor does any JWT change a user the
  // identity provider deleted (SCIM DELETE): the row stays as deleted, inactive, until provisioned again.
  const older = issuedAt !== null && row.claimsIssuedAt !== null && issuedAt < row.claimsIssuedAt;
  if (older || row.deletedAt !== null)
    return { principal: toPrincipal(row), roleChangedFrom: null, created: false };
  // A claim the JWT does not carry (many issuers send no `name`) keeps what the row holds, such as the profile an
  // identity provider provisioned over SCIM: absent is not empty.
  const profile = {
    name: identity.name ?? row.name,
    email: identity.email ?? row.email,
    role: identity.role,
  };
  const changed = row.name !== profile.name || row.email !== profile.email || row.role !== profile.role;
  if (changed || (row.lastSeenAt ?? 0) + SEEN_INTERVAL_MS < now) {
    const claimsIssuedAt = Math.max(issuedAt ?? 0, row.claimsIssuedAt ?? 0) || null;
    const result = await db
      .update(principals)
      .set({
        ...profile,
        // Also brings the keys of rows written before they were computed here up to date.
        ...principalKeys({ ...profile, subject: identity.subject }),
        lastSeenAt: now,
        claimsIssuedAt,
        ...(changed ? { updatedAt: now } : {}),
      })
      // Nor may it when a newer JWT's call wrote the row after this one read it.
      .where(
        and(
          eq(principals.id, row.id),
          issuedAt === null
            ? undefined
            : or(isNull(principals.claimsIssuedAt), lte(principals.claimsIssuedAt, issuedAt)),
        ),
      )
      .run();
    if (changedRows(result) === 0) {
      const current = await db.select().from(principals).where(eq(principals.id, row.id)).get();
      if (current) return { principal: toPrincipal(current), roleChangedFrom: null, created: false };
    }
    const roleChangedFrom = row.role !== identity.role ? row.role : null;
    row = { ...row, ...profile };
    return { principal: toPrincipal(row), roleChangedFrom, created: false };
  }
  return { principal: toPrincipal(row), roleChangedFrom: null, created: false };
}
