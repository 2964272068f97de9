import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { bearer, call, createToken, dumpStorage, jwtFor } from '../helpers';
import { del } from './admin-support';
import {
  API,
  DAY_MS,
  expectJson,
  expectProblem,
  getWith,
  kvKeyFor,
  newUser,
  postJson,
  type TokenBody,
  tokenRow,
  utcDate,
  waitForKv,
} from './support';

const TOKEN_FORMAT = /^pat_[0-9A-Za-z]{36}$/;

describe('POST /tokens — happy path', () => {
  it('returns 201 with the secret once, a Location header and no-store', async () => {
    const user = await newUser();
    const before = Date.now();
    const res = await postJson('/tokens', user.jwt, { name: 'CI deploy' });
    const body = await expectJson<TokenBody>(res, 201);

    expect(body.token).toMatch(TOKEN_FORMAT);
    expect(body).toMatchObject({
      name: 'CI deploy',
      description: null,
      type: 'personal',
      status: 'active',
      scopes: ['read', 'write'],
      revoked_at: null,
      revoke_reason: null,
      rotated_from_id: null,
      last_used_at: null,
    });
    expect(body.id).toMatch(/^tok_[0-9A-Za-z]{16}$/);
    expect(body.hint).toBe(`pat_…${body.token!.slice(-4)}`);
    expect(res.headers.get('Location')).toBe(`${API}/tokens/${body.id}`);
    // Policy default: 30 days from now.
    const expires = Date.parse(body.expires_at!);
    expect(expires).toBeGreaterThanOrEqual(before + 30 * DAY_MS - 5_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 30 * DAY_MS + 5_000);
  });

  it('serves the created token at its Location without the secret', async () => {
    const user = await newUser();
    const res = await postJson('/tokens', user.jwt, { name: 'located' });
    const created = await expectJson<TokenBody>(res, 201);
    const fetched = await expectJson<TokenBody>(
      await call(res.headers.get('Location')!, { headers: user.auth }),
      200,
    );
    const { token: _secret, ...withoutSecret } = created;
    expect(fetched).toEqual(withoutSecret);
    expect(fetched).not.toHaveProperty('token');
  });

  it('stores the trimmed name, a multi-line description and the requested scopes', async () => {
    const user = await newUser();
    const body = await expectJson<TokenBody>(
      await postJson('/tokens', user.jwt, {
        name: '   padded name  ',
        description: '  line one\nline two\n\tindented  ',
        scopes: ['read', 'read'],
      }),
      201,
    );
    expect(body.name).toBe('padded name');
    expect(body.description).toBe('line one\nline two\n\tindented');
    expect(body.scopes).toEqual(['read']);
    const row = await tokenRow(body.id);
    expect(row).toMatchObject({ name: 'padded name', scopes: '["read"]' });
  });

  it('accepts exactly 100 characters, counting emoji as one character each', async () => {
    const user = await newUser();
    const emoji = '😀'.repeat(100);
    const latin = 'a'.repeat(100);
    expect((await createToken(user.jwt, { name: emoji })).name).toBe(emoji);
    expect((await createToken(user.jwt, { name: latin })).name).toBe(latin);
  });

  it('treats a date-only expires_at as 00:00 UTC that day', async () => {
    const user = await newUser();
    const date = utcDate(10);
    const body = await createToken(user.jwt, { expires_at: date });
    expect(body.expires_at).toBe(`${date}T00:00:00.000Z`);
  });

  it('accepts an RFC 3339 expires_at with an offset', async () => {
    const user = await newUser();
    const body = await createToken(user.jwt, { expires_at: `${utcDate(20)}T10:30:00+02:00` });
    expect(body.expires_at).toBe(`${utcDate(20)}T08:30:00.000Z`);
  });

  it('accepts expires_in_days at both ends of the policy (1 and 365 days)', async () => {
    const user = await newUser();
    const before = Date.now();
    const short = await createToken(user.jwt, { expires_in_days: 1 });
    const long = await createToken(user.jwt, { expires_in_days: 365 });
    expect(Date.parse(short.expires_at!) - before).toBeGreaterThanOrEqual(DAY_MS);
    expect(Date.parse(short.expires_at!) - before).toBeLessThan(DAY_MS + 5_000);
    expect(Date.parse(long.expires_at!) - before).toBeGreaterThanOrEqual(365 * DAY_MS);
    expect(Date.parse(long.expires_at!) - before).toBeLessThan(365 * DAY_MS + 5_000);
  });

  it('lets different owners use the same name', async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    const a = await createToken(alice.jwt, { name: 'shared name' });
    const b = await createToken(bob.jwt, { name: 'Shared Name' });
    expect(a.owner_id).not.toBe(b.owner_id);
    expect(b.name).toBe('Shared Name');
  });

  it('issues a distinct secret for every token', async () => {
    const user = await newUser();
    const tokens = new Set<string>();
    for (let i = 0; i < 5; i++) tokens.add((await createToken(user.jwt)).token);
    expect(tokens.size).toBe(5);
  });

  it('publishes an active KV record keyed by the token hash', async () => {
    const user = await newUser();
    const created = await createToken(user.jwt);
    const state = await waitForKv(await kvKeyFor(created.token));
    expect(state).toMatchObject({ id: created.id, state: 'active', exp: Date.parse(created.expires_at!) });
  });
});

describe('POST /tokens — name uniqueness', () => {
  it('refuses a second token with the same name in another case with 409 name_taken', async () => {
    const user = await newUser();
    await createToken(user.jwt, { name: 'Deploy Key' });
    const problem = await expectProblem(
      await postJson('/tokens', user.jwt, { name: '  deploy KEY ' }),
      409,
      'name_taken',
    );
    expect(problem.errors).toEqual([expect.objectContaining({ field: 'name', code: 'duplicate' })]);
    const list = await expectJson<{ data: TokenBody[] }>(await getWith('/tokens', user.jwt), 200);
    expect(list.data.map((t) => t.name)).toEqual(['Deploy Key']);
  });

  it('a revoked token keeps its name, and the refusal says so; deleting it frees the name', async () => {
    const user = await newUser();
    const old = await createToken(user.jwt, { name: 'CI' });
    expect((await postJson(`/tokens/${old.id}/revoke`, user.jwt)).status).toBe(200);
    const problem = await expectProblem(
      await postJson('/tokens', user.jwt, { name: 'ci' }),
      409,
      'name_taken',
    );
    expect(problem.errors?.[0]?.message).toMatch(/revoked ones included.*delete one to reuse its name/);
    expect((await del(`/tokens/${old.id}`, user.jwt)).status).toBe(204);
    expect((await postJson('/tokens', user.jwt, { name: 'ci' })).status).toBe(201);
  });

  it('lets exactly one of two simultaneous creates with the same name win', async () => {
    const user = await newUser();
    const responses = await Promise.all([
      postJson('/tokens', user.jwt, { name: 'race' }),
      postJson('/tokens', user.jwt, { name: 'RACE' }),
    ]);
    expect(responses.map((r) => r.status).sort()).toEqual([201, 409]);
    const loser = responses.find((r) => r.status === 409)!;
    await expectProblem(loser, 409, 'name_taken');
  });
});

describe('POST /tokens — per-owner cap', () => {
  it('refuses the 501st token of an owner with 409 too_many_tokens (the standard policy allows 500)', async () => {
    const user = await newUser();
    const first = await createToken(user.jwt);
    // Seed 499 more rows directly: 500 API calls would only slow the suite down.
    const now = Date.now();
    const insert = env.DB.prepare(
      `insert into tokens (id, owner_id, type, name, name_key, scopes, secret_hash, pepper_version, hint,
         created_at, updated_at, created_by, expires_at)
       values (?, ?, 'personal', ?, ?, '[]', ?, 1, 'pat_…0000', ?, ?, ?, ?)`,
    );
    const rows = Array.from({ length: 499 }, (_, i) => {
      const id = `tok_cap${String(i).padStart(13, '0')}${first.id.slice(-4)}`;
      return insert.bind(
        id,
        first.owner_id,
        `seed ${i}`,
        `seed ${i}`,
        `hash-${id}`,
        now,
        now,
        first.owner_id,
        now + DAY_MS,
      );
    });
    await env.DB.batch(rows);
    await expectProblem(
      await postJson('/tokens', user.jwt, { name: 'one too many' }),
      409,
      'too_many_tokens',
    );
    // Deleting one makes room again.
    await call(`${API}/tokens/${first.id}`, { method: 'DELETE', headers: user.auth });
    expect((await postJson('/tokens', user.jwt, { name: 'fits again' })).status).toBe(201);
  });
});

describe('POST /tokens — security', () => {
  it('answers 401 with a Bearer challenge without credentials, and creates nothing', async () => {
    const res = await call(`${API}/tokens`, { method: 'POST', json: { name: 'anonymous' } });
    await expectProblem(res, 401, 'unauthenticated');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm=/);
    expect(await dumpStorage()).not.toContain('anonymous');
  });

  it('answers 401 invalid_token for a JWT signed with another secret', async () => {
    const jwt = await jwtFor('mallory', { secret: 'not-the-secret-0123456789abcdef0123456789' });
    const res = await postJson('/tokens', jwt, { name: 'forged' });
    await expectProblem(res, 401, 'invalid_token');
  });

  it('refuses a PAT with 403 pat_not_allowed', async () => {
    const user = await newUser();
    const { token } = await createToken(user.jwt);
    const headerSets: Record<string, string>[] = [
      bearer(token),
      { 'x-pat': token },
      { 'x-auth-token': token },
    ];
    for (const headers of headerSets) {
      const res = await call(`${API}/tokens`, { method: 'POST', headers, json: { name: 'by pat' } });
      await expectProblem(res, 403, 'pat_not_allowed');
    }
    const list = await expectJson<{ data: TokenBody[] }>(await getWith('/tokens', user.jwt), 200);
    expect(list.data).toHaveLength(1);
  });

  it('never stores the secret: D1 and KV hold only its hash', async () => {
    const user = await newUser();
    const created = await createToken(user.jwt);
    const key = await kvKeyFor(created.token);
    await waitForKv(key);
    const row = await tokenRow(created.id);
    expect(`tok:${row?.secret_hash}`).toBe(key);
    const storage = await dumpStorage();
    expect(storage).toContain(created.id);
    expect(storage).not.toContain(created.token);
    expect(storage).not.toContain(created.token.slice(4));
  });
});
