import type { DrizzleD1Database } from 'drizzle-orm/d1';
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

export function auditInsert(db: DrizzleD1Database, ctx: RequestContext, event: AuditInput, at: number) {
  return db.insert(auditEvents).values({
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
  });
}
