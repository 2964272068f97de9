import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { AppError } from '../errors';
import { validationHook } from '../http/problem';
import { registerAdminAudit } from './admin/audit';
import { registerAdminPrincipals } from './admin/principals';
import { registerAdminTokens } from './admin/tokens';
import { registerAuditList } from './audit-list';
import { registerCredentialRevocation } from './credentials-revoke';
import { registerCurrentUser } from './currentuser';
import { registerDevSession } from './dev-session';
import { registerPolicy } from './policy';
import { registerCreateToken } from './tokens-create';
import { registerDeleteToken } from './tokens-delete';
import { registerGetToken } from './tokens-get';
import { registerListTokens } from './tokens-list';
import { registerRotateToken } from './tokens-rotate';
import { registerSelfRoutes } from './tokens-self';
import { registerRevokeRestore } from './tokens-state-changes';
import { registerUpdateToken } from './tokens-update';

/** The management API, mounted at /api/v1. `/tokens/self` is registered before `/tokens/{id}`. */
export function managementApi(): OpenAPIHono<AppEnv> {
  const api = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  api.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description:
      'A JWT from the identity provider; a few routes also accept a PAT (Bearer, x-pat or x-auth-token).',
  });
  registerCurrentUser(api);
  registerPolicy(api);
  registerSelfRoutes(api);
  // `/tokens/self` is a path of its own (OpenAPI: a concrete path wins over `/tokens/{id}`): the methods it does not
  // have are a 405, not an edit or delete of a token whose id is "self".
  api.on(['PATCH', 'DELETE'], '/tokens/self', (c) => {
    throw new AppError(405, 'method_not_allowed', 'Method not allowed', {
      detail: `${c.req.method} is not an operation of this path; it allows GET, HEAD. To revoke the token you send, POST /tokens/self/revoke.`,
      headers: { Allow: 'GET, HEAD' },
    });
  });
  registerCreateToken(api);
  registerListTokens(api);
  registerGetToken(api);
  registerUpdateToken(api);
  registerRevokeRestore(api);
  registerRotateToken(api);
  registerDeleteToken(api);
  registerAuditList(api);
  registerAdminTokens(api);
  registerAdminPrincipals(api);
  registerAdminAudit(api);
  registerCredentialRevocation(api);
  registerDevSession(api);
  return api;
}
