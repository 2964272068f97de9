import { describe, expect, it } from 'vitest';
import { bearer, call } from '../helpers';
import {
  API,
  expectFieldError,
  expectJson,
  expectProblem,
  getWith,
  newUser,
  postJson,
  type TokenPage,
  utcDate,
} from './support';

/** After a refused create, the user must still have no tokens at all. */
async function expectNoTokens(jwt: string) {
  const page = await expectJson<TokenPage>(await getWith('/tokens', jwt), 200);
  expect(page.data).toEqual([]);
}

describe('POST /tokens — name validation', () => {
  it.each([
    ['missing', {}, 'required'],
    ['empty', { name: '' }, 'blank'],
    ['only spaces', { name: '    ' }, 'blank'],
    ['only Hangul fillers', { name: '\u3164\uFFA0\u115F' }, 'blank'],
    ['only a grapheme joiner and a variation selector', { name: '\u034F\uFE0F' }, 'blank'],
    ['only combining accents', { name: '\u0301\u0301' }, 'blank'],
    ['only blank Braille patterns', { name: '\u2800\u2800' }, 'blank'],
    ['not a string', { name: 42 }, undefined],
    ['null', { name: null }, undefined],
    ['101 characters', { name: 'a'.repeat(101) }, 'too_long'],
    ['101 emoji', { name: '😀'.repeat(101) }, 'too_long'],
    ['a line break inside', { name: 'two\nlines' }, 'invalid_characters'],
    ['a carriage return inside', { name: 'two\rlines' }, 'invalid_characters'],
    ['a tab inside', { name: 'tab\there' }, 'invalid_characters'],
    ['a NUL character', { name: 'nul\u0000here' }, 'invalid_characters'],
    ['a bell character', { name: 'bell\u0007' }, 'invalid_characters'],
    ['DEL', { name: 'del\u007f' }, 'invalid_characters'],
    ['a Unicode line separator', { name: 'a\u2028b' }, 'invalid_characters'],
  ])('refuses a name that is %s', async (_label, body, code) => {
    const user = await newUser();
    await expectFieldError(await postJson('/tokens', user.jwt, body), 'name', code);
    await expectNoTokens(user.jwt);
  });

  it('stores names in one Unicode spelling (NFC): look-alikes collide, and length counts what people see', async () => {
    const user = await newUser();
    const first = await postJson('/tokens', user.jwt, { name: 'Caf\u00e9' });
    expect(first.status).toBe(201);
    const decomposed = await postJson('/tokens', user.jwt, { name: 'Cafe\u0301' });
    expect(decomposed.status).toBe(409);
    expect(((await decomposed.json()) as { code: string }).code).toBe('name_taken');
    // 60 × (e + combining acute) is 60 characters once composed, within the limit of 100.
    const long = await postJson('/tokens', user.jwt, {
      name: 'e\u0301'.repeat(60),
      description: 'Cafe\u0301',
    });
    expect(long.status).toBe(201);
    const body = (await long.json()) as { name: string; description: string };
    expect(body.name).toBe('\u00e9'.repeat(60));
    expect(body.description).toBe('Caf\u00e9');
    // A search typed either way finds it.
    const found = await getWith(`/tokens?q=${encodeURIComponent('Cafe\u0301')}`, user.jwt);
    expect(((await found.json()) as { data: { name: string }[] }).data.map((t) => t.name)).toEqual([
      'Caf\u00e9',
    ]);
  });

  it('reports a name of the wrong type as invalid_type, not as missing', async () => {
    const user = await newUser();
    const problem = await expectFieldError(await postJson('/tokens', user.jwt, { name: 42 }), 'name');
    expect(problem.errors).toEqual([expect.objectContaining({ field: 'name', code: 'invalid_type' })]);
    expect(problem.errors?.[0]?.message).not.toBe('Required.');
  });

  it('refuses a name containing a C1 control character (U+0085 NEXT LINE)', async () => {
    const user = await newUser();
    await expectFieldError(await postJson('/tokens', user.jwt, { name: 'next\u0085line' }), 'name');
    await expectNoTokens(user.jwt);
  });
});

describe('POST /tokens — description validation', () => {
  it('accepts 500 characters and refuses 501', async () => {
    const user = await newUser();
    const ok = await postJson('/tokens', user.jwt, { name: 'd500', description: 'é'.repeat(500) });
    expect(ok.status).toBe(201);
    await expectFieldError(
      await postJson('/tokens', user.jwt, { name: 'd501', description: 'é'.repeat(501) }),
      'description',
      'too_long',
    );
  });

  it('refuses control characters other than tab and line breaks', async () => {
    const user = await newUser();
    await expectFieldError(
      await postJson('/tokens', user.jwt, { name: 'ctl', description: 'escape \u001b[31m red' }),
      'description',
      'invalid_characters',
    );
    await expectNoTokens(user.jwt);
  });
});

describe('POST /tokens — expiration validation', () => {
  it('refuses expires_at and expires_in_days together', async () => {
    const user = await newUser();
    const res = await postJson('/tokens', user.jwt, {
      name: 'both',
      expires_at: utcDate(10),
      expires_in_days: 10,
    });
    await expectFieldError(res, 'expires_at', 'conflict');
    await expectNoTokens(user.jwt);
  });

  it.each([
    ['today (before the 1-day minimum)', { expires_at: utcDate(0) }, 'expires_at', 'too_soon'],
    ['yesterday', { expires_at: utcDate(-1) }, 'expires_at', 'too_soon'],
    ['366 days ahead', { expires_at: utcDate(366) }, 'expires_at', 'too_late'],
    ['366 days from now', { expires_in_days: 366 }, 'expires_in_days', 'too_late'],
    ['0 days', { expires_in_days: 0 }, 'expires_in_days', 'too_small'],
    ['a fraction of a day', { expires_in_days: 1.5 }, 'expires_in_days', undefined],
    ['days as a string', { expires_in_days: '30' }, 'expires_in_days', undefined],
    ['an impossible date', { expires_at: '2027-02-30' }, 'expires_at', 'invalid_date'],
    ['prose', { expires_at: 'tomorrow' }, 'expires_at', 'invalid_date'],
    ['a date-time without offset', { expires_at: `${utcDate(5)}T10:00:00` }, 'expires_at', 'invalid_date'],
    ['never (the policy requires a date)', { expires_at: null }, 'expires_at', 'required'],
  ])('refuses an expiration that is %s', async (_label, fields, field, code) => {
    const user = await newUser();
    await expectFieldError(await postJson('/tokens', user.jwt, { name: 'exp', ...fields }), field, code);
    await expectNoTokens(user.jwt);
  });

  it('accepts the last allowed day (365 days ahead, date-only)', async () => {
    const user = await newUser();
    const res = await postJson('/tokens', user.jwt, { name: 'last day', expires_at: utcDate(365) });
    expect((await expectJson<{ expires_at: string }>(res, 201)).expires_at).toBe(
      `${utcDate(365)}T00:00:00.000Z`,
    );
  });
});

describe('POST /tokens — scopes and unknown fields', () => {
  it('names the position of an unknown scope', async () => {
    const user = await newUser();
    const problem = await expectFieldError(
      await postJson('/tokens', user.jwt, { name: 's', scopes: ['read', 'admin:everything'] }),
      'scopes.1',
      'unknown_scope',
    );
    expect(problem.errors?.map((e) => e.field)).toEqual(['scopes.1']);
    await expectNoTokens(user.jwt);
  });

  // test/vars.ts ROLE_SCOPES: admins may also grant `admin`; members only read and write.
  it("refuses a scope above the caller's role with 403 scope_not_allowed, and grants it to an admin", async () => {
    const member = await newUser('member');
    const problem = await expectProblem(
      await postJson('/tokens', member.jwt, { name: 's', scopes: ['read', 'admin'] }),
      403,
      'scope_not_allowed',
    );
    expect(problem.scopes).toEqual(['admin']);
    // Like every refused field: which one and why.
    expect(problem.errors).toEqual([
      { field: 'scopes.1', code: 'scope_not_allowed', message: 'The role member cannot hold admin.' },
    ]);
    await expectNoTokens(member.jwt);
    const admin = await newUser('admin');
    const res = await postJson('/tokens', admin.jwt, { name: 's', scopes: ['admin', 'read'] });
    expect((await expectJson<{ scopes: string[] }>(res, 201)).scopes).toEqual(['admin', 'read']);
  });

  it('refuses a scope that is not a string', async () => {
    const user = await newUser();
    await expectFieldError(await postJson('/tokens', user.jwt, { name: 's', scopes: [1] }), 'scopes.0');
  });

  it('refuses an unknown body field with unknown_field', async () => {
    const user = await newUser();
    await expectFieldError(
      await postJson('/tokens', user.jwt, { name: 'x', owner_id: 'usr_someoneelse' }),
      'owner_id',
      'unknown_field',
    );
    await expectNoTokens(user.jwt);
  });

  it('reports every invalid field at once', async () => {
    const user = await newUser();
    const problem = await expectProblem(
      await postJson('/tokens', user.jwt, { name: '', description: 'x'.repeat(501), extra: 1 }),
      422,
      'validation_failed',
    );
    expect(new Set(problem.errors?.map((e) => e.field))).toEqual(new Set(['name', 'description', 'extra']));
  });
});

describe('POST /tokens — malformed requests', () => {
  it('answers 400 invalid_json for a body that is not JSON', async () => {
    const user = await newUser();
    const res = await call(`${API}/tokens`, {
      method: 'POST',
      headers: { ...bearer(user.jwt), 'Content-Type': 'application/json' },
      body: '{"name": "unterminated',
    });
    await expectProblem(res, 400, 'invalid_json');
    await expectNoTokens(user.jwt);
  });

  it.each([
    ['text/plain', { 'Content-Type': 'text/plain' }],
    ['form data', { 'Content-Type': 'application/x-www-form-urlencoded' }],
  ])('answers 415 for a %s body', async (_label, headers) => {
    const user = await newUser();
    const res = await call(`${API}/tokens`, {
      method: 'POST',
      headers: { ...bearer(user.jwt), ...headers },
      body: 'name=plain',
    });
    await expectProblem(res, 415, 'unsupported_media_type');
    await expectNoTokens(user.jwt);
  });

  it('answers 415 for a body without a Content-Type', async () => {
    const user = await newUser();
    const res = await call(`${API}/tokens`, {
      method: 'POST',
      headers: bearer(user.jwt),
      body: new TextEncoder().encode('{"name":"no type"}'),
    });
    await expectProblem(res, 415, 'unsupported_media_type');
  });

  it('refuses a JSON body that is not an object', async () => {
    const user = await newUser();
    await expectProblem(await postJson('/tokens', user.jwt, ['name']), 422, 'validation_failed');
    await expectNoTokens(user.jwt);
  });
});
