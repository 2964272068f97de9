import { describe, expect, it } from 'vitest';
import { bearer, call, createToken } from '../helpers';
import {
  API,
  expectFieldError,
  expectProblem,
  newUser,
  patchJson,
  problemShape,
  tokenRow,
  userWithToken,
  utcDate,
} from './support';

describe('PATCH /tokens/{id} — validation', () => {
  it('refuses a name another of your tokens has (any case) with 409 name_taken', async () => {
    const user = await newUser();
    await createToken(user.jwt, { name: 'Production' });
    const other = await createToken(user.jwt, { name: 'staging' });
    await expectProblem(
      await patchJson(`/tokens/${other.id}`, user.jwt, { name: 'PRODUCTION' }),
      409,
      'name_taken',
    );
    expect(await tokenRow(other.id)).toMatchObject({ name: 'staging' });
  });

  it.each([
    ['a blank name', { name: '  ' }, 'name'],
    ['a 101-character name', { name: 'n'.repeat(101) }, 'name'],
    ['a two-line name', { name: 'a\nb' }, 'name'],
    ['a 501-character description', { description: 'd'.repeat(501) }, 'description'],
    ['both expiration fields', { expires_at: utcDate(5), expires_in_days: 5 }, 'expires_at'],
    ['an expiration in the past', { expires_at: utcDate(-3) }, 'expires_at'],
    ['an expiration too far out', { expires_in_days: 400 }, 'expires_in_days'],
    ['removing the expiration', { expires_at: null }, 'expires_at'],
    ['an unknown field', { scopes: ['read'] }, 'scopes'],
    ['an unknown field (status)', { status: 'active' }, 'status'],
  ])('refuses %s with 422 and leaves the token unchanged', async (_label, body, field) => {
    const { user, created } = await userWithToken({ name: 'unchanged', description: 'same' });
    await expectFieldError(await patchJson(`/tokens/${created.id}`, user.jwt, body), field);
    const row = await tokenRow(created.id);
    expect(row).toMatchObject({
      name: 'unchanged',
      description: 'same',
      expires_at: Date.parse(created.expires_at!),
      scopes: '["read","write"]',
    });
  });

  it('answers 400 invalid_json and 415 for bodies that are not JSON', async () => {
    const { user, created } = await userWithToken();
    const url = `${API}/tokens/${created.id}`;
    const headers = bearer(user.jwt);
    const badJson = await call(url, {
      method: 'PATCH',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: '{name:',
    });
    await expectProblem(badJson, 400, 'invalid_json');
    const plain = await call(url, {
      method: 'PATCH',
      headers: { ...headers, 'Content-Type': 'text/plain' },
      body: 'name=x',
    });
    await expectProblem(plain, 415, 'unsupported_media_type');
  });
});

describe('PATCH /tokens/{id} — security', () => {
  it("answers 404 for another user's token and does not change it", async () => {
    const { created } = await userWithToken({ name: 'victim' });
    const attacker = await newUser();
    const res = await patchJson(`/tokens/${created.id}`, attacker.jwt, {
      name: 'pwned',
      expires_in_days: 365,
    });
    const problem = await expectProblem(res, 404, 'not_found');
    const missing = await expectProblem(
      await patchJson('/tokens/tok_0000000000000000', attacker.jwt, { name: 'pwned' }),
      404,
      'not_found',
    );
    expect(problemShape(problem)).toEqual(problemShape(missing));
    expect(await tokenRow(created.id)).toMatchObject({
      name: 'victim',
      expires_at: Date.parse(created.expires_at!),
    });
  });

  it('refuses a PAT, even for its own token', async () => {
    const { created } = await userWithToken({ name: 'self' });
    const res = await call(`${API}/tokens/${created.id}`, {
      method: 'PATCH',
      headers: bearer(created.token),
      json: { expires_in_days: 365 },
    });
    await expectProblem(res, 403, 'pat_not_allowed');
    expect(await tokenRow(created.id)).toMatchObject({ expires_at: Date.parse(created.expires_at!) });
  });

  it('answers 401 without credentials', async () => {
    const { created } = await userWithToken();
    const res = await call(`${API}/tokens/${created.id}`, { method: 'PATCH', json: { name: 'x' } });
    await expectProblem(res, 401, 'unauthenticated');
  });
});
