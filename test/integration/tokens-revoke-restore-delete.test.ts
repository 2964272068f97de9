import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, createToken } from '../helpers';
import {
  API,
  currentUserWithPat,
  expectJson,
  expectProblem,
  expireInD1,
  getWith,
  kvKeyFor,
  newUser,
  postJson,
  problemShape,
  type TokenBody,
  tokenRow,
  userWithToken,
  waitForKv,
} from './support';

const del = (id: string, jwt: string) =>
  call(`${API}/tokens/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${jwt}` } });

async function expectPatRefused(token: string) {
  const res = await currentUserWithPat(token);
  await expectProblem(res, 401, 'invalid_token');
  expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm=.*error="invalid_token"/);
}

describe('POST /tokens/{id}/revoke', () => {
  it('revokes: status revoked, reason user, and the PAT fails on the very next request', async () => {
    const { user, created } = await userWithToken();
    // Warm every cache tier first: the PAT works and is remembered in memory and KV.
    expect((await currentUserWithPat(created.token)).status).toBe(200);
    await waitForKv(await kvKeyFor(created.token));

    const body = await expectJson<TokenBody>(await postJson(`/tokens/${created.id}/revoke`, user.jwt), 200);
    expect(body).toMatchObject({ id: created.id, status: 'revoked', revoke_reason: 'user' });
    expect(Date.parse(body.revoked_at!)).toBeLessThanOrEqual(Date.now());
    await expectPatRefused(created.token);
    expect(await tokenRow(created.id)).toMatchObject({
      revoke_reason: 'user',
      revoked_at: expect.any(Number),
    });
  });

  it("leaves a 'revoked' tombstone in KV under the token's hash", async () => {
    const { user, created } = await userWithToken();
    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    const state = await env.TOKEN_CACHE.get<{ id: string; state: string }>(
      await kvKeyFor(created.token),
      'json',
    );
    expect(state).toMatchObject({ id: created.id, state: 'revoked' });
  });

  it('answers 409 already_revoked the second time, keeping the first revocation', async () => {
    const { user, created } = await userWithToken();
    const first = await expectJson<TokenBody>(await postJson(`/tokens/${created.id}/revoke`, user.jwt), 200);
    await expectProblem(await postJson(`/tokens/${created.id}/revoke`, user.jwt), 409, 'already_revoked');
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: Date.parse(first.revoked_at!) });
  });

  it('revokes an expired token too', async () => {
    const { user, created } = await userWithToken();
    await expireInD1(created.id);
    const body = await expectJson<TokenBody>(await postJson(`/tokens/${created.id}/revoke`, user.jwt), 200);
    expect(body.status).toBe('revoked');
  });

  it('lets exactly one of several simultaneous revocations succeed (the others get 409)', async () => {
    for (let round = 0; round < 10; round++) {
      const { user, created } = await userWithToken();
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => postJson(`/tokens/${created.id}/revoke`, user.jwt)),
      );
      expect(responses.filter((r) => r.status === 200)).toHaveLength(1);
      expect(responses.filter((r) => r.status === 409)).toHaveLength(9);
    }
  });
});

describe('POST /tokens/{id}/restore', () => {
  it('restores a revoked token: active again, KV record active, and the PAT works', async () => {
    const { user, created } = await userWithToken();
    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    await expectPatRefused(created.token);

    const body = await expectJson<TokenBody>(await postJson(`/tokens/${created.id}/restore`, user.jwt), 200);
    expect(body).toMatchObject({ status: 'active', revoked_at: null, revoke_reason: null });
    expect((await currentUserWithPat(created.token)).status).toBe(200);
    const state = await env.TOKEN_CACHE.get<{ state: string }>(await kvKeyFor(created.token), 'json');
    expect(state?.state).toBe('active');
  });

  it('restores an expired, revoked token as expired (it still does not work)', async () => {
    const { user, created } = await userWithToken();
    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    await expireInD1(created.id);
    const body = await expectJson<TokenBody>(await postJson(`/tokens/${created.id}/restore`, user.jwt), 200);
    expect(body.status).toBe('expired');
    await expectPatRefused(created.token);
  });

  it('answers 409 not_revoked for an active token', async () => {
    const { user, created } = await userWithToken();
    await expectProblem(await postJson(`/tokens/${created.id}/restore`, user.jwt), 409, 'not_revoked');
  });

  it('answers 409 not_restorable for a token retired by rotation', async () => {
    const { user, created } = await userWithToken();
    expect((await postJson(`/tokens/${created.id}/rotate`, user.jwt)).status).toBe(201);
    await expectProblem(await postJson(`/tokens/${created.id}/restore`, user.jwt), 409, 'not_restorable');
    await expectPatRefused(created.token);
    expect(await tokenRow(created.id)).toMatchObject({ revoke_reason: 'rotated' });
  });

  it('answers 409 name_taken when a newer token took the name meanwhile', async () => {
    const user = await newUser();
    const old = await createToken(user.jwt, { name: 'reused' });
    await postJson(`/tokens/${old.id}/revoke`, user.jwt);
    // The revoked token still holds its name, so the name is only free after a rename.
    await expectProblem(await postJson('/tokens', user.jwt, { name: 'reused' }), 409, 'name_taken');
    await call(`${API}/tokens/${old.id}`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${user.jwt}` },
      json: { name: 'reused-old' },
    });
    await createToken(user.jwt, { name: 'reused' });
    await call(`${API}/tokens/${old.id}`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${user.jwt}` },
      json: { name: 'REUSED' },
    }).then((res) => expectProblem(res, 409, 'name_taken'));
    expect((await postJson(`/tokens/${old.id}/restore`, user.jwt)).status).toBe(200);
  });
});

describe('DELETE /tokens/{id}', () => {
  it('deletes: 204 no-store, gone from D1, KV tombstone, PAT refused, GET 404', async () => {
    const { user, created } = await userWithToken();
    expect((await currentUserWithPat(created.token)).status).toBe(200);
    const res = await del(created.id, user.jwt);
    expect(res.status).toBe(204);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(await res.text()).toBe('');

    expect(await tokenRow(created.id)).toBeNull();
    const state = await env.TOKEN_CACHE.get<{ state: string }>(await kvKeyFor(created.token), 'json');
    expect(state).toMatchObject({ id: created.id, state: 'deleted' });
    await expectPatRefused(created.token);
    await expectProblem(await getWith(`/tokens/${created.id}`, user.jwt), 404, 'not_found');
    await expectProblem(await del(created.id, user.jwt), 404, 'not_found');
  });

  it('deletes revoked and expired tokens', async () => {
    const user = await newUser();
    const revoked = await createToken(user.jwt);
    const expired = await createToken(user.jwt);
    await postJson(`/tokens/${revoked.id}/revoke`, user.jwt);
    await expireInD1(expired.id);
    expect((await del(revoked.id, user.jwt)).status).toBe(204);
    expect((await del(expired.id, user.jwt)).status).toBe(204);
    const page = await expectJson<{ data: unknown[] }>(await getWith('/tokens', user.jwt), 200);
    expect(page.data).toEqual([]);
  });

  it('frees the name for a new token', async () => {
    const { user, created } = await userWithToken({ name: 'recycled' });
    await del(created.id, user.jwt);
    expect((await createToken(user.jwt, { name: 'Recycled' })).name).toBe('Recycled');
  });
});

describe('revoke / restore / delete — security', () => {
  it.each([
    ['revoke', (id: string, jwt: string) => postJson(`/tokens/${id}/revoke`, jwt)],
    ['restore', (id: string, jwt: string) => postJson(`/tokens/${id}/restore`, jwt)],
    ['delete', del],
  ])("%s: another user's token answers 404 like a missing one, and nothing changes", async (_op, send) => {
    const { user, created } = await userWithToken();
    // Give restore something it could act on.
    if (_op === 'restore') await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    const before = await tokenRow(created.id);
    const attacker = await newUser();
    const theirs = await expectProblem(await send(created.id, attacker.jwt), 404, 'not_found');
    const missing = await expectProblem(await send('tok_0000000000000000', attacker.jwt), 404, 'not_found');
    expect(problemShape(theirs)).toEqual(problemShape(missing));
    expect(await tokenRow(created.id)).toEqual(before);
  });

  it.each([
    ['revoke', 'POST', 'revoke'],
    ['restore', 'POST', 'restore'],
    ['delete', 'DELETE', ''],
  ])('%s: refuses a PAT with 403 pat_not_allowed', async (_op, method, action) => {
    const { created } = await userWithToken();
    const path = `${API}/tokens/${created.id}${action ? `/${action}` : ''}`;
    const res = await call(path, { method, headers: { 'x-pat': created.token } });
    await expectProblem(res, 403, 'pat_not_allowed');
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
  });

  it('answers 401 without credentials', async () => {
    const { created } = await userWithToken();
    for (const [method, suffix] of [
      ['POST', '/revoke'],
      ['POST', '/restore'],
      ['DELETE', ''],
    ] as const) {
      const res = await call(`${API}/tokens/${created.id}${suffix}`, { method });
      await expectProblem(res, 401, 'unauthenticated');
      expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm=/);
    }
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
  });
});
