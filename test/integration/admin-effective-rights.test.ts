import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeUpstream } from '../gateway-support';
import { bearer, call, createToken, jwtFor } from '../helpers';
import {
  createServiceAccount,
  createServiceToken,
  echo,
  knownUser,
  knownUserWithToken,
} from './admin-support';
import { expectJson, expectProblem, getWith, patchJson, postJson } from './support';

// Effective rights (issue 4, deliver 2): a token never does more than its owner's role allows now. Scopes beyond
// the role are refused at creation with the offending scopes named; a lowered role cuts a token's scopes on its
// next use through the gateway. TEST_VARS: ROLE_SCOPES admin=[admin, read, write], member=[read, write].

afterEach(() => vi.restoreAllMocks());

const adminOnly = (token: string) => call('/admin-only/x', { headers: bearer(token) });

/** The scopes the gateway forwarded to the echo upstream for this request. */
async function forwardedScopes(token: string): Promise<string | undefined> {
  const res = await echo(token, 'POST');
  expect(res.status).toBe(200);
  return ((await res.json()) as { headers: Record<string, string> }).headers['x-pat-scopes'];
}

describe('requested scopes must lie within the owner role', () => {
  it('a member asking for admin gets 403 scope_not_allowed naming exactly the excess scopes', async () => {
    const member = await knownUser('member');
    const res = await postJson('/tokens', member.jwt, { name: 'too much', scopes: ['read', 'admin'] });
    const problem = await expectProblem(res, 403, 'scope_not_allowed');
    expect(problem.scopes).toEqual(['admin']);
    expect(problem.detail).toContain('admin');
    expect((await getWith('/tokens', member.jwt).then((r) => r.json())) as { data: unknown[] }).toEqual(
      expect.objectContaining({ data: [] }),
    );
  });

  it("the service account's role bounds its tokens, not the creating admin's", async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin, { role: 'member' });
    const res = await postJson(`/admin/service-accounts/${account.id}/tokens`, admin.jwt, {
      name: 'ci',
      scopes: ['admin', 'write'],
    });
    expect((await expectProblem(res, 403, 'scope_not_allowed')).scopes).toEqual(['admin']);
  });

  it('an admin may grant admin to their own token, and the admin-only route accepts it', async () => {
    fakeUpstream();
    const { created } = await knownUserWithToken('admin', { scopes: ['admin', 'read', 'write'] });
    expect(created.scopes).toEqual(['admin', 'read', 'write']);
    expect((await adminOnly(created.token)).status).toBe(200);
  });
});

describe('a lowered role cuts the scopes on the next use', () => {
  it('admin → member (new role claim in the next JWT): the admin-only route answers 403, write still works', async () => {
    const upstream = fakeUpstream();
    const { user, created } = await knownUserWithToken('admin', { scopes: ['admin', 'read', 'write'] });
    expect((await adminOnly(created.token)).status).toBe(200);
    expect(await forwardedScopes(created.token)).toBe('admin read write');

    // The identity provider now says member: the gateway learns it from the user's next JWT.
    const demoted = await jwtFor(user.subject, { role: 'member' });
    const me = await expectJson<{ role: string }>(await getWith('/currentuser', demoted), 200);
    expect(me.role).toBe('member');

    const refused = await expectProblem(await adminOnly(created.token), 403, 'insufficient_scope');
    expect(refused.required_scopes).toEqual(['admin']);
    expect(await forwardedScopes(created.token)).toBe('read write');
    expect(upstream.requests).toHaveLength(1);
  });

  it('an older admin JWT, still unexpired, does not make a demoted user admin again; a newer one does', async () => {
    const user = await knownUser('admin');
    const now = Math.floor(Date.now() / 1000);
    const oldAdmin = await jwtFor(user.subject, { role: 'admin', issuedAt: now - 600 });
    const demoted = await jwtFor(user.subject, { role: 'member', issuedAt: now });
    expect((await expectJson<{ role: string }>(await getWith('/currentuser', demoted), 200)).role).toBe(
      'member',
    );
    await expectProblem(await getWith('/admin/users', oldAdmin), 403, 'admin_required');
    expect((await expectJson<{ role: string }>(await getWith('/currentuser', oldAdmin), 200)).role).toBe(
      'member',
    );
    const promoted = await jwtFor(user.subject, { role: 'admin', issuedAt: now + 1 });
    expect((await getWith('/admin/users', promoted)).status).toBe(200);
  });

  it('a JWT dated in the future does not outrank the JWTs that follow it; beyond the clock skew it is refused', async () => {
    const user = await knownUser('member');
    const now = Math.floor(Date.now() / 1000);
    await expectProblem(
      await getWith('/currentuser', await jwtFor(user.subject, { role: 'admin', issuedAt: now + 86_400 })),
      401,
      'invalid_token',
    );
    const skewed = await jwtFor(user.subject, { role: 'admin', issuedAt: now + 30 });
    expect((await expectJson<{ role: string }>(await getWith('/currentuser', skewed), 200)).role).toBe(
      'admin',
    );
    // Dated a minute ahead too (the most the skew allows), so it counts as issued when it arrives, after the skewed
    // one, however slow the machine (with `now + 1` a run that crossed the next second saw it as older).
    const demoted = await jwtFor(user.subject, { role: 'member', issuedAt: now + 60 });
    expect((await expectJson<{ role: string }>(await getWith('/currentuser', demoted), 200)).role).toBe(
      'member',
    );
  });

  it('a demoted user cannot mint admin tokens any more, and rotation drops the excess scope', async () => {
    const { user, created } = await knownUserWithToken('admin', { scopes: ['admin', 'read'] });
    const demoted = await jwtFor(user.subject, { role: 'member' });
    const res = await postJson('/tokens', demoted, { name: 'again', scopes: ['admin'] });
    expect((await expectProblem(res, 403, 'scope_not_allowed')).scopes).toEqual(['admin']);

    const rotated = await expectJson<{ scopes: string[] }>(
      await postJson(`/tokens/${created.id}/rotate`, demoted),
      201,
    );
    expect(rotated.scopes).toEqual(['read']);
  });

  it('service account admin → member (PATCH): its token loses admin on the very next request', async () => {
    fakeUpstream();
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin, { role: 'admin' });
    const created = await createServiceToken(admin, account.id, { scopes: ['admin', 'read', 'write'] });
    expect((await adminOnly(created.token)).status).toBe(200);

    const patched = await patchJson(`/admin/service-accounts/${account.id}`, admin.jwt, { role: 'member' });
    expect(await expectJson(patched, 200)).toMatchObject({ id: account.id, role: 'member' });

    await expectProblem(await adminOnly(created.token), 403, 'insufficient_scope');
    expect(await forwardedScopes(created.token)).toBe('read write');
  });

  it('member → admin again: the scopes the token was created with come back, no more', async () => {
    fakeUpstream();
    const { user, created } = await knownUserWithToken('admin', { scopes: ['admin', 'read'] });
    await getWith('/currentuser', await jwtFor(user.subject, { role: 'member' }));
    await expectProblem(await adminOnly(created.token), 403, 'insufficient_scope');

    await getWith('/currentuser', await jwtFor(user.subject, { role: 'admin' }));
    expect((await adminOnly(created.token)).status).toBe(200);
    // Never more than the token was created with: write was not granted.
    await expectProblem(await echo(created.token, 'POST'), 403, 'insufficient_scope');
  });

  it('a member token created with [read, write] keeps exactly those while the role allows them', async () => {
    const created = await createToken((await knownUser('member')).jwt, { scopes: ['read', 'write'] });
    expect(await forwardedScopes(created.token)).toBe('read write');
  });
});
