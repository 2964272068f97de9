import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { managementAuth } from '../http/authenticate';
import { NO_STORE } from './deps';
import { errorResponses } from './schemas';

const CurrentUser = z
  .object({
    id: z.string().openapi({ example: 'usr_9QmT2vLk4XbN8cWe' }),
    kind: z.enum(['user', 'service_account']),
    subject: z
      .string()
      .nullable()
      .openapi({ description: 'The identity provider subject (`sub`).', example: 'alice' }),
    name: z.string().nullable(),
    email: z.string().nullable(),
    role: z.enum(['admin', 'member']),
    authenticated_with: z.enum(['jwt', 'pat']),
    token_id: z.string().nullable().openapi({ description: 'The PAT used, when authenticated with one.' }),
  })
  .openapi('CurrentUser');

const route = createRoute({
  method: 'get',
  path: '/currentuser',
  tags: ['Identity'],
  summary: 'Who am I',
  description:
    'The authenticated caller, whether it authenticated with a JWT or a PAT (seed 001: `x-pat` header).',
  middleware: [managementAuth({ allowPat: true })] as const,
  responses: {
    200: { description: 'The caller.', content: { 'application/json': { schema: CurrentUser } } },
    ...errorResponses(401, 403, 429, 503),
  },
});

export function registerCurrentUser(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, (c) => {
    const { principal, via, tokenId } = c.get('caller');
    return c.json(
      {
        id: principal.id,
        kind: principal.kind,
        subject: principal.subject,
        name: principal.name,
        email: principal.email,
        role: principal.role,
        authenticated_with: via,
        token_id: tokenId,
      },
      200,
      NO_STORE,
    );
  });
}
