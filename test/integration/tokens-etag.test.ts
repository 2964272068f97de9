import { afterEach, describe, expect, it, vi } from 'vitest';
import { bearer, call } from '../helpers';
import { knownUser } from './admin-support';
import {
  API,
  expectJson,
  expectProblem,
  getWith,
  postJson,
  type TokenBody,
  tokenRow,
  userWithToken,
} from './support';

// Optimistic concurrency across requests (RFC 9110 If-Match): a token's ETag is its updated_at, quoted; an edit
// or delete that sends the ETag it read changes the token only if nobody changed it since, else 412 and nothing.

const patch = (id: string, jwt: string, json: unknown, ifMatch?: string) =>
  call(`${API}/tokens/${id}`, {
    method: 'PATCH',
    headers: { ...bearer(jwt), ...(ifMatch === undefined ? {} : { 'If-Match': ifMatch }) },
    json,
  });
const remove = (path: string, jwt: string, ifMatch: string) =>
  call(API + path, { method: 'DELETE', headers: { ...bearer(jwt), 'If-Match': ifMatch } });

async function etagOf(id: string, jwt: string): Promise<{ etag: string; body: TokenBody }> {
  const res = await getWith(`/tokens/${id}`, jwt);
  const etag = res.headers.get('ETag')!;
  return { etag, body: await expectJson<TokenBody>(res, 200) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ETag and If-Match on tokens', () => {
  it('the ETag is the quoted updated_at, on reads and on every answer that is the token', async () => {
    const { user, created } = await userWithToken();
    const { etag, body } = await etagOf(created.id, user.jwt);
    expect(etag).toBe(`"${body.updated_at}"`);
    const edited = await patch(created.id, user.jwt, { description: 'new' }, etag);
    const editedBody = await expectJson<TokenBody>(edited, 200);
    expect(edited.headers.get('ETag')).toBe(`"${editedBody.updated_at}"`);
    const revoked = await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    expect(revoked.headers.get('ETag')).toBe(`"${(await expectJson<TokenBody>(revoked, 200)).updated_at}"`);
  });

  it('every other answer that is one token carries it too, and it is what D1 holds', async () => {
    const user = await knownUser();
    const admin = await knownUser('admin');
    const answers: [string, Response][] = [];
    const keep = async (label: string, res: Promise<Response>) => {
      const answer = await res;
      answers.push([label, answer]);
      return (await answer.clone().json()) as TokenBody & { token?: string };
    };
    const created = await keep('create', postJson('/tokens', user.jwt, { name: 'tagged' }));
    const rotated = await keep('rotate', postJson(`/tokens/${created.id}/rotate`, user.jwt));
    await keep('self', call(`${API}/tokens/self`, { headers: { 'x-pat': rotated.token! } }));
    const other = await keep('create another', postJson('/tokens', user.jwt, { name: 'tagged too' }));
    await keep('admin revoke', postJson(`/admin/tokens/${other.id}/revoke`, admin.jwt));
    await keep('admin restore', postJson(`/admin/tokens/${other.id}/restore`, admin.jwt));
    await keep('admin lookup', postJson('/admin/tokens/lookup', admin.jwt, { token: rotated.token }));
    await keep(
      'self revoke',
      call(`${API}/tokens/self/revoke`, { method: 'POST', headers: { 'x-pat': rotated.token! } }),
    );
    const account = await expectJson<{ id: string }>(
      await postJson('/admin/service-accounts', admin.jwt, { name: `tagged ${crypto.randomUUID()}` }),
      201,
    );
    await keep(
      'service token',
      postJson(`/admin/service-accounts/${account.id}/tokens`, admin.jwt, { name: 'svc' }),
    );
    for (const [label, res] of answers) {
      const body = (await res.json()) as TokenBody;
      expect(res.status, label).toBeLessThan(300);
      expect(res.headers.get('ETag'), label).toBe(`"${body.updated_at}"`);
    }
    // The last answer about each token is its state now.
    expect(Date.parse((await etagOf(rotated.id, user.jwt)).body.updated_at)).toBe(
      (await tokenRow(rotated.id))!.updated_at,
    );
  });

  it('an edit with the ETag read before someone else changed the token is 412 and writes nothing', async () => {
    const { user, created } = await userWithToken({ name: 'before' });
    const { etag } = await etagOf(created.id, user.jwt);
    // Another tab revokes it meanwhile.
    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    await expectProblem(
      await patch(created.id, user.jwt, { name: 'after' }, etag),
      412,
      'precondition_failed',
    );
    expect(await tokenRow(created.id)).toMatchObject({ name: 'before' });
    // With the current ETag it goes through.
    const { etag: current } = await etagOf(created.id, user.jwt);
    expect((await patch(created.id, user.jwt, { name: 'after' }, current)).status).toBe(200);
  });

  it('a delete with a stale ETag is 412 and the token stays; with the current one it is deleted', async () => {
    const { user, created } = await userWithToken();
    const { etag } = await etagOf(created.id, user.jwt);
    expect((await patch(created.id, user.jwt, { description: 'changed elsewhere' })).status).toBe(200);
    await expectProblem(await remove(`/tokens/${created.id}`, user.jwt, etag), 412, 'precondition_failed');
    expect(await tokenRow(created.id)).not.toBeNull();
    const { etag: current } = await etagOf(created.id, user.jwt);
    expect((await remove(`/tokens/${created.id}`, user.jwt, current)).status).toBe(204);
    expect(await tokenRow(created.id)).toBeNull();
  });

  it('If-Match: * and a list holding the current tag match; a weak tag or garbage never does', async () => {
    const { user, created } = await userWithToken();
    const { etag } = await etagOf(created.id, user.jwt);
    await expectProblem(
      await patch(created.id, user.jwt, { description: 'a' }, `W/${etag}`),
      412,
      'precondition_failed',
    );
    await expectProblem(
      await patch(created.id, user.jwt, { description: 'a' }, 'nonsense'),
      412,
      'precondition_failed',
    );
    expect((await patch(created.id, user.jwt, { description: 'b' }, `"x", ${etag}`)).status).toBe(200);
    expect((await patch(created.id, user.jwt, { description: 'c' }, '*')).status).toBe(200);
  });

  it('another user’s token is still 404, whatever If-Match says', async () => {
    const { created } = await userWithToken();
    const { user: other } = await userWithToken();
    await expectProblem(await patch(created.id, other.jwt, { description: 'x' }, '*'), 404, 'not_found');
  });

  it('two changes within one millisecond still get different ETags, so a tag read between them is stale', async () => {
    const { user, created } = await userWithToken();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 1_000);
    const first = await patch(created.id, user.jwt, { description: 'one' });
    const second = await patch(created.id, user.jwt, { description: 'two' });
    const revoked = await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    const tags = [first, second, revoked].map((res) => res.headers.get('ETag'));
    expect(new Set(tags).size).toBe(3);
    await expectProblem(
      await patch(created.id, user.jwt, { name: 'x' }, tags[0]!),
      412,
      'precondition_failed',
    );
    expect((await patch(created.id, user.jwt, { name: 'x' }, tags[2]!)).status).toBe(200);
  });

  it('the admin delete honours If-Match too', async () => {
    const { user, created } = await userWithToken();
    const admin = await knownUser('admin');
    const { etag } = await etagOf(created.id, user.jwt);
    expect((await patch(created.id, user.jwt, { description: 'changed' })).status).toBe(200);
    await expectProblem(
      await remove(`/admin/tokens/${created.id}`, admin.jwt, etag),
      412,
      'precondition_failed',
    );
    const { etag: current } = await etagOf(created.id, user.jwt);
    expect((await remove(`/admin/tokens/${created.id}`, admin.jwt, current)).status).toBe(204);
  });

  it('a restore or a rotation with a stale ETag is 412 and changes nothing; with the current one it goes through', async () => {
    const { user, created } = await userWithToken({ name: 'conditional' });
    const admin = await knownUser('admin');
    const post = (path: string, jwt: string, ifMatch: string) =>
      call(API + path, { method: 'POST', headers: { ...bearer(jwt), 'If-Match': ifMatch } });
    expect((await postJson(`/tokens/${created.id}/revoke`, user.jwt)).status).toBe(200);
    const { etag: revoked } = await etagOf(created.id, user.jwt);
    // Another tab edits it meanwhile: the tag this one holds is stale.
    expect((await patch(created.id, user.jwt, { description: 'edited elsewhere' })).status).toBe(200);
    for (const path of [`/tokens/${created.id}/restore`, `/admin/tokens/${created.id}/restore`]) {
      const jwt = path.startsWith('/admin') ? admin.jwt : user.jwt;
      await expectProblem(await post(path, jwt, revoked), 412, 'precondition_failed');
    }
    expect(await tokenRow(created.id)).toMatchObject({ revoke_reason: 'user' });
    const { etag: current } = await etagOf(created.id, user.jwt);
    const restored = await post(`/tokens/${created.id}/restore`, user.jwt, current);
    expect(restored.status).toBe(200);
    const live = restored.headers.get('ETag')!;

    expect((await patch(created.id, user.jwt, { description: 'edited again' })).status).toBe(200);
    await expectProblem(
      await post(`/tokens/${created.id}/rotate`, user.jwt, live),
      412,
      'precondition_failed',
    );
    expect(await tokenRow(created.id)).toMatchObject({ revoked_at: null });
    const list = await expectJson<{ data: TokenBody[] }>(await getWith('/tokens', user.jwt), 200);
    expect(list.data).toHaveLength(1);
    const { etag: now } = await etagOf(created.id, user.jwt);
    const rotated = await post(`/tokens/${created.id}/rotate`, user.jwt, now);
    expect(rotated.status).toBe(201);
    expect(((await rotated.json()) as TokenBody).description).toBe('edited again');
  });
});
