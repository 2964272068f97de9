import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createToken } from '../helpers';
import {
  DAY_MS,
  expectJson,
  getWith,
  listAllPages,
  newUser,
  type TokenBody,
  type TokenPage,
} from './support';

const ids = (tokens: TokenBody[]) => tokens.map((t) => t.id);

async function listPage(jwt: string, query: string): Promise<TokenPage> {
  return expectJson<TokenPage>(await getWith(`/tokens?${query}`, jwt), 200);
}

describe('GET /tokens — pagination', () => {
  it('walks 25 tokens in pages of 10 without duplicates or gaps, newest first', async () => {
    const user = await newUser();
    const created: string[] = [];
    for (let i = 0; i < 25; i++) created.push((await createToken(user.jwt, { name: `page ${i}` })).id);

    const pages = await listAllPages(user.jwt, { limit: '10' });
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    const seen = pages.flat();
    expect(new Set(ids(seen)).size).toBe(25);
    expect(new Set(ids(seen))).toEqual(new Set(created));
    // Newest first: created_at never increases along the walk (ties broken by id, descending).
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1]!, seen[i]!];
      const order = Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id > b.id ? 1 : -1);
      expect(order).toBeGreaterThan(0);
    }
    // The order is stable: walking again gives the same sequence.
    expect(ids((await listAllPages(user.jwt, { limit: '10' })).flat())).toEqual(ids(seen));
  });

  it('defaults to 20 per page and ends with next_cursor null', async () => {
    const user = await newUser();
    for (let i = 0; i < 21; i++) await createToken(user.jwt, { name: `d${i}` });
    const first = await listPage(user.jwt, '');
    expect(first.data).toHaveLength(20);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await listPage(user.jwt, `cursor=${first.next_cursor}`);
    expect(second.data).toHaveLength(1);
    expect(second.next_cursor).toBeNull();
  });

  it('returns an empty page for a user with no tokens', async () => {
    const user = await newUser();
    expect(await listPage(user.jwt, '')).toEqual({ data: [], next_cursor: null });
  });
});

describe('GET /tokens — sorting', () => {
  // Four tokens whose names, expiries and last use all order differently.
  async function seed(jwt: string) {
    const specs = [
      { name: 'bravo', expires_in_days: 30, lastUsedDaysAgo: 3 },
      { name: 'Delta', expires_in_days: 10, lastUsedDaysAgo: null },
      { name: 'alpha', expires_in_days: 90, lastUsedDaysAgo: 1 },
      { name: 'charlie', expires_in_days: 60, lastUsedDaysAgo: 2 },
    ];
    const byName: Record<string, string> = {};
    for (const { name, expires_in_days, lastUsedDaysAgo } of specs) {
      const { id } = await createToken(jwt, { name, expires_in_days });
      byName[name] = id;
      if (lastUsedDaysAgo !== null) {
        await env.DB.prepare('update tokens set last_used_at = ? where id = ?')
          .bind(Date.now() - lastUsedDaysAgo * DAY_MS, id)
          .run();
      }
    }
    return byName;
  }

  it.each([
    ['name', ['alpha', 'bravo', 'charlie', 'Delta']],
    ['-name', ['Delta', 'charlie', 'bravo', 'alpha']],
    ['expires_at', ['Delta', 'bravo', 'charlie', 'alpha']],
    ['-expires_at', ['alpha', 'charlie', 'bravo', 'Delta']],
    // Never used sorts first ascending.
    ['last_used_at', ['Delta', 'bravo', 'charlie', 'alpha']],
    ['-last_used_at', ['alpha', 'charlie', 'bravo', 'Delta']],
  ])('sort=%s orders the tokens across pages of 1', async (sort, expected) => {
    const user = await newUser();
    await seed(user.jwt);
    const pages = await listAllPages(user.jwt, { sort, limit: '1' });
    expect(pages.flat().map((t) => t.name)).toEqual(expected);
  });

  it('sort=created_at is the exact reverse of the default order', async () => {
    const user = await newUser();
    for (let i = 0; i < 7; i++) await createToken(user.jwt, { name: `c${i}` });
    const ascending = ids((await listAllPages(user.jwt, { sort: 'created_at', limit: '3' })).flat());
    const descending = ids((await listAllPages(user.jwt, { limit: '3' })).flat());
    expect(ascending).toHaveLength(7);
    expect(ascending).toEqual([...descending].reverse());
  });

  it('sorts a token that never expires last by expires_at', async () => {
    const user = await newUser();
    const byName = await seed(user.jwt);
    await env.DB.prepare('update tokens set expires_at = null where id = ?').bind(byName.alpha).run();
    const pages = await listAllPages(user.jwt, { sort: 'expires_at', limit: '2' });
    expect(pages.flat().map((t) => t.name)).toEqual(['Delta', 'bravo', 'charlie', 'alpha']);
    expect(pages.flat().at(-1)?.expires_at).toBeNull();
  });
});
