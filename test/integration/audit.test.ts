import { describe, expect, it } from 'vitest';
import { bearer, call, createToken } from '../helpers';
import {
  API,
  expectJson,
  expectProblem,
  getWith,
  newUser,
  postJson,
  type TestUser,
  type TokenBody,
  type TokenPage,
  userWithToken,
} from './support';

interface AuditEvent {
  id: string;
  at: string;
  action: string;
  actor: { id: string | null; kind: string; token_id: string | null };
  target: { type: string; id: string };
  owner_id: string | null;
  ip: string | null;
  user_agent: string | null;
  detail: Record<string, unknown> | null;
  request_id: string | null;
}
interface AuditPage {
  data: AuditEvent[];
  next_cursor: string | null;
}

const CLIENT = { 'cf-connecting-ip': '203.0.113.7', 'User-Agent': 'audit-test/1.0 (+integration)' };

/** Sends a management request from CLIENT and returns the response plus its X-Request-Id. */
async function send(user: TestUser, method: string, path: string, json?: unknown) {
  const res = await call(API + path, {
    method,
    headers: { ...bearer(user.jwt), ...CLIENT },
    ...(json === undefined ? {} : { json }),
  });
  return { res, requestId: res.headers.get('X-Request-Id') };
}

async function auditOf(user: TestUser, query = 'limit=100'): Promise<AuditEvent[]> {
  return (await expectJson<AuditPage>(await getWith(`/audit?${query}`, user.jwt), 200)).data;
}

async function myId(user: TestUser): Promise<string> {
  return (await expectJson<{ id: string }>(await getWith('/currentuser', user.jwt), 200)).id;
}

describe('GET /audit — events for every mutation', () => {
  it('records create, update, revoke, restore, rotate and delete with actor, target, ip, UA and request id', async () => {
    const user = await newUser();
    const me = await myId(user);
    const create = await send(user, 'POST', '/tokens', { name: 'audited', scopes: ['read'] });
    const created = (await create.res.json()) as TokenBody;
    const id = created.id;
    const steps = [
      create,
      await send(user, 'PATCH', `/tokens/${id}`, { description: 'now described' }),
      await send(user, 'POST', `/tokens/${id}/revoke`),
      await send(user, 'POST', `/tokens/${id}/restore`),
      await send(user, 'POST', `/tokens/${id}/rotate`),
    ];
    const rotated = (await steps[4]!.res.json()) as TokenBody;
    steps.push(await send(user, 'DELETE', `/tokens/${rotated.id}`));
    expect(steps.map((s) => s.res.status)).toEqual([201, 200, 200, 200, 201, 204]);

    // The user's first call recorded their account (user.created); the rest are the token's events.
    const all = await auditOf(user);
    expect(all.at(-1)).toMatchObject({ action: 'user.created', target: { type: 'principal', id: me } });
    const events = all.filter((e) => e.target.type === 'token');
    // Events in the same millisecond have no defined order, so match each request to its event by action.
    // A rotation starts the successor's trail with its own token.created.
    const expected = [
      ['token.created', id, 0],
      ['token.updated', id, 1],
      ['token.revoked', id, 2],
      ['token.restored', id, 3],
      ['token.rotated', id, 4],
      ['token.created', rotated.id, 4],
      ['token.deleted', rotated.id, 5],
    ] as const;
    expect(events).toHaveLength(expected.length);
    const byEvent = new Map(events.map((e) => [`${e.action} ${e.target.id}`, e]));
    const byAction = new Map(events.filter((e) => e.target.id === id).map((e) => [e.action, e]));
    expected.forEach(([action, targetId, i]) => {
      expect(byEvent.get(`${action} ${targetId}`)).toMatchObject({
        target: { type: 'token', id: targetId },
        actor: { id: me, kind: 'user', token_id: null },
        owner_id: me,
        ip: CLIENT['cf-connecting-ip'],
        user_agent: CLIENT['User-Agent'],
        request_id: steps[i]!.requestId,
      });
    });
    expect(steps.every((s) => s.requestId)).toBe(true);
    for (let i = 1; i < events.length; i++) {
      expect(Date.parse(events[i - 1]!.at)).toBeGreaterThanOrEqual(Date.parse(events[i]!.at));
    }
    expect(byAction.get('token.created')?.detail).toMatchObject({ name: 'audited', scopes: ['read'] });
    expect(byAction.get('token.updated')?.detail).toEqual({
      changed: ['description'],
      description: { from: null, to: 'now described' },
    });
    expect(byEvent.get(`token.created ${rotated.id}`)?.detail).toMatchObject({
      name: 'audited',
      scopes: ['read'],
      rotated_from_id: id,
      expires_at: rotated.expires_at,
    });
    expect(byAction.get('token.revoked')?.detail).toMatchObject({ reason: 'user' });
    expect(byAction.get('token.rotated')?.detail).toMatchObject({ replaced_by: rotated.id });
    // Never a secret, whether the one from create or the one from rotate.
    const text = JSON.stringify(events);
    expect(text).not.toContain(created.token!);
    expect(text).not.toContain(rotated.token!);
  });

  it("keeps a client's plain request id and user agent, but nothing token-shaped in them", async () => {
    const user = await newUser();
    const { created } = await userWithToken();
    const tokenShaped = `${created.token.slice(0, 4)}${'A'.repeat(36)}`;
    const edit = (headers: Record<string, string>) =>
      call(`${API}/tokens`, {
        method: 'POST',
        headers: { ...bearer(user.jwt), ...headers },
        json: { name: crypto.randomUUID() },
      });
    const plain = await edit({ 'X-Request-Id': 'trace-4bf92f3577b34da6-1', 'User-Agent': 'cli/2.1' });
    expect(plain.headers.get('X-Request-Id')).toBe('trace-4bf92f3577b34da6-1');
    for (const id of [created.token, `req-${created.token}`, tokenShaped]) {
      const res = await edit({ 'X-Request-Id': id, 'User-Agent': `cli/2.1 ${created.token}` });
      expect(res.status).toBe(201);
      expect(res.headers.get('X-Request-Id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    const events = (await auditOf(user)).filter((e) => e.action === 'token.created');
    expect(events.map((e) => e.user_agent)).toEqual([
      'cli/2.1 pat_[redacted]',
      'cli/2.1 pat_[redacted]',
      'cli/2.1 pat_[redacted]',
      'cli/2.1',
    ]);
    expect(events.at(-1)!.request_id).toBe('trace-4bf92f3577b34da6-1');
  });

  it('names changed fields as the API does, with what each was and became', async () => {
    const user = await newUser();
    const created = await createToken(user.jwt, { name: 'before' });
    const res = await send(user, 'PATCH', `/tokens/${created.id}`, { name: 'after', expires_in_days: 40 });
    const after = (await res.res.json()) as TokenBody;
    const event = (await auditOf(user)).find((e) => e.action === 'token.updated')!;
    expect(event.detail).toEqual({
      changed: ['name', 'expires_at'],
      name: { from: 'before', to: 'after' },
      expires_at: { from: created.expires_at, to: after.expires_at },
    });
  });

  it('shows times in details as ISO strings, like every other time in the API', async () => {
    const user = await newUser();
    const created = await createToken(user.jwt, { expires_in_days: 10 });
    const edited = await expectJson<TokenBody>(
      (await send(user, 'PATCH', `/tokens/${created.id}`, { expires_in_days: 20 })).res,
      200,
    );
    const events = await auditOf(user);
    const detail = (action: string) => events.find((e) => e.action === action)?.detail;
    expect(detail('token.created')).toMatchObject({ expires_at: created.expires_at });
    expect(detail('token.updated')).toMatchObject({
      expires_at: { from: created.expires_at, to: edited.expires_at },
    });
  });

  it('names the PAT that acted when a token revokes itself', async () => {
    const { user, created } = await userWithToken();
    await call(`${API}/tokens/self/revoke`, {
      method: 'POST',
      headers: { 'x-pat': created.token, ...CLIENT },
    });
    const event = (await auditOf(user)).find((e) => e.action === 'token.revoked');
    expect(event).toMatchObject({
      action: 'token.revoked',
      target: { type: 'token', id: created.id },
      actor: { id: await myId(user), token_id: created.id },
      ip: CLIENT['cf-connecting-ip'],
    });
    expect(JSON.stringify(event)).not.toContain(created.token);
  });

  it('records nothing for refused requests', async () => {
    const { user, created } = await userWithToken();
    const before = await auditOf(user);
    const stranger = await newUser();
    await postJson('/tokens', user.jwt, { name: '' });
    await postJson(`/tokens/${created.id}/restore`, user.jwt);
    await postJson(`/tokens/${created.id}/revoke`, stranger.jwt);
    await call(`${API}/tokens/${created.id}`, { method: 'DELETE', headers: bearer(stranger.jwt) });
    expect(await auditOf(user)).toEqual(before);
    // The stranger's own first call is theirs; nothing they were refused.
    expect((await auditOf(stranger)).map((e) => e.action)).toEqual(['user.created']);
  });

  it('writes no event for a PATCH that changes nothing', async () => {
    const { user, created } = await userWithToken({ name: 'same' });
    await call(`${API}/tokens/${created.id}`, {
      method: 'PATCH',
      headers: bearer(user.jwt),
      json: { name: 'same' },
    });
    expect((await auditOf(user)).map((e) => e.action)).toEqual(['token.created', 'user.created']);
  });
});

describe('GET /audit — scope and paging', () => {
  it("shows only the caller's events", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    const a = await createToken(alice.jwt);
    const b = await createToken(bob.jwt);
    await postJson(`/tokens/${b.id}/revoke`, bob.jwt);
    const events = await auditOf(alice);
    expect(events.map((e) => e.target.id)).toEqual([a.id, await myId(alice)]);
    expect(JSON.stringify(events)).not.toContain(b.id);
  });

  it("target_id narrows to one token's history, and never to another person's token", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    const first = await createToken(alice.jwt);
    const second = await createToken(alice.jwt);
    await postJson(`/tokens/${first.id}/revoke`, alice.jwt);
    await postJson(`/tokens/${second.id}/revoke`, alice.jwt);
    const history = await auditOf(alice, `target_id=${first.id}`);
    expect(history.map((e) => [e.action, e.target.id])).toEqual([
      ['token.revoked', first.id],
      ['token.created', first.id],
    ]);
    const theirs = await createToken(bob.jwt);
    expect(await auditOf(alice, `target_id=${theirs.id}`)).toEqual([]);
    await expectProblem(
      await getWith(`/audit?target_id=${'x'.repeat(65)}`, alice.jwt),
      400,
      'invalid_parameters',
    );
  });

  it('shows the owner a refused use of their revoked token (the revocation tombstone names no owner)', async () => {
    const user = await newUser();
    const token = await createToken(user.jwt);
    await postJson(`/tokens/${token.id}/revoke`, user.jwt);
    const res = await call('/echo/ping', { headers: { ...bearer(token.token), ...CLIENT } });
    expect(res.status).toBe(401);
    let refused: AuditEvent | undefined;
    for (let tries = 0; tries < 40 && !refused; tries++) {
      refused = (await auditOf(user, `target_id=${token.id}`)).find((e) => e.action === 'token.auth_failed');
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(refused).toMatchObject({
      actor: { id: null, kind: 'anonymous' },
      owner_id: await myId(user),
      ip: CLIENT['cf-connecting-ip'],
      detail: { reason: 'revoked', route: 'echo' },
    });
  });

  it("hides an admin's IP address and user agent from the owner, who still sees what was done and by whom", async () => {
    const owner = await newUser();
    const admin = await newUser('admin');
    const token = await createToken(owner.jwt);
    const { res } = await send(admin, 'POST', `/tokens/${token.id}/revoke`);
    expect(res.status).toBe(200);
    const [revoked] = (await auditOf(owner)).filter((e) => e.action === 'token.revoked');
    expect(revoked).toMatchObject({ actor: { id: await myId(admin) }, ip: null, user_agent: null });
    const [own] = (await auditOf(admin)).filter((e) => e.target.id === token.id);
    expect(own).toMatchObject({ ip: CLIENT['cf-connecting-ip'], user_agent: CLIENT['User-Agent'] });
  });

  it('pages newest first without duplicates or gaps', async () => {
    const user = await newUser();
    for (let i = 0; i < 4; i++) {
      const t = await createToken(user.jwt, { name: `paged ${i}` });
      await postJson(`/tokens/${t.id}/revoke`, user.jwt);
    }
    const all = await auditOf(user);
    expect(all).toHaveLength(9); // 4 × created and revoked, and the user's first call (user.created)
    const walked: AuditEvent[] = [];
    let cursor: string | null = null;
    do {
      const page: AuditPage = await expectJson<AuditPage>(
        await getWith(`/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`, user.jwt),
        200,
      );
      expect(page.data.length).toBeLessThanOrEqual(3);
      walked.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    expect(walked.map((e) => e.id)).toEqual(all.map((e) => e.id));
    for (let i = 1; i < walked.length; i++) {
      expect(Date.parse(walked[i - 1]!.at)).toBeGreaterThanOrEqual(Date.parse(walked[i]!.at));
    }
  });

  it('pages a trail mixing what the caller owns and what they did to others’ tokens, in one order, each event once', async () => {
    // The trail is read as two index-ordered pages (events on what the caller owns; events the caller caused on what
    // others own) merged by time: interleave both kinds so that every page boundary falls between them somewhere.
    const admin = await newUser('admin');
    const other = await newUser();
    for (let i = 0; i < 3; i++) {
      const mine = await createToken(admin.jwt, { name: `mine ${i}` });
      const theirs = await createToken(other.jwt, { name: `theirs ${i}` });
      expect((await send(admin, 'POST', `/tokens/${theirs.id}/revoke`)).res.status).toBe(200);
      await postJson(`/tokens/${mine.id}/revoke`, admin.jwt);
    }
    const all = await auditOf(admin);
    const adminId = await myId(admin);
    // user.created, then 3 × (own token created, other's token revoked by the admin, own token revoked).
    expect(all).toHaveLength(10);
    expect(all.filter((e) => e.owner_id !== adminId && e.actor.id === adminId)).toHaveLength(3);
    // Not the other user's own events (their token.created): only what the admin owns or did.
    expect(all.every((e) => e.owner_id === adminId || e.actor.id === adminId)).toBe(true);
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [all[i - 1]!, all[i]!];
      expect(a.at > b.at || (a.at === b.at && a.id > b.id)).toBe(true);
    }
    for (const limit of [1, 2, 3, 4]) {
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const page: AuditPage = await expectJson<AuditPage>(
          await getWith(`/audit?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, admin.jwt),
          200,
        );
        expect(page.data.length).toBeLessThanOrEqual(limit);
        walked.push(...page.data.map((e) => e.id));
        cursor = page.next_cursor;
      } while (cursor);
      expect(walked).toEqual(all.map((e) => e.id));
    }
  });

  it.each([
    ['limit=0', 'invalid_parameters'],
    ['limit=101', 'invalid_parameters'],
    ['limit=ten', 'invalid_parameters'],
    ['action=token.created', 'invalid_parameters'],
    ['cursor=%%%', 'invalid_cursor'],
    ['cursor=eyJmb28iOjF9', 'invalid_cursor'],
  ])('answers 400 for %s', async (query, code) => {
    const user = await newUser();
    await createToken(user.jwt);
    await expectProblem(await getWith(`/audit?${query}`, user.jwt), 400, code);
  });

  it('refuses a token-list cursor', async () => {
    const user = await newUser();
    await createToken(user.jwt);
    await createToken(user.jwt);
    const { next_cursor } = await expectJson<TokenPage>(await getWith('/tokens?limit=1', user.jwt), 200);
    await expectProblem(await getWith(`/audit?cursor=${next_cursor}`, user.jwt), 400, 'invalid_cursor');
  });
});
