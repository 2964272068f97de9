import type { Context } from 'hono';
import { verifyPat } from '../auth/verify-pat';
import type { AppEnv } from '../env';
import { AppError } from '../errors';
import { secretsEqual } from '../lib/timing-safe';
import { noteUse } from './usage';

// RFC 7662 token introspection, for resource servers that cannot sit behind the proxy. The caller authenticates
// with a configured client credential (HTTP Basic, §2.1); any token that is not currently valid is simply
// {"active": false} (§2.2), whatever the reason.

async function authenticateClient(c: Context<AppEnv>): Promise<void> {
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
  const clients = c.get('config').introspectionClients;
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding; many clients (curl -u) skip that,
  // so both spellings are accepted.
  const rawId = decoded.slice(0, colon);
  const formId = formDecoded(rawId);
  const clientId = formId !== null && clients.has(formId) ? formId : rawId;
  const expected = clients.get(clientId);
  const rawSecret = decoded.slice(colon + 1);
  // Both compared, known client or not, so timing does not reveal which client ids exist.
  const candidates = [rawSecret, formDecoded(rawSecret) ?? rawSecret];
  const matches = await Promise.all(
    candidates.map((secret) => secretsEqual(secret, expected ?? '\u0000unknown-client')),
  );
  if (!expected || !matches.includes(true)) throw unauthorized;
}

/** A form-urlencoded value decoded (`+` is a space), or null when it is not valid percent-encoding. */
function formDecoded(value: string): string | null {
  try {
    return decodeURIComponent(value.replaceAll('+', ' '));
  } catch {
    return null;
  }
}

export async function introspect(c: Context<AppEnv>): Promise<Response> {
  await authenticateClient(c);
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
  const db = c.get('db');
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const result = await verifyPat(token, { config, db, kv: c.env.TOKEN_CACHE, now, waitUntil });
  const headers = { 'Cache-Control': 'no-store' };
  if (!result.ok) return c.json({ active: false }, 200, headers);
  const { state } = result;
  // A resource server asks because a client presented the token to it: that is a use.
  noteUse({ db, waitUntil }, config.lastUsedIntervalMs, state.id, undefined, now);
  return c.json(
    {
      active: true,
      token_type: 'access_token',
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
