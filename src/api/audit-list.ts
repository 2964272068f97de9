import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AuditRow } from '../db/schema';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { listAuditEvents } from '../tokens/repository';
import { NO_STORE } from './deps';
import { cursorSchema, errorResponses, limitSchema } from './schemas';

export const AuditEvent = z
  .object({
    id: z.string(),
    at: z.string(),
    action: z.string().openapi({ example: 'token.revoked' }),
    actor: z.object({ id: z.string().nullable(), kind: z.string(), token_id: z.string().nullable() }),
    target: z.object({ type: z.string(), id: z.string() }),
    owner_id: z.string().nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()).nullable(),
    request_id: z.string().nullable(),
  })
  .openapi('AuditEvent');

const route = createRoute({
  method: 'get',
  path: '/audit',
  tags: ['Audit'],
  summary: 'Your audit trail',
  description:
    'Events you caused or that concern your tokens, newest first. Never contains a token. The IP address and user agent of another person acting on your tokens (an admin) are not shown.',
  middleware: [managementAuth()] as const,
  request: {
    query: z
      .object({
        target_id: z
          .string()
          .max(64)
          .optional()
          .openapi({ description: 'Only events about this token (or principal), e.g. one token’s history.' }),
        limit: limitSchema,
        cursor: cursorSchema,
      })
      .strict(),
  },
  responses: {
    200: {
      description: 'A page of events.',
      content: {
        'application/json': {
          schema: z.object({ data: z.array(AuditEvent), next_cursor: z.string().nullable() }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 503),
  },
});

export function registerAuditList(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const { target_id: targetId, limit, cursor } = c.req.valid('query');
    const page = await listAuditEvents(c.get('db'), {
      involving: c.get('caller').principal.id,
      targetId,
      limit,
      cursor,
    });
    const me = c.get('caller').principal.id;
    // Another person's network details (an admin who revoked your token) are theirs: only admins see them, in the
    // admin audit; so are the identity provider's (SCIM) and the system's. Anonymous actors stay visible: who
    // presented your token from where is what you need to know.
    const data = page.data.map((event) => {
      const resource = toAuditResource(event);
      return event.actorKind === 'system' || (event.actorId !== null && event.actorId !== me)
        ? { ...resource, ip: null, user_agent: null }
        : resource;
    });
    return c.json({ data, next_cursor: page.nextCursor }, 200, NO_STORE);
  });
}

export function toAuditResource(e: AuditRow): z.infer<typeof AuditEvent> {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    action: e.action,
    actor: { id: e.actorId, kind: e.actorKind, token_id: e.actorTokenId },
    target: { type: e.targetType, id: e.targetId },
    owner_id: e.ownerId,
    ip: e.ip,
    user_agent: e.userAgent,
    detail: e.detail ? withIsoTimes(JSON.parse(e.detail) as Record<string, unknown>) : null,
    request_id: e.requestId,
  };
}

/**
 * Details store times as epoch ms (the daily job compares them in SQL); the API shows them as ISO strings, as
 * every other time it returns: each `*_at` field, and its `from`/`to` when it records a change.
 */
function withIsoTimes(detail: Record<string, unknown>): Record<string, unknown> {
  const iso = (value: unknown) => (typeof value === 'number' ? new Date(value).toISOString() : value);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(detail)) {
    if (!key.endsWith('_at')) out[key] = value;
    else if (value && typeof value === 'object' && !Array.isArray(value))
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, iso(v)]));
    else out[key] = iso(value);
  }
  return out;
}
