import type { Context } from 'hono';
import { verifyPat } from '../auth/verify-pat';
import type { AppEnv } from '../env';
import { AppError } from '../errors';
import { secretsEqual } from '../lib/timing-safe';

// RFC 7662 token introspection, for resource servers that cannot sit behind the proxy. The caller authenticates
// with a configured client credential (HTTP Basic, §2.1); any token that is not currently valid is simply
// {"active": false} (§2.2), whatever the reason.

async function authenticateClient(c: Context<AppEnv>): Promise<string> {
  const unauthorized = new AppError(401, 'invalid_client', 'Client authentication failed', {
    detail: 'Introspection needs a configured client credential (HTTP Basic).',
    headers: { 'WWW-Authenticate': 'Basic realm="pat-gateway-introspection"' },
  });
  const header = c.req.header('authorization') ?? '';
  if (!/^basic /i.test(header)) throw unauthorized;
  let decoded: string;
  try {
    decoded = atob(header.slice(6).trim());
  } catch {
    throw unauthorized;
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw unauthorized;
  let clientId: string;
  try {
    clientId = decodeURIComponent(decoded.slice(0, colon));
  } catch {
    throw unauthorized;
  }
  const expected = c.get('config').introspectionClients.get(clientId);
  // Compare even for unknown clients, so timing does not reveal which client ids exist.
  const ok = await secretsEqual(decoded.slice(colon + 1), expected ?? '\u0000unknown-client');
  if (!expected || !ok) throw unauthorized;
  return clientId;
}

export async function introspect(c: Context<AppEnv>): Promise<Response> {
  const clientId = await authenticateClient(c);
  const contentType = c.req.header('content-type') ?? '';
  if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw new AppError(415, 'unsupported_media_type', 'Unsupported media type', {
      detail: 'Send the token as application/x-www-form-urlencoded (RFC 7662 §2.1).',
    });
  }
  const form = new URLSearchParams(new TextDecoder().decode(await c.req.arrayBuffer()));
  const token = form.get('token');
  if (!token) {
    throw new AppError(400, 'invalid_request', 'Invalid request', {
      detail: 'The `token` parameter is required.',
      errors: [{ field: 'token', code: 'required', message: 'Required.' }],
    });
  }
  const config = c.get('config');
  const now = Date.now();
  const result = await verifyPat(token, {
    config,
    db: c.get('db'),
    kv: c.env.TOKEN_CACHE,
    now,
    waitUntil: (p) => c.executionCtx.waitUntil(p),
  });
  const headers = { 'Cache-Control': 'no-store' };
  if (!result.ok) return c.json({ active: false }, 200, headers);
  const { state } = result;
  return c.json(
    {
      active: true,
      token_type: 'access_token',
      client_id: clientId,
      sub: state.owner.id,
      ...(state.owner.subject ? { username: state.owner.subject } : {}),
      token_id: state.id,
      pat_type: state.type,
      scope: result.scopes.join(' '),
      iat: Math.floor(state.iat / 1000),
      ...(state.exp !== null ? { exp: Math.floor(state.exp / 1000) } : {}),
      iss: config.gateway.issuer,
    },
    200,
    headers,
  );
}
