// Durability: what the gateway persisted survives a restart of the local gateway (wrangler dev with its state
// folder): tokens created, edited and revoked before the restart behave the same after it.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { api, createToken, devSession } from './client';
import { type Harness, startHarness } from './harness';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

const echo = (token: string) =>
  fetch(`${h.gateway}/echo/ping`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

it('tokens created, edited and revoked survive a restart', async () => {
  const jwt = await devSession(h, `durable-${Date.now()}`);
  const kept = await createToken(h, jwt, 'kept');
  const edited = await createToken(h, jwt, 'to edit');
  const revoked = await createToken(h, jwt, 'to revoke');
  assert.equal(
    (
      await api(h, jwt, `/api/v1/tokens/${edited.id}`, {
        method: 'PATCH',
        json: { name: 'edited', expires_in_days: 90 },
      })
    ).status,
    200,
  );
  assert.equal((await api(h, jwt, `/api/v1/tokens/${revoked.id}/revoke`, { method: 'POST' })).status, 200);
  const before = await api(h, jwt, `/api/v1/tokens/${edited.id}`);

  await h.restart();

  assert.equal(await echo(kept.token), 200);
  assert.equal(await echo(edited.token), 200);
  assert.equal(await echo(revoked.token), 401);
  const after = await api(h, jwt, `/api/v1/tokens/${edited.id}`);
  assert.equal(after.body!.name, 'edited');
  assert.equal(after.body!.expires_at, before.body!.expires_at);
  const list = await api(h, jwt, '/api/v1/tokens?sort=name');
  assert.deepEqual(
    (list.body!.data as { name: string; status: string }[]).map((t) => `${t.name}:${t.status}`),
    ['edited:active', 'kept:active', 'to revoke:revoked'],
  );
  const audit = await api(h, jwt, '/api/v1/audit?limit=100');
  const actions = (audit.body!.data as { action: string }[]).map((e) => e.action);
  for (const action of ['token.created', 'token.updated', 'token.revoked'])
    assert.ok(actions.includes(action), `${action} missing after restart`);
});
