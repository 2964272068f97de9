import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { resetIsolateCache } from '../../src/auth/token-cache';
import { BASE, bearer, call, createToken, jwtFor, uniqueUser } from '../helpers';
import { echo, serviceSetup } from './admin-support';
import {
  API,
  currentUserWithPat,
  expectFieldError,
  expectJson,
  expectProblem,
  expireInD1,
  getWith,
  kvKeyFor,
  newUser,
  postJson,
  type TokenBody,
  tokenRow,
  userWithToken,
  waitForKv,
} from './support';

interface CurrentUser {
  id: string;
  kind: string;
  subject: string;
  name: string | null;
  email: string | null;
  role: 'admin' | 'member';
  authenticated_with: 'jwt' | 'pat';
  token_id: string | null;
}

const patHeaders = (token: string) =>
  [
    ['Authorization: Bearer', bearer(token)],
    ['x-pat', { 'x-pat': token }],
    ['x-auth-token', { 'x-auth-token': token }],
  ] as const;

describe('GET /currentuser', () => {
  it('describes a JWT caller, creating the principal on first sight', async () => {
    const user = await newUser();
    const me = await expectJson<CurrentUser>(await getWith('/currentuser', user.jwt), 200);
    expect(me).toEqual({
      id: expect.stringMatching(/^usr_/),
      kind: 'user',
      subject: user.subject,
      name: `Name of ${user.subject}`,
      email: `${user.subject}@example.test`,
      role: 'member',
      authenticated_with: 'jwt',
      token_id: null,
    });
    const row = await env.DB.prepare('select id, role from principals where subject = ?')
      .bind(user.subject)
      .first();
    expect(row).toEqual({ id: me.id, role: 'member' });
  });

  it('refreshes the profile and role from each JWT', async () => {
    const subject = uniqueUser();
    const first = await expectJson<CurrentUser>(await getWith('/currentuser', await jwtFor(subject)), 200);
    const again = await expectJson<CurrentUser>(
      await getWith('/currentuser', await jwtFor(subject, { role: 'admin', name: 'Renamed' })),
      200,
    );
    expect(again).toMatchObject({ id: first.id, role: 'admin', name: 'Renamed' });
  });

  it('answers 403 principal_inactive to a deactivated user', async () => {
    const user = await newUser();
    const me = await expectJson<CurrentUser>(await getWith('/currentuser', user.jwt), 200);
    await env.DB.prepare('update principals set active = 0 where id = ?').bind(me.id).run();
    await expectProblem(await getWith('/currentuser', user.jwt), 403, 'principal_inactive');
    await expectProblem(await postJson('/tokens', user.jwt, { name: 'x' }), 403, 'principal_inactive');
  });

  it("drops the user's cached token records when a JWT lowers their role; the next use caches the new role", async () => {
    const subject = uniqueUser();
    const created = await createToken(await jwtFor(subject, { role: 'admin' }));
    const key = await kvKeyFor(created.token);
    await waitForKv(key, (s) => (s.owner as { role: string }).role === 'admin');
    await getWith('/currentuser', await jwtFor(subject, { role: 'member' }));
    // A positive record is never written from a snapshot (it could cover a revocation made meanwhile): it goes.
    for (let i = 0; i < 80 && (await env.TOKEN_CACHE.get(key)) !== null; i++)
      await new Promise((resolve) => setTimeout(resolve, 25));
    expect(await env.TOKEN_CACHE.get(key)).toBeNull();
    resetIsolateCache();
    expect((await currentUserWithPat(created.token)).status).toBe(200);
    await waitForKv(key, (s) => s.state === 'active' && (s.owner as { role: string }).role === 'member');
  });

  it('accepts a PAT in Authorization, x-pat and x-auth-token, naming the token', async () => {
    const { user, created } = await userWithToken();
    const viaJwt = await expectJson<CurrentUser>(await getWith('/currentuser', user.jwt), 200);
    for (const [_label, headers] of patHeaders(created.token)) {
      const me = await expectJson<CurrentUser>(await call(`${API}/currentuser`, { headers }), 200);
      expect(me).toMatchObject({
        id: viaJwt.id,
        subject: user.subject,
        authenticated_with: 'pat',
        token_id: created.id,
      });
    }
  });

  it('refuses an expired PAT once no cache vouches for it', async () => {
    const { created } = await userWithToken();
    // Let the create-time KV record land, then age it out as KV would, and expire the token in D1.
    const key = await kvKeyFor(created.token);
    await waitForKv(key);
    await env.TOKEN_CACHE.delete(key);
    resetIsolateCache();
    await expireInD1(created.id);
    await expectProblem(await currentUserWithPat(created.token), 401, 'invalid_token');
  });
});

describe('GET /tokens/self', () => {
  it('returns the calling token (without its secret) for each PAT header', async () => {
    const { created } = await userWithToken({ name: 'who am i', scopes: ['read'] });
    for (const [_label, headers] of patHeaders(created.token)) {
      const res = await call(`${API}/tokens/self`, { headers });
      const text = await res.clone().text();
      const body = await expectJson<TokenBody>(res, 200);
      expect(body).toMatchObject({ id: created.id, name: 'who am i', scopes: ['read'], status: 'active' });
      expect(text).not.toContain(created.token);
    }
  });

  it('answers 400 pat_required to a JWT caller', async () => {
    const user = await newUser();
    await expectProblem(await getWith('/tokens/self', user.jwt), 400, 'pat_required');
  });

  it('answers 401 without credentials and for a revoked PAT', async () => {
    const { user, created } = await userWithToken();
    await expectProblem(await call(`${API}/tokens/self`), 401, 'unauthenticated');
    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    await expectProblem(
      await call(`${API}/tokens/self`, { headers: { 'x-pat': created.token } }),
      401,
      'invalid_token',
    );
  });
});

describe('POST /tokens/self/revoke', () => {
  it('revokes the calling token, which fails on the very next request', async () => {
    const { created } = await userWithToken();
    const other = await createToken((await newUser()).jwt);
    const res = await call(`${API}/tokens/self/revoke`, {
      method: 'POST',
      headers: { 'x-pat': created.token },
    });
    const body = await expectJson<TokenBody>(res, 200);
    expect(body).toMatchObject({ id: created.id, status: 'revoked', revoke_reason: 'user' });

    await expectProblem(await currentUserWithPat(created.token), 401, 'invalid_token');
    const state = await env.TOKEN_CACHE.get<{ state: string }>(await kvKeyFor(created.token), 'json');
    expect(state?.state).toBe('revoked');
    // Only the caller's token: someone else's keeps working.
    expect((await currentUserWithPat(other.token)).status).toBe(200);
  });

  it('leaves sibling tokens of the same owner alone', async () => {
    const { user, created } = await userWithToken();
    const sibling = await createToken(user.jwt);
    await call(`${API}/tokens/self/revoke`, { method: 'POST', headers: bearer(created.token) });
    expect(await tokenRow(sibling.id)).toMatchObject({ revoked_at: null });
    expect((await currentUserWithPat(sibling.token)).status).toBe(200);
  });

  it('answers 400 pat_required to a JWT caller and revokes nothing', async () => {
    const { user, created } = await userWithToken();
    await expectProblem(await postJson('/tokens/self/revoke', user.jwt), 400, 'pat_required');
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
  });

  // Holding the token is the authority: a service account's role (member by default) has no rights on service
  // tokens, but a service token can still see and revoke itself, as a CI job that suspects a leak would.
  it('works for a service token of a member service account, which then stops working at the gateway', async () => {
    const { admin, created } = await serviceSetup('member');
    const headers = { 'x-pat': created.token };
    const self = await expectJson<TokenBody>(await call(`${API}/tokens/self`, { headers }), 200);
    expect(self).toMatchObject({ id: created.id, status: 'active' });
    expect((await echo(created.token)).status).toBe(200);
    const res = await call(`${API}/tokens/self/revoke`, { method: 'POST', headers });
    expect(await expectJson<TokenBody>(res, 200)).toMatchObject({ id: created.id, status: 'revoked' });
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    // An admin can still restore it (a hand revocation, not a final one).
    expect((await postJson(`/tokens/${created.id}/restore`, admin.jwt)).status).toBe(200);
  });

  it('answers 401 to an already revoked PAT', async () => {
    const { created } = await userWithToken();
    const headers = { 'x-auth-token': created.token };
    expect((await call(`${API}/tokens/self/revoke`, { method: 'POST', headers })).status).toBe(200);
    await expectProblem(
      await call(`${API}/tokens/self/revoke`, { method: 'POST', headers }),
      401,
      'invalid_token',
    );
  });
});

describe('POST /dev/session (development mode)', () => {
  it('issues a JWT that the API accepts, with the requested role', async () => {
    const user = uniqueUser('dev').slice(0, 60);
    const res = await call(`${API}/dev/session`, { method: 'POST', json: { user, role: 'admin' } });
    const body = await expectJson<{ token: string; expires_at: string; user: string; role: string }>(
      res,
      200,
    );
    expect(body).toMatchObject({ user, role: 'admin' });
    const hours = (Date.parse(body.expires_at) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(11.9);
    expect(hours).toBeLessThanOrEqual(12);

    const me = await expectJson<CurrentUser>(await getWith('/currentuser', body.token), 200);
    expect(me).toMatchObject({ subject: user, role: 'admin', authenticated_with: 'jwt' });
    expect((await createToken(body.token)).owner_id).toBe(me.id);
  });

  it('defaults to the member role', async () => {
    const user = uniqueUser('dev').slice(0, 60);
    const res = await call(`${API}/dev/session`, { method: 'POST', json: { user } });
    const { token, role } = await expectJson<{ token: string; role: string }>(res, 200);
    expect(role).toBe('member');
    expect((await expectJson<CurrentUser>(await getWith('/currentuser', token), 200)).role).toBe('member');
  });

  it.each([
    ['a user with spaces', { user: 'two words' }, 'user'],
    ['a user over 64 characters', { user: 'u'.repeat(65) }, 'user'],
    ['no user', { role: 'member' }, 'user'],
    ['an unknown role', { user: 'carol', role: 'owner' }, 'role'],
    ['an unknown field', { user: 'carol', admin: true }, 'admin'],
  ])('refuses %s with 422', async (_label, json, field) => {
    await expectFieldError(await call(`${API}/dev/session`, { method: 'POST', json }), field);
  });

  it('answers 415 for a non-JSON body', async () => {
    const res = await call(`${API}/dev/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'user=alice',
    });
    await expectProblem(res, 415, 'unsupported_media_type');
  });

  it.each([
    ['in production', { ENVIRONMENT: 'production', DEV_SESSIONS: 'false' }],
    ['with DEV_SESSIONS off', { ENVIRONMENT: 'development', DEV_SESSIONS: 'false' }],
  ])('does not exist %s, whatever the body (nothing hints that it does)', async (_label, vars) => {
    for (const [type, body] of [
      ['application/json', '{"user":"alice","role":"admin"}'],
      ['application/json', '{"nope":1}'],
      ['application/json', '{"user": '],
      ['text/plain', 'x'],
    ]) {
      const ctx = createExecutionContext();
      const request = new Request(`${BASE}${API}/dev/session`, {
        method: 'POST',
        headers: { 'Content-Type': type! },
        body,
      });
      const res = await createApp().fetch(request, { ...env, ...vars }, ctx);
      await waitOnExecutionContext(ctx);
      await expectProblem(res, 404, 'not_found');
    }
  });
});
