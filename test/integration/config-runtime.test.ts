import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { BASE } from '../helpers';
import { userWithToken } from './support';

// Configurations the gateway accepts must behave at run time as README says: each test runs the app on the test
// bindings with a few vars changed.

async function withVars(vars: Record<string, unknown>, path: string, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const res = await createApp().fetch(new Request(BASE + path, init), { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}
const route = (extra: Record<string, unknown> = {}) =>
  JSON.stringify([{ name: 'r', match: { path_prefix: '/r' }, upstream: { builtin: 'echo' }, ...extra }]);

async function exportedKeyPair() {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  return {
    privateJwk: (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey,
    publicJwk: (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey,
  };
}

describe('the JWKS upstreams verify identities with', () => {
  it('a signing key exported from WebCrypto (key_ops, ext) is published with its public members only', async () => {
    const { privateJwk } = await exportedKeyPair();
    expect(privateJwk.key_ops).toEqual(['sign']);
    const retired = await exportedKeyPair();
    const vars = {
      GATEWAY_SIGNING_KEY: JSON.stringify({ ...privateJwk, kid: 'webcrypto-1' }),
      // Copied with its key_ops too: published without them.
      GATEWAY_PREVIOUS_PUBLIC_KEYS: JSON.stringify([{ ...retired.publicJwk, kid: 'retired-1' }]),
      ROUTES: route(),
    };
    const { created } = await userWithToken();
    const res = await withVars(vars, '/r/x', { headers: { authorization: `Bearer ${created.token}` } });
    expect(res.status).toBe(200);
    const identity = ((await res.json()) as { headers: Record<string, string> }).headers['x-pat-identity']!;
    const jwks = (await (await withVars(vars, '/.well-known/jwks.json')).json()) as JSONWebKeySet;
    for (const key of jwks.keys)
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(jwks.keys.map((key) => key.kid)).toEqual(['webcrypto-1', 'retired-1']);
    const verified = await jwtVerify(identity, createLocalJWKSet(jwks), { audience: 'r' });
    expect(verified.protectedHeader.kid).toBe('webcrypto-1');
  });
});

describe("the gateway's own paths", () => {
  it('are never proxied, spelt with escapes or not, even by a host-bound root route', async () => {
    const { created } = await userWithToken();
    const vars = {
      ROUTES: JSON.stringify([
        { name: 'site', match: { path_prefix: '/', host: 'gateway.test' }, upstream: { builtin: 'echo' } },
      ]),
    };
    const init = { headers: { authorization: `Bearer ${created.token}` } };
    for (const path of ['/api/v1/nothing', '/%61pi/v1/nothing', '/%2561pi/v1/x', '/ui%2Fx']) {
      const res = await withVars(vars, path, init);
      expect(res.status, path).toBe(404);
    }
    // The router decodes the path: this is the gateway's own SCIM, which wants its own credential.
    expect((await withVars(vars, '/%73cim/v2/x', init)).status).toBe(401);
    expect((await withVars(vars, '/apiary', init)).status).toBe(200);
  });
});
