import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createToken } from '../helpers';
import { createServiceAccount, createServiceToken, del, type KnownUser, knownUser } from './admin-support';
import { expectJson, expectProblem, getWith, patchJson, postJson, problemShape, tokenRow } from './support';

// One test per cell of the permission matrix (README "Permissions"). The expected answers are written out here,
// not read from src/auth/permissions.ts, so a change to the matrix must change this table too.

type Role = 'member' | 'admin';
type Relation = 'own personal' | "another user's personal" | 'service';
type Action = 'view' | 'edit' | 'revoke' | 'restore' | 'rotate' | 'delete';
/** ok: 2xx. hidden: 404 exactly like a missing id. denied: 403 not_permitted. */
type Outcome = 'ok' | 'hidden' | 'denied';

const EXPECTED: Record<Role, Record<Relation, Record<Action, Outcome>>> = {
  member: {
    'own personal': { view: 'ok', edit: 'ok', revoke: 'ok', restore: 'ok', rotate: 'ok', delete: 'ok' },
    "another user's personal": {
      view: 'hidden',
      edit: 'hidden',
      revoke: 'hidden',
      restore: 'hidden',
      rotate: 'hidden',
      delete: 'hidden',
    },
    service: {
      view: 'hidden',
      edit: 'hidden',
      revoke: 'hidden',
      restore: 'hidden',
      rotate: 'hidden',
      delete: 'hidden',
    },
  },
  admin: {
    'own personal': { view: 'ok', edit: 'ok', revoke: 'ok', restore: 'ok', rotate: 'ok', delete: 'ok' },
    "another user's personal": {
      view: 'ok',
      edit: 'denied',
      revoke: 'ok',
      restore: 'ok',
      rotate: 'denied',
      delete: 'ok',
    },
    service: { view: 'ok', edit: 'ok', revoke: 'ok', restore: 'ok', rotate: 'ok', delete: 'ok' },
  },
};

const SUCCESS: Record<Action, number> = {
  view: 200,
  edit: 200,
  revoke: 200,
  restore: 200,
  rotate: 201,
  delete: 204,
};

function perform(action: Action, id: string, jwt: string): Promise<Response> {
  switch (action) {
    case 'view':
      return getWith(`/tokens/${id}`, jwt);
    case 'edit':
      return patchJson(`/tokens/${id}`, jwt, { name: `renamed ${crypto.randomUUID()}` });
    case 'delete':
      return del(`/tokens/${id}`, jwt);
    default:
      return postJson(`/tokens/${id}/${action}`, jwt);
  }
}

/** The token the cell is about; for `restore` it is revoked first, by its owner (or, for a service token, an admin). */
async function tokenFor(actor: KnownUser, relation: Relation, action: Action): Promise<string> {
  let id: string;
  let revoker: string;
  if (relation === 'own personal') {
    id = (await createToken(actor.jwt)).id;
    revoker = actor.jwt;
  } else if (relation === "another user's personal") {
    const owner = await knownUser('member');
    id = (await createToken(owner.jwt)).id;
    revoker = owner.jwt;
  } else {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    id = (await createServiceToken(admin, account.id)).id;
    revoker = admin.jwt;
  }
  if (action === 'restore') expect((await postJson(`/tokens/${id}/revoke`, revoker)).status).toBe(200);
  return id;
}

const MISSING_ID = 'tok_0000000000000000';

describe('the permission matrix, cell by cell', () => {
  for (const role of ['member', 'admin'] as const) {
    for (const relation of ['own personal', "another user's personal", 'service'] as const) {
      for (const action of ['view', 'edit', 'revoke', 'restore', 'rotate', 'delete'] as const) {
        const outcome = EXPECTED[role][relation][action];
        it(`${role} × ${relation} × ${action} → ${outcome}`, async () => {
          const actor = await knownUser(role);
          const id = await tokenFor(actor, relation, action);
          const before = await tokenRow(id);
          const res = await perform(action, id, actor.jwt);
          if (outcome === 'ok') {
            expect(res.status, await res.clone().text()).toBe(SUCCESS[action]);
            if (action === 'delete') expect(await tokenRow(id)).toBeNull();
            return;
          }
          if (outcome === 'hidden') {
            const problem = await expectProblem(res, 404, 'not_found');
            const missing = await expectProblem(
              await perform(action, MISSING_ID, actor.jwt),
              404,
              'not_found',
            );
            expect(problemShape(problem)).toEqual(problemShape(missing));
          } else {
            await expectProblem(res, 403, 'not_permitted');
          }
          // Refused means untouched.
          expect(await tokenRow(id)).toEqual(before);
        });
      }
    }
  }
});

describe('generate, per role and owner', () => {
  it('member × own personal → POST /tokens creates it (201)', async () => {
    const member = await knownUser('member');
    const res = await postJson('/tokens', member.jwt, { name: 'mine' });
    expect(await expectJson(res, 201)).toMatchObject({ type: 'personal', owner_id: member.id });
  });

  it('admin × own personal → POST /tokens creates it (201)', async () => {
    const admin = await knownUser('admin');
    const res = await postJson('/tokens', admin.jwt, { name: 'mine' });
    expect(await expectJson(res, 201)).toMatchObject({ type: 'personal', owner_id: admin.id });
  });

  it('admin × service → POST /admin/service-accounts/{id}/tokens creates it (201)', async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    const res = await postJson(`/admin/service-accounts/${account.id}/tokens`, admin.jwt, { name: 'ci' });
    expect(await expectJson(res, 201)).toMatchObject({ type: 'service', owner_id: account.id });
  });

  it('member × service → 403 admin_required, and nothing is created', async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    const member = await knownUser('member');
    const res = await postJson(`/admin/service-accounts/${account.id}/tokens`, member.jwt, { name: 'ci' });
    const problem = await expectProblem(res, 403, 'admin_required');
    // The instance echoes the request path; nothing else names the account.
    expect(JSON.stringify(problemShape(problem))).not.toContain(account.id);
    expect(await countTokens(account.id)).toBe(0);
  });

  for (const role of ['member', 'admin'] as const) {
    it(`${role} × another user's personal → no route creates a token for another user`, async () => {
      const actor = await knownUser(role);
      const other = await knownUser('member');
      // POST /tokens takes no owner (unknown fields are refused) ...
      const res = await postJson('/tokens', actor.jwt, { name: 'for someone else', owner_id: other.id });
      expect(res.status).toBe(422);
      // ... and the service-token route does not accept a user as the owner.
      const viaAdmin = await postJson(`/admin/service-accounts/${other.id}/tokens`, actor.jwt, { name: 'x' });
      if (role === 'admin') await expectProblem(viaAdmin, 404, 'not_found');
      else await expectProblem(viaAdmin, 403, 'admin_required');
      expect(await countTokens(other.id)).toBe(0);
    });
  }
});

describe('restore after an admin revoked', () => {
  it('the member owner cannot restore it (403 not_permitted); an admin can', async () => {
    const owner = await knownUser('member');
    const { id } = await createToken(owner.jwt);
    const admin = await knownUser('admin');
    const revoked = await expectJson<{ revoke_reason: string }>(
      await postJson(`/tokens/${id}/revoke`, admin.jwt),
      200,
    );
    expect(revoked.revoke_reason).toBe('admin');

    await expectProblem(await postJson(`/tokens/${id}/restore`, owner.jwt), 403, 'not_permitted');
    expect((await tokenRow(id))?.revoked_at).not.toBeNull();

    const restored = await postJson(`/tokens/${id}/restore`, admin.jwt);
    expect(await expectJson(restored, 200)).toMatchObject({ id, status: 'active', revoke_reason: null });
  });
});

async function countTokens(ownerId: string): Promise<number> {
  const row = await env.DB.prepare('select count(*) as n from tokens where owner_id = ?')
    .bind(ownerId)
    .first<{
      n: number;
    }>();
  return row?.n ?? 0;
}
