import { describe, expect, it } from 'vitest';
import { generateToken } from '../../src/tokens/format';
import { call, createToken, dumpStorage } from '../helpers';
import {
  adminAudit,
  echo,
  eventually,
  knownUser,
  knownUserWithToken,
  serviceSetup,
  uniqueIp,
} from './admin-support';
import { API, expectJson, expectProblem, getWith, postJson, type TokenBody, tokenRow } from './support';

// POST /api/v1/credentials/revoke (as GitHub's credential revocation API): unauthenticated, always 202 with the same
// body, revokes what exists (reason leaked, audited, final) after the response, rate limited per client IP.

function report(credentials: unknown, ip = uniqueIp()) {
  return call(`${API}/credentials/revoke`, {
    method: 'POST',
    headers: { 'cf-connecting-ip': ip },
    json: { credentials },
  });
}

/** Status, the headers a client could compare, and the body: everything but the request id. */
async function observable(res: Response) {
  return {
    status: res.status,
    type: res.headers.get('Content-Type'),
    cache: res.headers.get('Cache-Control'),
    body: await res.text(),
  };
}

/** Revocation runs in waitUntil after the 202: wait until the owner sees the token revoked. */
async function revokedAs(jwt: string, id: string): Promise<TokenBody> {
  return eventually(async () => {
    const token = await expectJson<TokenBody>(await getWith(`/tokens/${id}`, jwt), 200);
    expect(token.status).toBe('revoked');
    return token;
  });
}

describe('the answer reveals nothing', () => {
  it('valid, unknown, malformed and mixed reports get byte-identical 202 answers', async () => {
    const { created } = await knownUserWithToken();
    const unknown = generateToken('pat_');
    const inputs = [[created.token], [unknown], ['hello', 'ghp_notours'], ['x', unknown, created.token]];
    const answers = [];
    for (const credentials of inputs) answers.push(await observable(await report(credentials)));
    expect(answers[0]).toMatchObject({
      status: 202,
      type: expect.stringMatching(/^application\/json/),
      cache: 'no-store',
    });
    for (const answer of answers.slice(1)) expect(answer).toEqual(answers[0]);
  });

  it('reported values are never stored, valid or not', async () => {
    const { created } = await knownUserWithToken();
    const unknown = generateToken('pat_');
    await report([created.token, unknown]);
    await revokedAs((await knownUser('admin')).jwt, created.id);
    const storage = await dumpStorage();
    expect(storage).not.toContain(created.token);
    expect(storage).not.toContain(unknown);
  });
});

describe('what exists is revoked', () => {
  it('reason leaked, refused by the gateway, audited as anonymous', async () => {
    const { user, created } = await knownUserWithToken();
    expect((await echo(created.token)).status).toBe(200);
    expect((await report([created.token, generateToken('pat_'), 'junk'])).status).toBe(202);

    const revoked = await revokedAs(user.jwt, created.id);
    expect(revoked.revoke_reason).toBe('leaked');
    await expectProblem(await echo(created.token), 401, 'invalid_token');

    const admin = await knownUser('admin');
    const events = await adminAudit(admin, { target_id: created.id, action: 'token.revoked' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: { id: null, kind: 'anonymous' },
      owner_id: user.id,
      detail: { reason: 'leaked' },
    });
  });

  it('revokes every reported token of several owners, service tokens included', async () => {
    const a = await knownUserWithToken();
    const b = await knownUserWithToken();
    const { admin, created: service } = await serviceSetup();
    await report([a.created.token, b.created.token, service.token]);
    expect((await revokedAs(a.user.jwt, a.created.id)).revoke_reason).toBe('leaked');
    expect((await revokedAs(b.user.jwt, b.created.id)).revoke_reason).toBe('leaked');
    expect((await revokedAs(admin.jwt, service.id)).revoke_reason).toBe('leaked');
  });

  it('a leaked token cannot be restored, by its owner or by an admin (409 not_restorable)', async () => {
    const { user, created } = await knownUserWithToken();
    await report([created.token]);
    await revokedAs(user.jwt, created.id);
    await expectProblem(await postJson(`/tokens/${created.id}/restore`, user.jwt), 409, 'not_restorable');
    const admin = await knownUser('admin');
    await expectProblem(await postJson(`/tokens/${created.id}/restore`, admin.jwt), 409, 'not_restorable');
    await expectProblem(await echo(created.token), 401, 'invalid_token');
  });

  it('a token revoked by hand and then reported becomes leaked: no longer restorable, no second revocation', async () => {
    const { user, created } = await knownUserWithToken();
    const bystander = await createToken(user.jwt);
    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    const marker = await knownUserWithToken();
    await report([created.token, marker.created.token]);
    await revokedAs(marker.user.jwt, marker.created.id); // the report has been processed
    expect(await tokenRow(created.id)).toMatchObject({ revoke_reason: 'leaked' });
    expect(await tokenRow(bystander.id)).toMatchObject({ revoked_at: null });
    await expectProblem(await postJson(`/tokens/${created.id}/restore`, user.jwt), 409, 'not_restorable');
    await expectProblem(await echo(created.token), 401, 'invalid_token');
    const admin = await knownUser('admin');
    expect(await adminAudit(admin, { target_id: created.id, action: 'token.revoked' })).toHaveLength(1);
    const marked = await adminAudit(admin, { target_id: created.id, action: 'token.leak_reported' });
    expect(marked).toHaveLength(1);
    expect(marked[0]).toMatchObject({
      actor: { id: null, kind: 'anonymous' },
      owner_id: user.id,
      detail: { reason: 'leaked', previous_reason: 'user' },
    });
  });

  it('a token revoked for good (rotated) keeps its reason when reported', async () => {
    const { user, created } = await knownUserWithToken();
    const rotated = await postJson(`/tokens/${created.id}/rotate`, user.jwt);
    expect(rotated.status).toBe(201);
    const marker = await knownUserWithToken();
    await report([created.token, marker.created.token]);
    await revokedAs(marker.user.jwt, marker.created.id);
    expect(await tokenRow(created.id)).toMatchObject({ revoke_reason: 'rotated' });
    const admin = await knownUser('admin');
    expect(await adminAudit(admin, { target_id: created.id, action: 'token.leak_reported' })).toHaveLength(0);
  });
});

describe('limits', () => {
  it('422 for more than 1000 credentials or none, and nothing is revoked', async () => {
    const { user, created } = await knownUserWithToken();
    const many = [created.token, ...Array.from({ length: 1000 }, () => 'junk')];
    expect((await report(many)).status).toBe(422);
    expect((await report([])).status).toBe(422);
    expect((await report('not-a-list')).status).toBe(422);
    expect((await report(Array.from({ length: 1000 }, () => 'junk'))).status).toBe(202);
    expect(await expectJson<TokenBody>(await getWith(`/tokens/${created.id}`, user.jwt), 200)).toMatchObject({
      status: 'active',
    });
  });

  it('the 11th report from one IP within a minute gets 429 with Retry-After; other IPs are unaffected', async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 10; i++) expect((await report(['junk'], ip)).status).toBe(202);
    const limited = await report(['junk'], ip);
    await expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect((await report(['junk'])).status).toBe(202);
  });

  it('a rate-limited report revokes nothing', async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 10; i++) await report(['junk'], ip);
    const { user, created } = await knownUserWithToken();
    expect((await report([created.token], ip)).status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await expectJson<TokenBody>(await getWith(`/tokens/${created.id}`, user.jwt), 200)).toMatchObject({
      status: 'active',
    });
  });
});
