import { describe, expect, it } from 'vitest';
import { createToken } from '../helpers';
import {
  expectJson,
  expectProblem,
  expireInD1,
  getWith,
  newUser,
  postJson,
  type TokenBody,
  type TokenPage,
} from './support';

const ids = (tokens: TokenBody[]) => tokens.map((t) => t.id);
const b64url = (text: string) => btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

async function listPage(jwt: string, query: string): Promise<TokenPage> {
  return expectJson<TokenPage>(await getWith(`/tokens?${query}`, jwt), 200);
}

describe('GET /tokens — filters', () => {
  it('filters by status: active, expired, revoked', async () => {
    const user = await newUser();
    const active = await createToken(user.jwt, { name: 'active one' });
    const expired = await createToken(user.jwt, { name: 'expired one' });
    const revoked = await createToken(user.jwt, { name: 'revoked one' });
    await expireInD1(expired.id);
    expect((await postJson(`/tokens/${revoked.id}/revoke`, user.jwt)).status).toBe(200);

    for (const [status, token] of [
      ['active', active],
      ['expired', expired],
      ['revoked', revoked],
    ] as const) {
      const page = await listPage(user.jwt, `status=${status}`);
      expect(ids(page.data)).toEqual([token.id]);
      expect(page.data[0]?.status).toBe(status);
    }
    expect((await listPage(user.jwt, '')).data).toHaveLength(3);
  });

  it('searches names case-insensitively by substring', async () => {
    const user = await newUser();
    await createToken(user.jwt, { name: 'Deploy production' });
    await createToken(user.jwt, { name: 'staging DEPLOY' });
    await createToken(user.jwt, { name: 'laptop' });
    const page = await listPage(user.jwt, `q=${encodeURIComponent('dEpLoY')}&sort=name`);
    expect(page.data.map((t) => t.name)).toEqual(['Deploy production', 'staging DEPLOY']);
    // Spaces around the search are not part of it (the UI trims too); spaces inside are.
    expect((await listPage(user.jwt, 'q=%20laptop%20')).data.map((t) => t.name)).toEqual(['laptop']);
    expect((await listPage(user.jwt, 'q=y%20p')).data.map((t) => t.name)).toEqual(['Deploy production']);
  });

  it('treats %, _ and \\ in the search as literal characters', async () => {
    const user = await newUser();
    for (const name of ['100% done', '1000 done', 'a_b', 'axb', 'back\\slash', 'backslash'])
      await createToken(user.jwt, { name });
    const search = async (q: string) =>
      (await listPage(user.jwt, `q=${encodeURIComponent(q)}`)).data.map((t) => t.name);
    expect(await search('100%')).toEqual(['100% done']);
    expect(await search('%')).toEqual(['100% done']);
    expect(await search('a_b')).toEqual(['a_b']);
    expect(await search('_')).toEqual(['a_b']);
    expect(await search('k\\s')).toEqual(['back\\slash']);
  });

  it('expiring_within_days lists only active tokens expiring within that many days', async () => {
    const user = await newUser();
    const soon = await createToken(user.jwt, { name: 'soon', expires_in_days: 5 });
    await createToken(user.jwt, { name: 'later', expires_in_days: 60 });
    const expired = await createToken(user.jwt, { name: 'expired', expires_in_days: 3 });
    const revoked = await createToken(user.jwt, { name: 'revoked', expires_in_days: 3 });
    await expireInD1(expired.id);
    await postJson(`/tokens/${revoked.id}/revoke`, user.jwt);
    expect(ids((await listPage(user.jwt, 'expiring_within_days=7')).data)).toEqual([soon.id]);
    expect((await listPage(user.jwt, 'expiring_within_days=61')).data).toHaveLength(2);
    await expectProblem(
      await getWith('/tokens?expiring_within_days=-1', user.jwt),
      400,
      'invalid_parameters',
    );
  });

  it('combines search and status', async () => {
    const user = await newUser();
    const keep = await createToken(user.jwt, { name: 'ci one' });
    const gone = await createToken(user.jwt, { name: 'ci two' });
    await createToken(user.jwt, { name: 'other' });
    await postJson(`/tokens/${gone.id}/revoke`, user.jwt);
    expect(ids((await listPage(user.jwt, 'q=ci&status=active')).data)).toEqual([keep.id]);
  });
});

describe('GET /tokens — invalid parameters', () => {
  it.each([
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=2.5', 'limit'],
    ['status=deleted', 'status'],
    ['sort=owner_id', 'sort'],
    ['sort=secret_hash', 'sort'],
    ['owner_id=usr_x', 'owner_id'],
  ])('answers 400 invalid_parameters for %s', async (query, field) => {
    const user = await newUser();
    const problem = await expectProblem(
      await getWith(`/tokens?${query}`, user.jwt),
      400,
      'invalid_parameters',
    );
    expect(problem.errors?.map((e) => e.field)).toContain(field);
  });

  it('accepts the limit bounds 1 and 100', async () => {
    const user = await newUser();
    await createToken(user.jwt);
    await createToken(user.jwt);
    expect((await listPage(user.jwt, 'limit=1')).data).toHaveLength(1);
    expect((await listPage(user.jwt, 'limit=100')).data).toHaveLength(2);
  });

  it.each([
    ['garbage', 'not-a-cursor!!', 'invalid_cursor'],
    ['base64 of text', b64url('hello world'), 'invalid_cursor'],
    ['base64 of the wrong JSON', b64url(JSON.stringify({ offset: 10 })), 'invalid_cursor'],
    [
      'with extra members',
      b64url(JSON.stringify({ s: '-created_at', k: 1, id: 'x', owner: 'y' })),
      'invalid_cursor',
    ],
    ['too long', 'A'.repeat(1100), 'invalid_parameters'],
  ])('refuses a forged cursor (%s) with 400', async (_label, cursor, code) => {
    const user = await newUser();
    await createToken(user.jwt);
    const res = await getWith(`/tokens?cursor=${encodeURIComponent(cursor)}`, user.jwt);
    const problem = await expectProblem(res, 400, code);
    expect(problem.errors?.map((e) => e.field)).toContain('cursor');
  });

  it('refuses a cursor from another sort with 400 invalid_cursor', async () => {
    const user = await newUser();
    for (let i = 0; i < 3; i++) await createToken(user.jwt, { name: `x${i}` });
    const { next_cursor } = await listPage(user.jwt, 'limit=1&sort=name');
    expect(next_cursor).toEqual(expect.any(String));
    const res = await getWith(`/tokens?limit=1&sort=-created_at&cursor=${next_cursor}`, user.jwt);
    const problem = await expectProblem(res, 400, 'invalid_cursor');
    expect(problem.errors).toEqual([expect.objectContaining({ field: 'cursor' })]);
  });

  it('refuses a hand-made cursor whose key has the wrong type for the sort', async () => {
    const user = await newUser();
    await createToken(user.jwt);
    const cursor = b64url(JSON.stringify({ s: '-created_at', k: 'zzz', id: 'tok_zzzzzzzzzzzzzzzz' }));
    await expectProblem(await getWith(`/tokens?cursor=${cursor}`, user.jwt), 400, 'invalid_cursor');
  });
});

describe('GET /tokens — security', () => {
  it("shows only the caller's tokens, never a secret", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    const mine = await createToken(alice.jwt, { name: 'alice token' });
    const theirs = await createToken(bob.jwt, { name: 'bob token' });
    const res = await getWith('/tokens?limit=100', alice.jwt);
    const text = await res.clone().text();
    const page = await expectJson<TokenPage>(res, 200);
    expect(ids(page.data)).toEqual([mine.id]);
    expect(text).not.toContain(mine.token);
    expect(text).not.toContain(theirs.id);
    expect(page.data[0]).not.toHaveProperty('token');
    expect(page.data[0]).not.toHaveProperty('secret_hash');
    // Searching for the other user's name finds nothing.
    expect((await listPage(alice.jwt, 'q=bob')).data).toEqual([]);
  });
});
