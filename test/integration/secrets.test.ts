import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { bearer, call, createToken, dumpStorage } from '../helpers';
import {
  API,
  expectJson,
  kvKeyFor,
  newUser,
  postJson,
  type TokenBody,
  tokenRow,
  userWithToken,
  waitForKv,
} from './support';

// Where a token's secret may appear: in the one response that created it, and nowhere else — not in D1, not
// in KV, not in any later response, not echoed in errors.

describe('secrets at rest', () => {
  it('keeps no plaintext token in D1 or KV after creates, rotations, revocations and deletes', async () => {
    const user = await newUser();
    const secrets: string[] = [];
    const keep = await createToken(user.jwt, { name: 'kept', description: 'plain' });
    const rotated = await createToken(user.jwt, { name: 'rotated' });
    const revoked = await createToken(user.jwt, { name: 'revoked' });
    const deleted = await createToken(user.jwt, { name: 'deleted' });
    secrets.push(keep.token, rotated.token, revoked.token, deleted.token);
    const successor = await expectJson<TokenBody>(
      await postJson(`/tokens/${rotated.id}/rotate`, user.jwt),
      201,
    );
    secrets.push(successor.token!);
    await postJson(`/tokens/${revoked.id}/revoke`, user.jwt);
    await call(`${API}/tokens/${deleted.id}`, { method: 'DELETE', headers: bearer(user.jwt) });
    // Use the live tokens once, so verification caches them too.
    for (const token of [keep.token, successor.token!]) {
      expect((await call(`${API}/currentuser`, { headers: { 'x-pat': token } })).status).toBe(200);
    }
    for (const token of [keep.token, successor.token!]) await waitForKv(await kvKeyFor(token));

    const storage = await dumpStorage();
    expect(storage).toContain(keep.id);
    for (const secret of secrets) {
      expect(storage).not.toContain(secret);
      // Nor its random body without the prefix.
      expect(storage).not.toContain(secret.slice(4, 34));
    }
  });

  it('stores the HMAC-SHA256 of the token under the pepper, and a hint of only the last 4 characters', async () => {
    const { created } = await userWithToken();
    const row = await tokenRow(created.id);
    expect(`tok:${row?.secret_hash}`).toBe(await kvKeyFor(created.token));
    expect(row?.hint).toBe(`pat_…${created.token.slice(-4)}`);
    expect(String(row?.hint)).not.toContain(created.token.slice(4, -4));
  });

  it('keys KV records by the hash only, with values that name the token id, not the secret', async () => {
    const { created } = await userWithToken();
    const key = await kvKeyFor(created.token);
    await waitForKv(key);
    const { keys } = await env.TOKEN_CACHE.list();
    for (const { name } of keys) {
      if (name.startsWith('tok:')) expect(name).toMatch(/^tok:[0-9a-f]{64}$/);
      expect(name).not.toContain(created.token);
      expect((await env.TOKEN_CACHE.get(name)) ?? '').not.toContain(created.token);
    }
    expect(keys.map((k) => k.name)).toContain(key);
  });
});

describe('secrets in responses', () => {
  it('shows the secret in the creating response only', async () => {
    const { user, created } = await userWithToken();
    const readers = [
      getText(`/tokens/${created.id}`, bearer(user.jwt)),
      getText('/tokens?limit=100', bearer(user.jwt)),
      getText(`/tokens?q=${encodeURIComponent(created.name)}`, bearer(user.jwt)),
      getText('/audit', bearer(user.jwt)),
      getText('/currentuser', { 'x-pat': created.token }),
      getText('/tokens/self', { 'x-pat': created.token }),
    ];
    for (const text of await Promise.all(readers)) {
      expect(text).toContain(created.id);
      expect(text).not.toContain(created.token);
      expect(text).not.toContain(created.token.slice(4, 34));
    }
  });

  it('never echoes a presented token in an error', async () => {
    const { user, created } = await userWithToken();
    const wrongRoute = await call(`${API}/tokens`, { headers: { 'x-pat': created.token } });
    expect(wrongRoute.status).toBe(403);
    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    const revoked = await call(`${API}/currentuser`, { headers: bearer(created.token) });
    expect(revoked.status).toBe(401);
    const malformed = await call(`${API}/currentuser`, { headers: bearer(`${created.token}x`) });
    expect(malformed.status).toBe(401);
    for (const res of [wrongRoute, revoked, malformed]) {
      const text = await res.text();
      expect(text).not.toContain(created.token);
      for (const [name, value] of res.headers) expect(`${name}: ${value}`).not.toContain(created.token);
    }
  });

  it('does not put the secret in any response header of the creating response', async () => {
    const user = await newUser();
    const res = await postJson('/tokens', user.jwt, { name: 'headers' });
    const body = await expectJson<TokenBody>(res, 201);
    for (const [name, value] of res.headers) expect(`${name}: ${value}`).not.toContain(body.token);
  });
});

describe('Cache-Control: no-store on every management response', () => {
  it('covers successes, errors and the delete 204', async () => {
    const { user, created } = await userWithToken();
    const jwt = bearer(user.jwt);
    const responses = await Promise.all([
      call(`${API}/tokens`, { headers: jwt }),
      call(`${API}/tokens/${created.id}`, { headers: jwt }),
      call(`${API}/currentuser`, { headers: jwt }),
      call(`${API}/audit`, { headers: jwt }),
      call(`${API}/policy`),
      call(`${API}/tokens/self`, { headers: { 'x-pat': created.token } }),
      call(`${API}/tokens`), // 401
      call(`${API}/tokens/tok_0000000000000000`, { headers: jwt }), // 404
      call(`${API}/tokens?limit=0`, { headers: jwt }), // 400
      call(`${API}/tokens`, { method: 'POST', headers: jwt, json: {} }), // 422
      call(`${API}/tokens`, { headers: { 'x-pat': created.token } }), // 403
    ]);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 401, 404, 400, 422, 403]);
    for (const res of responses) expect(res.headers.get('Cache-Control'), res.url).toBe('no-store');
    const other = await createToken(user.jwt);
    const deleted = await call(`${API}/tokens/${other.id}`, { method: 'DELETE', headers: jwt });
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get('Cache-Control')).toBe('no-store');
  });
});

async function getText(path: string, headers: Record<string, string>): Promise<string> {
  const res = await call(API + path, { headers });
  expect(res.status, path).toBe(200);
  return res.text();
}
