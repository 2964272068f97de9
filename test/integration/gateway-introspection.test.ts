import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { generateToken } from '../../src/tokens/format';
import { call, createToken } from '../helpers';
import { eventually } from './admin-support';
import { expectJson, expectProblem, newUser, postJson, tokenRow, userWithToken } from './support';

// RFC 7662 introspection for resource servers outside the proxy: the client authenticates with HTTP Basic
// (§2.1), sends the token form-encoded, and learns either the token's claims or just {"active": false} (§2.2).

const CLIENT = { id: 'resource-server', secret: 'introspection-secret-123' };

function introspect(
  body: string,
  options: { credentials?: string | null; contentType?: string } = {},
): Promise<Response> {
  const credentials =
    options.credentials === undefined ? `${CLIENT.id}:${CLIENT.secret}` : options.credentials;
  return call('/oauth/introspect', {
    method: 'POST',
    headers: {
      'content-type': options.contentType ?? 'application/x-www-form-urlencoded',
      ...(credentials === null ? {} : { Authorization: `Basic ${btoa(credentials)}` }),
    },
    body,
  });
}

const form = (token: string) => new URLSearchParams({ token, token_type_hint: 'access_token' }).toString();

describe('POST /oauth/introspect', () => {
  it('describes an active token', async () => {
    const { user, created } = await userWithToken({ scopes: ['read'] });
    const body = await expectJson<Record<string, unknown>>(await introspect(form(created.token)), 200);
    const row = (await tokenRow(created.id))!;
    expect(body).toMatchObject({
      active: true,
      sub: row.owner_id,
      username: user.subject,
      token_id: created.id,
      scope: 'read',
      iss: 'pat-gateway',
      exp: Math.floor(Date.parse(created.expires_at!) / 1000),
      iat: Math.floor((row.created_at as number) / 1000),
    });
    expect(JSON.stringify(body)).not.toContain(created.token);
    // RFC 7662's client_id is the OAuth client the token was issued to; a PAT has none (not the caller's id).
    expect(body).not.toHaveProperty('client_id');
  });

  it("counts as a use of the token (last_used_at), keeping the client's last address; a refused one does not", async () => {
    const { user, created } = await userWithToken();
    const other = await createToken(user.jwt);
    await env.DB.prepare('update tokens set last_used_ip = ? where id = ?')
      .bind('198.51.100.7', created.id)
      .run();
    const before = Date.now();
    expect(await expectJson(await introspect(form(created.token)), 200)).toMatchObject({ active: true });
    await postJson(`/tokens/${other.id}/revoke`, user.jwt);
    expect(await expectJson(await introspect(form(other.token)), 200)).toEqual({ active: false });
    await eventually(async () => {
      const row = await tokenRow(created.id);
      expect(row!.last_used_at as number).toBeGreaterThanOrEqual(before);
      expect(row!.last_used_ip).toBe('198.51.100.7');
    });
    expect(await tokenRow(other.id)).toMatchObject({ last_used_at: null });
  });

  it('accepts Basic credentials form-urlencoded first (RFC 6749 §2.3.1) and as they are', async () => {
    const { created } = await userWithToken();
    const [id, secret] = ['form client', 'Secret+with/slash=and%percent'];
    const encoded = (value: string) => encodeURIComponent(value).replaceAll('%20', '+');
    for (const credentials of [`${encoded(id)}:${encoded(secret)}`, `${id}:${secret}`]) {
      const res = await introspect(form(created.token), { credentials });
      expect((await expectJson<{ active: boolean }>(res, 200)).active, credentials).toBe(true);
    }
    for (const credentials of [
      `${encoded(id)}:${encoded(`${secret}x`)}`,
      `${id}:${secret.replace('+', ' ')}`,
    ]) {
      await expectProblem(await introspect(form(created.token), { credentials }), 401, 'invalid_client');
    }
  });

  it('a member token never reports scopes beyond the owner’s role; an admin’s may include admin', async () => {
    const admin = await newUser('admin');
    const res = await postJson('/tokens', admin.jwt, {
      name: 'introspect admin',
      scopes: ['admin', 'write'],
    });
    const { token } = await expectJson<{ token: string }>(res, 201);
    const body = await expectJson<{ scope: string }>(await introspect(form(token)), 200);
    expect(body.scope).toBe('admin write');
  });

  it('says only {"active": false} for revoked, unknown and malformed tokens', async () => {
    const { user, created } = await userWithToken();
    await postJson(`/tokens/${created.id}/revoke`, user.jwt);
    for (const token of [created.token, generateToken('pat_'), 'pat_garbage', 'x']) {
      const body = await expectJson<unknown>(await introspect(form(token)), 200);
      expect(body, token).toEqual({ active: false });
    }
  });

  it('says {"active": false} for a deleted token', async () => {
    const { user, created } = await userWithToken();
    const res = await call(`/api/v1/tokens/${created.id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${user.jwt}` },
    });
    expect(res.status).toBe(204);
    expect(await expectJson<unknown>(await introspect(form(created.token)), 200)).toEqual({ active: false });
  });

  it('refuses callers without the right client credential: 401 invalid_client with a Basic challenge', async () => {
    const { created } = await userWithToken();
    const attempts = [
      introspect(form(created.token), { credentials: `${CLIENT.id}:wrong-secret-0000000` }),
      introspect(form(created.token), { credentials: `someone-else:${CLIENT.id}` }),
      introspect(form(created.token), { credentials: `${CLIENT.id}` }),
      introspect(form(created.token), { credentials: null }),
      call('/oauth/introspect', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          Authorization: `Bearer ${created.token}`,
        },
        body: form(created.token),
      }),
    ];
    for (const res of await Promise.all(attempts)) {
      const problem = await expectProblem(res, 401, 'invalid_client');
      expect(res.headers.get('WWW-Authenticate')).toMatch(/^Basic realm=/);
      expect(JSON.stringify(problem)).not.toContain('active');
    }
  });

  it('a client id that is not valid percent-encoding is a 401, not a 500', async () => {
    const { created } = await userWithToken();
    const res = await introspect(form(created.token), { credentials: `100%:${CLIENT.secret}` });
    await expectProblem(res, 401, 'invalid_client');
  });

  it('wants a form body: JSON is a 415', async () => {
    const { created } = await userWithToken();
    const res = await introspect(JSON.stringify({ token: created.token }), {
      contentType: 'application/json',
    });
    await expectProblem(res, 415, 'unsupported_media_type');
  });

  it('a form without `token` is a 400 invalid_request', async () => {
    const res = await introspect('token_type_hint=access_token');
    const problem = await expectProblem(res, 400, 'invalid_request');
    expect(problem.errors).toEqual([expect.objectContaining({ field: 'token', code: 'required' })]);
  });
});
