import { env } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resetIsolateCache } from '../../src/auth/token-cache';
import { generateToken } from '../../src/tokens/format';
import { type FakeUpstream, fakeUpstream } from '../gateway-support';
import { bearer, call } from '../helpers';
import { dumpKv, secretForms, snapshotD1 } from '../reliability-support';
import { createServiceAccount, eventually, type KnownUser, knownUser, uniqueIp } from './admin-support';
import { API, expireInD1, kvKeyFor } from './support';

// Over this file's whole run, everything the gateway writes or says is captured — every console line, every D1
// row, every KV value, every request the fake upstream received, every response header and body — and no
// plaintext token may appear anywhere, except in the one response that created it. Tokens are created, used
// through every source, revoked, rotated, expired, deleted, introspected, looked up, reported as leaked and
// refused. The tests in this file build on one another in order; the last one is the scan.

interface Captured {
  label: string;
  status: number;
  headers: [string, string][];
  body: string;
}

const responses: Captured[] = [];
const consoleLines: string[] = [];
/** Every token ever issued in this file, with the label of the response that revealed it. */
const issued = new Map<string, string>();
let upstream: FakeUpstream;
let member: KnownUser;
let admin: KnownUser;

beforeAll(async () => {
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[level].bind(console);
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      consoleLines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
      original(...args);
    });
  }
  upstream = fakeUpstream((r) => Response.json({ path: r.url.pathname, query: r.url.search }));
  member = await knownUser();
  admin = await knownUser('admin');
});

afterAll(() => {
  vi.restoreAllMocks();
});

/** Sends a request through the Worker and records the whole response. */
async function send(
  label: string,
  path: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<Captured> {
  const res = await call(path, init);
  const captured = { label, status: res.status, headers: [...res.headers], body: await res.text() };
  responses.push(captured);
  return captured;
}

async function issue(
  label: string,
  path: string,
  auth: KnownUser,
  json: unknown = {},
): Promise<{ id: string; token: string }> {
  const res = await send(label, path, { method: 'POST', headers: auth.auth, json });
  expect(res.status, res.body).toBe(201);
  const body = JSON.parse(res.body) as { id: string; token: string };
  issued.set(body.token, label);
  return body;
}

const tokens: Record<string, { id: string; token: string }> = {};

describe('the token lifecycle, end to end', () => {
  it('creates personal and service tokens', async () => {
    for (const name of ['used', 'revoked', 'rotated', 'expired', 'deleted', 'leaked', 'self']) {
      tokens[name] = await issue(`create ${name}`, `${API}/tokens`, member, { name });
    }
    const account = await createServiceAccount(admin);
    tokens.service = await issue(
      'create service',
      `${API}/admin/service-accounts/${account.id}/tokens`,
      admin,
      { name: 'svc' },
    );
  });

  it('uses a token through every source', async () => {
    const t = tokens.used!.token;
    const basic = (pair: string) => ({ Authorization: `Basic ${btoa(pair)}` });
    const sources: [string, string, Record<string, string>][] = [
      ['bearer', '/svc/rpc', bearer(t)],
      ['basic password', '/svc/rpc', basic(`git:${t}`)],
      ['basic user', '/svc/rpc', basic(`${t}:x`)],
      ['x-pat', '/svc/rpc', { 'x-pat': t }],
      ['x-auth-token', '/svc/rpc', { 'x-auth-token': t }],
      ['query token', `/svc/rpc?token=${t}&keep=1`, {}],
      ['query access_token', `/svc/rpc?access_token=${t}`, {}],
      ['path last', `/svc/ext/bc/C/rpc/${t}`, {}],
      ['path first', `/ipfs/${t}/api/v0/version`, {}],
      ['echo with a cookie', '/echo/ping', { ...bearer(t), Cookie: `session=${t}; theme=dark` }],
      ['echo with a custom header', `/echo/ping?token=${t}`, { 'x-forwarded-token': `token ${t}` }],
      ['service token', '/svc/rpc', bearer(tokens.service!.token)],
    ];
    for (const [label, path, headers] of sources) {
      const res = await send(`use: ${label}`, path, { headers });
      expect(res.status, `${label}: ${res.body}`).toBe(200);
    }
    expect(upstream.requests.length).toBeGreaterThanOrEqual(10);
  });

  it('authenticates management calls with a PAT, and revokes one through itself', async () => {
    expect(
      (await send('currentuser', `${API}/currentuser`, { headers: { 'x-pat': tokens.used!.token } })).status,
    ).toBe(200);
    expect((await send('self', `${API}/tokens/self`, { headers: bearer(tokens.self!.token) })).status).toBe(
      200,
    );
    const revoked = await send('self revoke', `${API}/tokens/self/revoke`, {
      method: 'POST',
      headers: bearer(tokens.self!.token),
    });
    expect(revoked.status).toBe(200);
  });

  it('revokes, rotates, expires, deletes and reports tokens', async () => {
    const post = (label: string, path: string) =>
      send(label, `${API}${path}`, { method: 'POST', headers: member.auth });
    expect((await post('revoke', `/tokens/${tokens.revoked!.id}/revoke`)).status).toBe(200);
    tokens.successor = await issue('rotate', `${API}/tokens/${tokens.rotated!.id}/rotate`, member);
    // Expired "by time": D1 says so, and the caches (which copied the old expiry) are dropped to match.
    await expireInD1(tokens.expired!.id);
    await env.TOKEN_CACHE.delete(await kvKeyFor(tokens.expired!.token));
    resetIsolateCache();
    const deleted = await send('delete', `${API}/tokens/${tokens.deleted!.id}`, {
      method: 'DELETE',
      headers: member.auth,
    });
    expect(deleted.status).toBe(204);
    const report = await send('leak report', `${API}/credentials/revoke`, {
      method: 'POST',
      headers: { 'cf-connecting-ip': uniqueIp() },
      json: { credentials: [tokens.leaked!.token, generateToken('pat_')] },
    });
    expect(report.status).toBe(202);
    await eventually(async () => {
      const row = await env.DB.prepare('select revoke_reason from tokens where id = ?')
        .bind(tokens.leaked!.id)
        .first();
      expect(row?.revoke_reason).toBe('leaked');
    });
  });

  it('introspects and looks tokens up', async () => {
    const headers = {
      Authorization: `Basic ${btoa('resource-server:introspection-secret-123')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    };
    for (const name of ['used', 'revoked', 'service']) {
      const body = new URLSearchParams({ token: tokens[name]!.token });
      expect(
        (await send(`introspect ${name}`, '/oauth/introspect', { method: 'POST', headers, body })).status,
      ).toBe(200);
    }
    const lookup = await send('lookup', `${API}/admin/tokens/lookup`, {
      method: 'POST',
      headers: admin.auth,
      json: { token: tokens.used!.token },
    });
    expect(JSON.parse(lookup.body).id).toBe(tokens.used!.id);
  });

  it('refuses tokens in every way it can', async () => {
    const t = tokens.used!.token;
    const refusals: [string, string, RequestInit, number][] = [
      ['insufficient scope', '/admin-only/x', { headers: bearer(t) }, 403],
      ['two tokens', '/svc/rpc', { headers: { ...bearer(t), 'x-pat': tokens.service!.token } }, 400],
      ['unmatched path', `/nowhere/${t}`, {}, 404],
      ['token as a management id', `${API}/tokens/${t}`, { headers: member.auth }, 404],
      ['token as a PAT on a JWT-only route', `${API}/tokens`, { headers: { 'x-pat': t } }, 403],
      ['upstream refused, token in path', `/svc/rpc/${t}`, { headers: { 'x-upstream': 'refuse' } }, 502],
      // A client that puts a token where the gateway keeps what it sends: the request id and the user agent.
      [
        'a revoked token, a live one as request id and in the user agent',
        '/svc/rpc',
        {
          headers: {
            ...bearer(tokens.revoked!.token),
            'x-request-id': t,
            'user-agent': `tool/1 ${t} (${t.toUpperCase()})`,
          },
        },
        401,
      ],
      [
        'an audited edit, a token as request id and in the user agent',
        `${API}/tokens/${tokens.used!.id}`,
        {
          method: 'PATCH',
          headers: {
            ...member.auth,
            'x-request-id': `req-${t}`,
            'user-agent': `tool/1 ${t}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ description: 'edited with a token in the user agent' }),
        },
        200,
      ],
    ];
    upstream.reply((r) =>
      r.headers.get('x-upstream') === 'refuse'
        ? Promise.reject(new TypeError('Network connection lost'))
        : Response.json({ path: r.url.pathname }),
    );
    for (const [label, path, init, status] of refusals) {
      expect((await send(`refuse: ${label}`, path, init)).status, label).toBe(status);
    }
    for (const name of ['revoked', 'rotated', 'expired', 'deleted', 'leaked', 'self']) {
      const t2 = tokens[name]!.token;
      for (const [source, path, headers] of [
        ['bearer', '/svc/rpc', bearer(t2)],
        ['query', `/svc/rpc?token=${t2}`, {}],
        ['path', `/svc/rpc/${t2}`, {}],
        ['currentuser', `${API}/currentuser`, { 'x-pat': t2 }],
      ] as const) {
        const res = await send(`refuse ${name} via ${source}`, path, { headers });
        expect(res.status, `${name} via ${source}`).toBe(401);
      }
    }
  });
});

/** A response without what legitimately differs between two requests: the request id and the instance path. */
function comparable(r: Captured) {
  const { request_id: _id, instance: _instance, ...body } = JSON.parse(r.body) as Record<string, unknown>;
  return { status: r.status, headers: r.headers.filter(([name]) => name !== 'x-request-id'), body };
}

describe('refusals say nothing about why', () => {
  it('unknown, malformed, revoked, expired, deleted and leaked tokens get byte-identical answers', async () => {
    const unknown = generateToken('pat_');
    const malformed = `${tokens.used!.token.slice(0, -1)}!`;
    const candidates = [
      unknown,
      malformed,
      ...['revoked', 'expired', 'deleted', 'leaked'].map((n) => tokens[n]!.token),
    ];
    for (const [source, request] of [
      ['bearer', (t: string) => ['/svc/rpc', { headers: bearer(t) }]],
      ['query', (t: string) => [`/svc/rpc?token=${t}`, {}]],
      ['path', (t: string) => [`/svc/rpc/${t}`, {}]],
      ['management', (t: string) => [`${API}/currentuser`, { headers: { 'x-pat': t } }]],
    ] as const) {
      const answers = [];
      // In the path only a well-formed token counts as one (README), so a malformed one there is no token at all.
      for (const t of source === 'path' ? candidates.filter((c) => c !== malformed) : candidates) {
        const [path, init] = request(t);
        answers.push(comparable(await send(`same: ${source}`, path as string, init as RequestInit)));
      }
      for (const answer of answers.slice(1)) expect(answer, source).toEqual(answers[0]);
    }
  });
});

describe('the scan', () => {
  it('finds no plaintext token in logs, D1, KV, upstream requests or responses', async () => {
    // Let background work (usage, audit, KV publish and its 1.5 s resync) land before looking.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const d1 = await snapshotD1();
    const kv = await dumpKv();
    const sent = upstream.requests.map((r) =>
      [
        r.url.href,
        decodeURIComponent(r.url.href),
        ...[...r.headers].flat(),
        new TextDecoder().decode(r.body),
      ].join('\n'),
    );
    const places: [string, string][] = [
      ['console', consoleLines.join('\n')],
      ['D1', JSON.stringify(d1)],
      ['KV', kv.join('\n')],
      ['upstream', sent.join('\n')],
    ];
    // The scan has material: otherwise "nothing found" would mean nothing.
    expect(issued.size).toBe(9);
    expect(consoleLines.length).toBeGreaterThan(10);
    expect(d1.tokens!.length).toBeGreaterThanOrEqual(8);
    expect(kv.length).toBeGreaterThan(8);
    expect(upstream.requests.length).toBeGreaterThanOrEqual(10);
    for (const [token, birth] of issued) {
      for (const form of secretForms(token)) {
        for (const [where, text] of places)
          expect(text.includes(form), `token from "${birth}" found in ${where}`).toBe(false);
        for (const r of responses.filter((r) => r.label !== birth)) {
          const text = `${JSON.stringify(r.headers)}\n${r.body}`;
          expect(text.includes(form), `token from "${birth}" in the response to "${r.label}"`).toBe(false);
        }
      }
    }
  });
});
