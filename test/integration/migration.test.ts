import { applyD1Migrations } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bearer, call, createToken, jwtFor, uniqueUser } from '../helpers';

// A new migration applied over existing data keeps every token working. Storage is per test file, so the
// synthetic migration below changes this file's database only. The `strict` route reads D1 on every request,
// so the tokens are checked against the migrated tables, not a cache.

afterEach(() => vi.restoreAllMocks());

function upstreamOk() {
  vi.spyOn(globalThis, 'fetch').mockImplementation(async () => new Response('ok'));
}

describe('migrations over existing data', () => {
  it('tokens created before a schema change still verify, list and revoke after it', async () => {
    upstreamOk();
    const jwt = await jwtFor(uniqueUser('migrate'));
    const before = [
      await createToken(jwt, { name: 'before one' }),
      await createToken(jwt, { name: 'before two' }),
    ];
    for (const t of before) expect((await call('/strict/x', { headers: bearer(t.token) })).status).toBe(200);

    await applyD1Migrations(env.DB, [
      {
        name: '9001_test_add_columns.sql',
        queries: [
          'ALTER TABLE tokens ADD COLUMN test_note text',
          'CREATE INDEX tokens_test_note_idx ON tokens (test_note)',
          "UPDATE tokens SET test_note = 'migrated'",
        ],
      },
    ]);
    const { results } = await env.DB.prepare('select count(*) as n from tokens where test_note = ?')
      .bind('migrated')
      .all<{ n: number }>();
    expect(results[0]!.n).toBeGreaterThanOrEqual(2);

    for (const t of before) expect((await call('/strict/x', { headers: bearer(t.token) })).status).toBe(200);
    const list = await call('/api/v1/tokens?sort=name', { headers: bearer(jwt) });
    expect(((await list.json()) as { data: { name: string }[] }).data.map((t) => t.name)).toEqual([
      'before one',
      'before two',
    ]);
    const after = await createToken(jwt, { name: 'after' });
    expect((await call('/strict/x', { headers: bearer(after.token) })).status).toBe(200);
    expect(
      (await call(`/api/v1/tokens/${before[0]!.id}/revoke`, { method: 'POST', headers: bearer(jwt) })).status,
    ).toBe(200);
    expect((await call('/strict/x', { headers: bearer(before[0]!.token) })).status).toBe(401);
  });
});
