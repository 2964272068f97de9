import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { bearer, call, createToken, dumpStorage, jwtFor, uniqueUser } from '../helpers';
import {
  API,
  currentUserWithPat,
  DAY_MS,
  expectFieldError,
  expectJson,
  expectProblem,
  expireInD1,
  getWith,
  kvKeyFor,
  newUser,
  postJson,
  problemShape,
  type TokenBody,
  type TokenPage,
  tokenRow,
  userWithToken,
  utcDate,
  waitForKv,
} from './support';

const rotate = (id: string, jwt: string, json?: unknown) => postJson(`/tokens/${id}/rotate`, jwt, json);

describe('POST /tokens/{id}/rotate — happy path', () => {
  it('issues a new secret with the same name, description and scopes, linked to the old token', async () => {
    const { user, created } = await userWithToken({
      name: 'rotate me',
      description: 'keeps this',
      scopes: ['read'],
    });
    const before = Date.now();
    const res = await rotate(created.id, user.jwt);
    const fresh = await expectJson<TokenBody>(res, 201);

    expect(fresh.token).toMatch(/^pat_[0-9A-Za-z]{36}$/);
    expect(fresh.token).not.toBe(created.token);
    expect(fresh.id).not.toBe(created.id);
    expect(fresh).toMatchObject({
      name: 'rotate me',
      description: 'keeps this',
      scopes: ['read'],
      status: 'active',
      rotated_from_id: created.id,
      revoked_at: null,
    });
    expect(res.headers.get('Location')).toBe(`${API}/tokens/${fresh.id}`);
    // No body: the policy default lifetime, counted from now.
    expect(Date.parse(fresh.expires_at!) - before).toBeGreaterThanOrEqual(30 * DAY_MS);
    expect(Date.parse(fresh.expires_at!) - before).toBeLessThan(30 * DAY_MS + 5_000);
  });

  it('retires the old token: revoked with reason rotated, its PAT refused, the new PAT accepted', async () => {
    const { user, created } = await userWithToken();
    expect((await currentUserWithPat(created.token)).status).toBe(200);
    const fresh = await expectJson<TokenBody>(await rotate(created.id, user.jwt), 201);

    const old = await expectJson<TokenBody>(await getWith(`/tokens/${created.id}`, user.jwt), 200);
    expect(old).toMatchObject({ status: 'revoked', revoke_reason: 'rotated' });
    expect((await currentUserWithPat(created.token)).status).toBe(401);
    const me = await expectJson<{ token_id: string }>(await currentUserWithPat(fresh.token!), 200);
    expect(me.token_id).toBe(fresh.id);

    const oldState = await env.TOKEN_CACHE.get<{ state: string }>(await kvKeyFor(created.token), 'json');
    expect(oldState).toMatchObject({ id: created.id, state: 'revoked' });
    expect(await waitForKv(await kvKeyFor(fresh.token!))).toMatchObject({ id: fresh.id, state: 'active' });
  });

  it('lists both tokens under the same name', async () => {
    const { user, created } = await userWithToken({ name: 'twin' });
    const fresh = await expectJson<TokenBody>(await rotate(created.id, user.jwt), 201);
    const page = await expectJson<TokenPage>(await getWith('/tokens?q=twin', user.jwt), 200);
    expect(new Set(page.data.map((t) => t.id))).toEqual(new Set([created.id, fresh.id]));
    expect(page.data.map((t) => t.status).sort()).toEqual(['active', 'revoked']);
  });

  it('takes the new expiration from expires_in_days or expires_at', async () => {
    const user = await newUser();
    const a = await createToken(user.jwt);
    const b = await createToken(user.jwt);
    const before = Date.now();
    const byDays = await expectJson<TokenBody>(await rotate(a.id, user.jwt, { expires_in_days: 90 }), 201);
    expect(Date.parse(byDays.expires_at!) - before).toBeGreaterThanOrEqual(90 * DAY_MS);
    const byDate = await expectJson<TokenBody>(
      await rotate(b.id, user.jwt, { expires_at: utcDate(45) }),
      201,
    );
    expect(byDate.expires_at).toBe(`${utcDate(45)}T00:00:00.000Z`);
  });

  it('can rotate the successor again, forming a chain', async () => {
    const { user, created } = await userWithToken();
    const second = await expectJson<TokenBody>(await rotate(created.id, user.jwt), 201);
    const third = await expectJson<TokenBody>(await rotate(second.id, user.jwt), 201);
    expect(third.rotated_from_id).toBe(second.id);
    expect(await tokenRow(second.id)).toMatchObject({ revoke_reason: 'rotated' });
    expect((await currentUserWithPat(second.token!)).status).toBe(401);
    expect((await currentUserWithPat(third.token!)).status).toBe(200);
  });

  it("drops scopes the owner's current role no longer allows", async () => {
    const subject = uniqueUser();
    const asAdmin = await jwtFor(subject, { role: 'admin' });
    const created = await createToken(asAdmin, { scopes: ['admin', 'read'] });
    expect(created.scopes).toEqual(['admin', 'read']);
    // The same person, demoted (test/vars.ts ROLE_SCOPES: members hold read and write only).
    const asMember = await jwtFor(subject, { role: 'member' });
    const fresh = await expectJson<TokenBody>(await rotate(created.id, asMember), 201);
    expect(fresh.scopes).toEqual(['read']);
  });

  // The body is optional; clients often label an empty one application/json (curl -H, fetch wrappers).
  it('takes an empty body labelled application/json as no body', async () => {
    for (const body of [undefined, '', ' \n']) {
      const { user, created } = await userWithToken();
      const res = await call(`${API}/tokens/${created.id}/rotate`, {
        method: 'POST',
        headers: { ...bearer(user.jwt), 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body }),
      });
      expect(await expectJson<TokenBody>(res, 201)).toMatchObject({ rotated_from_id: created.id });
    }
  });

  it('rotates an expired token into an active one', async () => {
    const { user, created } = await userWithToken();
    await expireInD1(created.id);
    const fresh = await expectJson<TokenBody>(await rotate(created.id, user.jwt), 201);
    expect(fresh.status).toBe('active');
    expect((await currentUserWithPat(fresh.token!)).status).toBe(200);
  });
});

describe('POST /tokens/{id}/rotate — refusals', () => {
  it('answers 409 token_revoked for a revoked token, and for a token already rotated', async () => {
    const user = await newUser();
    const revoked = await createToken(user.jwt);
    await postJson(`/tokens/${revoked.id}/revoke`, user.jwt);
    await expectProblem(await rotate(revoked.id, user.jwt), 409, 'token_revoked');

    const rotated = await createToken(user.jwt);
    expect((await rotate(rotated.id, user.jwt)).status).toBe(201);
    await expectProblem(await rotate(rotated.id, user.jwt), 409, 'token_revoked');
    const page = await expectJson<TokenPage>(await getWith('/tokens', user.jwt), 200);
    expect(page.data).toHaveLength(3);
  });

  it.each([
    ['an unknown field (name)', { name: 'renamed' }, 'name'],
    ['both expiration fields', { expires_at: utcDate(3), expires_in_days: 3 }, 'expires_at'],
    ['an expiration too far out', { expires_in_days: 500 }, 'expires_in_days'],
    ['an expiration in the past', { expires_at: utcDate(-1) }, 'expires_at'],
  ])('refuses %s with 422 and keeps the old token active', async (_label, body, field) => {
    const { user, created } = await userWithToken();
    await expectFieldError(await rotate(created.id, user.jwt, body), field);
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
    expect((await currentUserWithPat(created.token)).status).toBe(200);
  });

  it('answers 400 invalid_json and 415 for bodies that are not JSON', async () => {
    const { user, created } = await userWithToken();
    const url = `${API}/tokens/${created.id}/rotate`;
    const badJson = await call(url, {
      method: 'POST',
      headers: { ...bearer(user.jwt), 'Content-Type': 'application/json' },
      body: '{',
    });
    await expectProblem(badJson, 400, 'invalid_json');
    const plain = await call(url, {
      method: 'POST',
      headers: { ...bearer(user.jwt), 'Content-Type': 'text/plain' },
      body: 'expires_in_days=5',
    });
    await expectProblem(plain, 415, 'unsupported_media_type');
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
  });

  it('answers 409 (never 500) to the losers of simultaneous rotations', async () => {
    for (let round = 0; round < 10; round++) {
      const { user, created } = await userWithToken();
      const responses = await Promise.all(Array.from({ length: 10 }, () => rotate(created.id, user.jwt)));
      expect(responses.map((r) => r.status).filter((s) => s !== 409)).toEqual([201]);
    }
  });
});

describe('POST /tokens/{id}/rotate — security', () => {
  it("answers 404 for another user's token, like a missing one, and leaves it working", async () => {
    const { created } = await userWithToken();
    const attacker = await newUser();
    const theirs = await expectProblem(await rotate(created.id, attacker.jwt), 404, 'not_found');
    const missing = await expectProblem(await rotate('tok_0000000000000000', attacker.jwt), 404, 'not_found');
    expect(problemShape(theirs)).toEqual(problemShape(missing));
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
    expect((await currentUserWithPat(created.token)).status).toBe(200);
    const attackerTokens = await expectJson<TokenPage>(await getWith('/tokens', attacker.jwt), 200);
    expect(attackerTokens.data).toEqual([]);
  });

  it('refuses a PAT (even rotating itself) with 403 pat_not_allowed', async () => {
    const { created } = await userWithToken();
    const res = await call(`${API}/tokens/${created.id}/rotate`, {
      method: 'POST',
      headers: bearer(created.token),
    });
    await expectProblem(res, 403, 'pat_not_allowed');
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
  });

  it('answers 401 without credentials', async () => {
    const { created } = await userWithToken();
    const res = await call(`${API}/tokens/${created.id}/rotate`, { method: 'POST' });
    await expectProblem(res, 401, 'unauthenticated');
  });

  it('stores neither the old nor the new secret, and shows the new one only once', async () => {
    const { user, created } = await userWithToken();
    const fresh = await expectJson<TokenBody>(await rotate(created.id, user.jwt), 201);
    await waitForKv(await kvKeyFor(fresh.token!));
    const storage = await dumpStorage();
    expect(storage).toContain(fresh.id);
    expect(storage).not.toContain(created.token);
    expect(storage).not.toContain(fresh.token);
    for (const path of [`/tokens/${fresh.id}`, `/tokens/${created.id}`, '/tokens', '/audit']) {
      expect(await (await getWith(path, user.jwt)).text()).not.toContain(fresh.token);
    }
  });
});
