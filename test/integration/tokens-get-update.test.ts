import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call } from '../helpers';
import {
  API,
  DAY_MS,
  expectJson,
  expectProblem,
  expireInD1,
  getWith,
  kvKeyFor,
  newUser,
  patchJson,
  problemShape,
  type TokenBody,
  tokenRow,
  userWithToken,
  utcDate,
  waitForKv,
} from './support';

describe('GET /tokens/{id}', () => {
  it('returns the token without its secret', async () => {
    const { user, created } = await userWithToken({ name: 'read me', description: 'about it' });
    const res = await getWith(`/tokens/${created.id}`, user.jwt);
    const text = await res.clone().text();
    const body = await expectJson<TokenBody>(res, 200);
    expect(body).toMatchObject({
      id: created.id,
      name: 'read me',
      description: 'about it',
      status: 'active',
      hint: created.hint,
    });
    expect(body).not.toHaveProperty('token');
    expect(text).not.toContain(created.token);
  });

  it('reports an expired token as expired', async () => {
    const { user, created } = await userWithToken();
    await expireInD1(created.id);
    const body = await expectJson<TokenBody>(await getWith(`/tokens/${created.id}`, user.jwt), 200);
    expect(body.status).toBe('expired');
  });

  it("answers another user's token exactly like a missing one", async () => {
    const { created } = await userWithToken();
    const stranger = await newUser();
    const theirs = await expectProblem(
      await getWith(`/tokens/${created.id}`, stranger.jwt),
      404,
      'not_found',
    );
    const missing = await expectProblem(
      await getWith('/tokens/tok_0000000000000000', stranger.jwt),
      404,
      'not_found',
    );
    expect(problemShape(theirs)).toEqual(problemShape(missing));
    expect(JSON.stringify(theirs)).not.toContain(created.name);
  });

  it('answers 400 for an id longer than 64 characters', async () => {
    const user = await newUser();
    await expectProblem(await getWith(`/tokens/tok_${'x'.repeat(70)}`, user.jwt), 400, 'invalid_parameters');
  });

  it('refuses a PAT with 403 pat_not_allowed', async () => {
    const { created } = await userWithToken();
    const res = await call(`${API}/tokens/${created.id}`, { headers: { 'x-pat': created.token } });
    await expectProblem(res, 403, 'pat_not_allowed');
  });
});

describe('PATCH /tokens/{id} — happy path', () => {
  it('changes name and description, trims them, and bumps updated_at', async () => {
    const { user, created } = await userWithToken({ name: 'old name', description: 'old' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const res = await patchJson(`/tokens/${created.id}`, user.jwt, {
      name: '  new name ',
      description: 'first\nsecond',
    });
    const body = await expectJson<TokenBody>(res, 200);
    expect(body).toMatchObject({ id: created.id, name: 'new name', description: 'first\nsecond' });
    expect(body.expires_at).toBe(created.expires_at);
    expect(body).not.toHaveProperty('token');
    expect(Date.parse(body.updated_at)).toBeGreaterThan(Date.parse(created.updated_at as string));
    expect(await tokenRow(created.id)).toMatchObject({ name: 'new name', name_key: 'new name' });
  });

  it('clears the description with null or an empty string', async () => {
    const { user, created } = await userWithToken({ description: 'to be cleared' });
    const cleared = await expectJson<TokenBody>(
      await patchJson(`/tokens/${created.id}`, user.jwt, { description: null }),
      200,
    );
    expect(cleared.description).toBeNull();
    await patchJson(`/tokens/${created.id}`, user.jwt, { description: 'again' });
    const emptied = await expectJson<TokenBody>(
      await patchJson(`/tokens/${created.id}`, user.jwt, { description: '' }),
      200,
    );
    expect(emptied.description).toBeNull();
  });

  it('changes the expiration with expires_at or expires_in_days', async () => {
    const { user, created } = await userWithToken();
    const byDate = await expectJson<TokenBody>(
      await patchJson(`/tokens/${created.id}`, user.jwt, { expires_at: utcDate(100) }),
      200,
    );
    expect(byDate.expires_at).toBe(`${utcDate(100)}T00:00:00.000Z`);
    const before = Date.now();
    const byDays = await expectJson<TokenBody>(
      await patchJson(`/tokens/${created.id}`, user.jwt, { expires_in_days: 7 }),
      200,
    );
    expect(Date.parse(byDays.expires_at!) - before).toBeGreaterThanOrEqual(7 * DAY_MS);
    expect(Date.parse(byDays.expires_at!) - before).toBeLessThan(7 * DAY_MS + 5_000);
  });

  it('publishes a changed expiration to the KV record at once', async () => {
    const { user, created } = await userWithToken({ expires_in_days: 90 });
    const key = await kvKeyFor(created.token);
    await waitForKv(key);
    const body = await expectJson<TokenBody>(
      await patchJson(`/tokens/${created.id}`, user.jwt, { expires_in_days: 2 }),
      200,
    );
    const state = await env.TOKEN_CACHE.get<{ exp: number }>(key, 'json');
    expect(state?.exp).toBe(Date.parse(body.expires_at!));
  });

  it('extends an expired token, which becomes active again', async () => {
    const { user, created } = await userWithToken();
    await expireInD1(created.id);
    const body = await expectJson<TokenBody>(
      await patchJson(`/tokens/${created.id}`, user.jwt, { expires_in_days: 30 }),
      200,
    );
    expect(body.status).toBe('active');
    expect(Date.parse(body.expires_at!)).toBeGreaterThan(Date.now());
  });

  it('renames an expired token', async () => {
    const { user, created } = await userWithToken();
    await expireInD1(created.id);
    const body = await expectJson<TokenBody>(
      await patchJson(`/tokens/${created.id}`, user.jwt, { name: 'renamed while expired' }),
      200,
    );
    expect(body).toMatchObject({ name: 'renamed while expired', status: 'expired' });
  });

  it('allows changing only the case of its own name', async () => {
    const { user, created } = await userWithToken({ name: 'ci key' });
    const body = await expectJson<TokenBody>(
      await patchJson(`/tokens/${created.id}`, user.jwt, { name: 'CI Key' }),
      200,
    );
    expect(body.name).toBe('CI Key');
  });

  it('returns the token unchanged for an empty body', async () => {
    const { user, created } = await userWithToken();
    const body = await expectJson<TokenBody>(await patchJson(`/tokens/${created.id}`, user.jwt, {}), 200);
    const { token: _secret, ...withoutSecret } = created;
    expect(body).toEqual(withoutSecret);
  });
});
