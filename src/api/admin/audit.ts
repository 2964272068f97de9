import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../../env';
import { managementAuth } from '../../http/authenticate';
import { listAuditEvents } from '../../tokens/repository';
import { AuditEvent, toAuditResource } from '../audit-list';
import { NO_STORE } from '../deps';
import { cursorSchema, errorResponses, limitSchema } from '../schemas';
import { dateParam, requireAdmin } from './common';

// The whole audit log, for admins: every admin action and token change, filterable by actor, target, action and
// time range.

const route = createRoute({
  method: 'get',
  path: '/admin/audit',
  tags: ['Admin'],
  summary: 'The audit log',
  middleware: [managementAuth(), requireAdmin] as const,
  request: {
    query: z
      .object({
        actor_id: z.string().max(64).optional(),
        target_id: z.string().max(64).optional(),
        action: z.string().max(64).optional().openapi({ example: 'token.revoked' }),
        since: dateParam,
        until: dateParam,
        limit: limitSchema,
        cursor: cursorSchema,
      })
      .strict(),
  },
  responses: {
    200: {
      description: 'A page of events, newest first.',
      content: {
        'application/json': {
          schema: z.object({ data: z.array(AuditEvent), next_cursor: z.string().nullable() }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 503),
  },
});

export function registerAdminAudit(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const q = c.req.valid('query');
    const page = await listAuditEvents(c.get('db'), {
      actorId: q.actor_id,
      targetId: q.target_id,
      action: q.action,
      since: q.since,
      until: q.until,
      limit: q.limit,
      cursor: q.cursor,
    });
    return c.json({ data: page.data.map(toAuditResource), next_cursor: page.nextCursor }, 200, NO_STORE);
  });
}
