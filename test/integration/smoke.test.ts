import { describe, expect, it } from 'vitest';
import { bearer, call, createToken, jwtFor, uniqueUser } from '../helpers';

describe('smoke', () => {
  it('creates and lists', async () => {
    const jwt = await jwtFor(uniqueUser());
    const created = await createToken(jwt, { name: 'first' });
    expect(created.token).toMatch(/^pat_[0-9A-Za-z]{36}$/);
    const res = await call('/api/v1/tokens', { headers: bearer(jwt) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: unknown[] };
    expect(body.data).toHaveLength(1);
  });
});
