import type { DrizzleD1Database } from 'drizzle-orm/d1';
import { insertIfPreviousChanged } from './db/conditional';
import { auditEvents } from './db/schema';
import { newId } from './lib/ids';

// Audit events are written in the same D1 batch as the change they describe, so one never exists without the
// other. They hold ids, names and reasons — never a token.

export interface Actor {
  /** Principal id; null for the system (cron) and anonymous callers. */
  id: string | null;
  kind: 'user' | 'service_account' | 'system' | 'anonymous';
  /** Set when the caller authenticated with a PAT. */
  tokenId?: string | null;
}

export interface RequestContext {
  actor: Actor;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export interface AuditInput {
  action: string;
  targetType: 'token' | 'principal';
  targetId: string;
  ownerId: string | null;
  detail?: Record<string, unknown>;
}

function auditRow(ctx: RequestContext, event: AuditInput, at: number) {
  return {
    id: newId('evt'),
    at,
    action: event.action,
    actorId: ctx.actor.id,
    actorKind: ctx.actor.kind,
    actorTokenId: ctx.actor.tokenId ?? null,
    ownerId: event.ownerId,
    targetType: event.targetType,
    targetId: event.targetId,
    ip: ctx.ip,
    userAgent: ctx.userAgent?.slice(0, 512) ?? null,
    detail: event.detail ? JSON.stringify(event.detail) : null,
    requestId: ctx.requestId,
  };
}

export function auditInsert(db: DrizzleD1Database, ctx: RequestContext, event: AuditInput, at: number) {
  return db.insert(auditEvents).values(auditRow(ctx, event, at));
}

/** The audit row, written only if the statement just before it in the batch changed a row. */
export function auditInsertIfChanged(
  db: DrizzleD1Database,
  ctx: RequestContext,
  event: AuditInput,
  at: number,
) {
  return insertIfPreviousChanged(db, auditEvents, auditRow(ctx, event, at));
}
