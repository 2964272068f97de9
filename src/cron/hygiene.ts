import { and, isNull, or, SQL, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { getConfig } from '../config';
import { auditEvents, tokens } from '../db/schema';
import type { Env } from '../env';
import type { ServiceDeps } from '../tokens/access';
import { newBudget } from '../tokens/kv-sync';
import { revokeMany } from '../tokens/revocation';

// The daily job (wrangler.toml [triggers]): audit events for tokens expiring within 30 and 7 days and for tokens
// unused for INACTIVE_TOKEN_DAYS, each recorded once per token (a notifier can follow the audit log), and, when
// AUTO_REVOKE_INACTIVE_DAYS is set, revocation of long-unused tokens (reason `inactivity`; GitHub does this after a
// year).

const DAY_MS = 86_400_000;
export const EXPIRY_NOTICE_DAYS = [30, 7];
const AUTO_REVOKE_BATCH = 500;

export interface HygieneSummary {
  expiring: Record<number, number>;
  inactive: number;
  revoked: number;
}

/**
 * Inserts `action` for each token matching `where` that has no such event yet: none since `seenSince`
 * (inactivity), or none for its current expiry (an expiry extended after its notice gets a new one later).
 */
async function noteOnce(
  deps: ServiceDeps,
  action: string,
  where: SQL,
  seenSince: SQL | { sameExpiryWithinMs: number },
) {
  // `+a.action`: the token's events through the (target_id, at) index, not every event of this action through the
  // (action, at) one. A notice for this expiry cannot be older than the notice window before it.
  const seen =
    seenSince instanceof SQL
      ? sql`+a.action = ${action} and a.at > ${seenSince}`
      : sql`+a.action = ${action} and a.at >= t.expires_at - ${seenSince.sameExpiryWithinMs}
          and json_extract(a.detail, '$.expires_at') = t.expires_at`;
  const result = await deps.db.run(sql`
    insert into ${auditEvents} (id, at, action, actor_id, actor_kind, owner_id, target_type, target_id, user_agent, detail)
    select 'evt_' || lower(hex(randomblob(10))), ${deps.now}, ${action}, null, 'system', t.owner_id, 'token', t.id,
      'pat-gateway cron', json_object('expires_at', t.expires_at, 'last_used_at', t.last_used_at)
    from ${tokens} t
    where t.revoked_at is null and (t.expires_at is null or t.expires_at > ${deps.now}) and ${where}
      and not exists (select 1 from ${auditEvents} a where a.target_id = t.id and ${seen})`);
  return result.meta.changes ?? 0;
}

/** `waitUntil` keeps the job's background work (the delayed KV resync of what it revokes) inside the event. */
export async function runHygiene(
  env: Env,
  now: number,
  waitUntil: (promise: Promise<unknown>) => void,
): Promise<HygieneSummary> {
  const config = getConfig(env);
  const deps: ServiceDeps = {
    db: drizzle(env.DB),
    kv: env.TOKEN_CACHE,
    config,
    now,
    ctx: { actor: { id: null, kind: 'system' }, ip: null, userAgent: 'pat-gateway cron', requestId: null },
    waitUntil,
    budget: newBudget(),
  };
  const summary: HygieneSummary = { expiring: {}, inactive: 0, revoked: 0 };
  for (const days of EXPIRY_NOTICE_DAYS) {
    summary.expiring[days] = await noteOnce(
      deps,
      `token.expiring_${days}d`,
      // A closed range (not `is null or > now`): only the tokens expiring in the window are read, through the index.
      sql`t.expires_at > ${now} and t.expires_at <= ${now + days * DAY_MS}`,
      { sameExpiryWithinMs: days * DAY_MS },
    );
  }
  // Idle since the later of its last use and its last change: restoring a token or extending its expiry is its
  // owner saying it is wanted, and must not be followed by a revocation for inactivity the next night.
  const idleSince = sql`max(coalesce(t.last_used_at, t.created_at), t.updated_at)`;
  if (config.hygiene.inactiveDays > 0) {
    // Once per idle stretch: a token used again and then idle again is noted again.
    summary.inactive = await noteOnce(
      deps,
      'token.inactive',
      sql`${idleSince} < ${now - config.hygiene.inactiveDays * DAY_MS}`,
      idleSince,
    );
  }
  if (config.hygiene.autoRevokeDays > 0) {
    const cutoff = now - config.hygiene.autoRevokeDays * DAY_MS;
    const stale = await deps.db
      .select()
      .from(tokens)
      .where(
        and(
          isNull(tokens.revokedAt),
          or(isNull(tokens.expiresAt), sql`${tokens.expiresAt} > ${now}`),
          sql`max(coalesce(${tokens.lastUsedAt}, ${tokens.createdAt}), ${tokens.updatedAt}) < ${cutoff}`,
        ),
      )
      .limit(AUTO_REVOKE_BATCH)
      .all();
    summary.revoked = (await revokeMany(deps, stale, 'inactivity')).length;
  }
  console.log(JSON.stringify({ event: 'hygiene_run', ...summary }));
  return summary;
}
