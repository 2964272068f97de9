import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { tokenPattern } from '../tokens/format';
import { defaultExpiration, expirationBounds } from '../tokens/policy';
import { NO_STORE } from './deps';

const Policy = z
  .object({
    expiration: z.object({
      required: z.boolean(),
      editable: z.boolean(),
      min: z.union([z.object({ days: z.number() }), z.object({ months: z.number() })]),
      max_days: z.number(),
      default_expires_at: z
        .string()
        .openapi({ description: 'What a create without expiration gets, computed now.' }),
      earliest_expires_at: z.string(),
      latest_expires_at: z.string(),
      presets: z.array(z.object({ days: z.number(), expires_at: z.string() })),
    }),
    delete_requires_inactive: z.boolean(),
    max_tokens_per_owner: z.number(),
    scopes: z.object({ all: z.array(z.string()), admin: z.array(z.string()), member: z.array(z.string()) }),
    token_prefix: z.string(),
    token_pattern: z
      .string()
      .openapi({ description: 'Regular expression matching this deployment’s tokens, for secret scanners.' }),
  })
  .openapi('Policy');

const route = createRoute({
  method: 'get',
  path: '/policy',
  tags: ['Policy'],
  summary: 'The token policy',
  security: [],
  description:
    'Read-only, unauthenticated: the rules a UI needs to render the create form. Dates are computed at request time (UTC).',
  responses: { 200: { description: 'The policy.', content: { 'application/json': { schema: Policy } } } },
});

export function registerPolicy(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, (c) => {
    const config = c.get('config');
    const { expiration } = config.policy;
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const bounds = expirationBounds(expiration, now);
    return c.json(
      {
        expiration: {
          required: expiration.required,
          editable: expiration.editable,
          min: expiration.min,
          max_days: expiration.max_days,
          default_expires_at: iso(defaultExpiration(expiration, now)),
          earliest_expires_at: iso(bounds.earliest),
          latest_expires_at: iso(bounds.latest),
          presets: expiration.presets.map((days) => ({ days, expires_at: iso(now + days * 86_400_000) })),
        },
        delete_requires_inactive: config.policy.delete_requires_inactive,
        max_tokens_per_owner: config.policy.max_tokens_per_owner,
        scopes: { all: config.scopes, ...config.roleScopes },
        token_prefix: config.tokenPrefix,
        token_pattern: tokenPattern(config.tokenPrefix),
      },
      200,
      NO_STORE,
    );
  });
}
