// `npm run test:e2e`: the local gateway and real upstreams on loopback, driven by real clients (curl, a
// WebSocket client, a streamed upload). Uses node's test runner; the harness stops what it started.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { curl, type Harness, startHarness } from './harness';

let h: Harness;
let pat: string;
let tokenId: string;
let jwt: string;

async function api(path: string, init: RequestInit = {}) {
  const res = await fetch(h.gateway + path, {
    ...init,
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${jwt}`,
      ...(init.headers as Record<string, string>),
    },
  });
  return {
    status: res.status,
    body: res.status === 204 ? null : ((await res.json()) as Record<string, unknown>),
  };
}

function lastReceived() {
  const record = h.upstream.received.at(-1);
  assert.ok(record, 'the upstream received nothing');
  return record;
}

/** The URLs of the requests the upstream began to receive whose URL holds `part`. */
const upstreamBegun = (part: string) =>
  h.upstream.begun.filter((url) => url.includes(part.replace(/^\/e2e(-slow)?/, '')));

/**
 * POSTs `parts` to `path`, one every 200 ms (with a Content-Length when `length`), stopping after `stopAfter` parts
 * with the connection left open; the answer.
 */
function slowUpload(
  path: string,
  parts: Buffer[],
  length: boolean,
  stopAfter = parts.length,
): Promise<{ status: number; body: string }> {
  const total = parts.reduce((n, part) => n + part.length, 0);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(h.gateway + path),
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${pat}`,
          'content-type': 'application/octet-stream',
          ...(length ? { 'content-length': String(total) } : {}),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    parts.slice(0, stopAfter).forEach((part, i) => {
      setTimeout(() => (i === parts.length - 1 ? req.end(part) : req.write(part)), i * 200);
    });
  });
}

function assertNoToken(where: unknown) {
  assert.ok(!JSON.stringify(where).includes(pat), 'the token reached the upstream');
}

before(async () => {
  h = await startHarness();
  const session = await fetch(`${h.gateway}/api/v1/dev/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: `e2e-${Date.now()}`, role: 'member' }),
  });
  jwt = ((await session.json()) as { token: string }).token;
  const created = await api('/api/v1/tokens', {
    method: 'POST',
    body: JSON.stringify({ name: 'e2e', expires_in_days: 7 }),
  });
  assert.equal(created.status, 201);
  pat = created.body!.token as string;
  tokenId = created.body!.id as string;
});

after(async () => {
  await h?.stop();
});

describe('every token source through curl', () => {
  const cases: [string, () => string[], string][] = [
    [
      'Authorization: Bearer',
      () => ['-H', `Authorization: Bearer ${pat}`, `${h.gateway}/e2e/v1/items?x=1`],
      '/v1/items?x=1',
    ],
    ['Authorization: Basic (curl -u)', () => ['-u', `git:${pat}`, `${h.gateway}/e2e/v1/items`], '/v1/items'],
    ['x-pat header', () => ['-H', `x-pat: ${pat}`, `${h.gateway}/e2e/v1/items`], '/v1/items'],
    ['x-auth-token header', () => ['-H', `x-auth-token: ${pat}`, `${h.gateway}/e2e/v1/items`], '/v1/items'],
    ['?token= query', () => [`${h.gateway}/e2e/v1/items?token=${pat}&page=2`], '/v1/items?page=2'],
    ['last path segment', () => [`${h.gateway}/e2e/ext/bc/C/rpc/${pat}`], '/ext/bc/C/rpc'],
    ['first path segment (IPFS)', () => [`${h.gateway}/e2e-ipfs/${pat}/api/v0/version`], '/api/v0/version'],
  ];
  for (const [name, args, expectedUrl] of cases) {
    it(`${name}: 200, forwarded without the token`, async () => {
      const res = await curl(args());
      assert.equal(res.status, 200, res.body);
      const received = lastReceived();
      assert.equal(received.url, expectedUrl);
      assertNoToken(received);
      assert.equal(received.headers.authorization, undefined);
      assert.equal(received.headers['x-pat-token-id'], tokenId);
    });
  }

  it('URL tokens make the response private and referrer-free', async () => {
    const res = await curl([`${h.gateway}/e2e/v1/items?token=${pat}`]);
    assert.match(res.headers, /cache-control: private, no-store/);
    assert.match(res.headers, /referrer-policy: no-referrer/);
  });

  it('no token → 401 with a Bearer challenge; a made-up token → 401 invalid_token', async () => {
    const missing = await curl([`${h.gateway}/e2e/v1/items`]);
    assert.equal(missing.status, 401);
    assert.match(missing.headers, /www-authenticate: bearer realm="pat-gateway"/);
    const wrong = await curl([
      '-H',
      `Authorization: Bearer ${pat.slice(0, -1)}x`,
      `${h.gateway}/e2e/v1/items`,
    ]);
    assert.equal(wrong.status, 401);
    assert.equal(JSON.parse(wrong.body).code, 'invalid_token');
  });
});

describe('bodies stream both ways', () => {
  it('a 16 MiB streamed upload arrives intact', async () => {
    const chunk = Buffer.alloc(1024 * 1024);
    const hash = createHash('sha256');
    const total = 16;
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${h.gateway}/e2e/upload`);
      const req = request(
        url,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/octet-stream' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          chunk.fill(sent % 251);
          hash.update(chunk);
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(status, 200);
    const received = lastReceived();
    assert.equal(received.bytes, total * 1024 * 1024);
    assert.equal(received.sha256, hash.digest('hex'));
  });

  it('a 16 MiB download arrives intact', async () => {
    const bytes = 16 * 1024 * 1024;
    const res = await fetch(`${h.gateway}/e2e/download/${bytes}`, {
      headers: { authorization: `Bearer ${pat}` },
    });
    assert.equal(res.status, 200);
    let got = 0;
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) got += part.byteLength;
    assert.equal(got, bytes);
  });

  it('the route timeout covers the response head only: a body still streaming after it arrives whole', {
    timeout: 15_000,
  }, async () => {
    // Route e2e-slow times out after 300 ms; the upstream sends its head at once and the end of its body 1.2 s later.
    const res = await fetch(`${h.gateway}/e2e-slow/slow/1200`, {
      headers: { authorization: `Bearer ${pat}` },
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'first;last');
  });

  // A client uploading for longer than the route's timeout (300 ms), a part every 200 ms, is answered: a body over
  // 64 KiB streams and the upstream keeps taking it; a smaller one with a Content-Length is read whole first, and the
  // client is never 300 ms without sending. Either way a Content-Length reaches the upstream as sent.
  for (const [label, size, length] of [
    ['70 kB streamed, Content-Length', 10_000, true],
    ['70 kB streamed, chunked', 10_000, false],
    ['7 kB read whole first, Content-Length', 1_000, true],
  ] as const) {
    it(`a slow upload (1.2 s, ${label}) is not a timeout`, { timeout: 15_000 }, async () => {
      const parts = [1, 2, 3, 4, 5, 6, 7].map((n) => Buffer.alloc(size, n));
      const answer = await slowUpload('/e2e-slow/upload', parts, length);
      assert.equal(answer.status, 200, answer.body);
      const received = lastReceived();
      assert.equal(received.bytes, 7 * size);
      assert.equal(received.sha256, createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
      assert.equal(received.headers['content-length'], length ? String(7 * size) : undefined);
    });
  }

  it('a client that stops sending a small body gets 408 at the route timeout; the upstream never sees it', {
    timeout: 15_000,
  }, async () => {
    const path = `/e2e-slow/upload/stalled-${Date.now()}`;
    const started = Date.now();
    // 3 of 7 parts, then silence (the connection stays open).
    const parts = [1, 2, 3, 4, 5, 6, 7].map((n) => Buffer.alloc(1000, n));
    const answer = await slowUpload(path, parts, true, 3);
    const elapsed = Date.now() - started;
    assert.equal(answer.status, 408, answer.body);
    assert.equal(JSON.parse(answer.body).code, 'request_timeout');
    // The last part went at 400 ms; the answer comes one route timeout (300 ms) later, give or take the machine.
    assert.ok(elapsed >= 600 && elapsed < 5_000, `answered after ${elapsed} ms`);
    assert.deepEqual(upstreamBegun(path), []);
  });

  it('a client that goes away in the middle of a small body: the upstream never sees the request', {
    timeout: 15_000,
  }, async () => {
    const stamp = Date.now();
    const sendHalf = (path: string, complete: boolean) =>
      new Promise<void>((resolve, reject) => {
        const req = request(new URL(h.gateway + path), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${pat}`,
            'content-type': 'application/json',
            'content-length': '7000',
          },
        });
        req.on('error', () => resolve());
        req.on('response', (res) => {
          res.resume();
          if (!complete) reject(new Error('answered a request whose body never came'));
        });
        req.write(Buffer.alloc(3000, 1));
        setTimeout(() => (complete ? req.end(Buffer.alloc(4000, 1)) : req.destroy()), 300);
        setTimeout(resolve, 1_000);
      });
    // The same timing with the body completed is the control: that request does reach the upstream.
    await Promise.all([
      sendHalf(`/e2e/upload/broken-${stamp}`, false),
      sendHalf(`/e2e/upload/whole-${stamp}`, true),
    ]);
    assert.deepEqual(upstreamBegun(`/upload/whole-${stamp}`).length, 1);
    assert.deepEqual(upstreamBegun(`/upload/broken-${stamp}`), []);
  });

  it('an upstream that stops taking the body is a 504 once nothing moved for the route timeout', {
    timeout: 15_000,
  }, async () => {
    const started = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      let answered = false;
      const req = request(
        new URL(`${h.gateway}/e2e-slow/stall`),
        {
          method: 'POST',
          headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/octet-stream' },
        },
        (res) => {
          answered = true;
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      // Once answered, the gateway may drop the rest of the upload: that error is expected.
      req.on('error', (error) => (answered ? undefined : reject(error)));
      const chunk = Buffer.alloc(1024 * 1024, 9);
      let sent = 0;
      const pump = () => {
        while (!answered && sent < 64) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!answered) req.end();
      };
      pump();
    });
    assert.equal(status, 504);
    assert.ok(Date.now() - started < 10_000, `answered after ${Date.now() - started} ms`);
  });

  it('an event stream lasting longer than the route timeout arrives whole', { timeout: 15_000 }, async () => {
    const res = await fetch(`${h.gateway}/e2e-slow/events/1200`, {
      headers: { authorization: `Bearer ${pat}` },
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'data: one\n\ndata: two\n\n');
  });

  it('no response head within the route timeout → 504 upstream_timeout at the timeout', {
    timeout: 15_000,
  }, async () => {
    const started = Date.now();
    const res = await fetch(`${h.gateway}/e2e-slow/late/3000`, {
      headers: { authorization: `Bearer ${pat}` },
    });
    const elapsed = Date.now() - started;
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { code: string }).code, 'upstream_timeout');
    assert.ok(elapsed >= 250 && elapsed < 2_500, `answered after ${elapsed} ms`);
  });

  it('a GET with a body (as Elasticsearch clients send) is refused, not forwarded without it', async () => {
    const before = h.upstream.received.length;
    const res = await curl([
      '-X',
      'GET',
      '--data',
      '{"query":{"match_all":{}}}',
      '-H',
      'content-type: application/json',
      '-H',
      `x-pat: ${pat}`,
      `${h.gateway}/e2e/_search`,
    ]);
    assert.equal(res.status, 400, res.body);
    assert.equal(JSON.parse(res.body).code, 'body_not_allowed');
    assert.equal(h.upstream.received.length, before);
  });
});

describe('WebSocket upgrades pass through', () => {
  it('a WebSocket stays open longer than its route timeout (300 ms)', { timeout: 15_000 }, async () => {
    const socket = new WebSocket(`${h.gateway.replace('http', 'ws')}/ws-slow/rpc`, {
      headers: { 'x-pat': pat },
    });
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (data) => {
        messages.push(data.toString());
        if (messages.length === 1) setTimeout(() => socket.send('late'), 1_000);
        else resolve();
      });
      socket.on('close', (code) =>
        reject(new Error(`closed with ${code} after ${messages.length} messages`)),
      );
      socket.on('error', reject);
      setTimeout(() => reject(new Error('no echo within 10 s')), 10_000);
    });
    socket.removeAllListeners('close');
    socket.close();
    assert.equal(messages[1], 'echo:late');
  });

  it('a JSON-RPC style subscription round-trips, token stripped', async () => {
    const socket = new WebSocket(`${h.gateway.replace('http', 'ws')}/ws/rpc`, { headers: { 'x-pat': pat } });
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (data) => {
        messages.push(data.toString());
        if (messages.length === 1) socket.send('{"jsonrpc":"2.0","method":"eth_subscribe","id":1}');
        else resolve();
      });
      socket.on('error', reject);
      setTimeout(() => reject(new Error('no WebSocket messages within 10 s')), 10_000);
    });
    socket.close();
    const hello = JSON.parse(messages[0]!) as { url: string; headers: Record<string, string> };
    assert.equal(hello.url, '/rpc');
    assert.equal(hello.headers['x-pat-token-id'], tokenId);
    assertNoToken(hello);
    assert.equal(messages[1], 'echo:{"jsonrpc":"2.0","method":"eth_subscribe","id":1}');
  });

  it('an open WebSocket is closed (1008) once its token is revoked, binary messages relayed until then', async () => {
    const created = await api('/api/v1/tokens', {
      method: 'POST',
      body: JSON.stringify({ name: 'e2e-ws-revoke', expires_in_days: 7 }),
    });
    assert.equal(created.status, 201);
    const socket = new WebSocket(`${h.gateway.replace('http', 'ws')}/ws/rpc`, {
      headers: { 'x-pat': created.body!.token as string },
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const messages: (string | Buffer)[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (data, isBinary) => {
        messages.push(isBinary ? (data as Buffer) : data.toString());
        if (messages.length === 1) socket.send(Buffer.from([0, 1, 2, 255]));
        else resolve();
      });
      socket.on('error', reject);
      setTimeout(() => reject(new Error('no WebSocket messages within 10 s')), 10_000);
    });
    assert.deepEqual([...(messages[1] as Buffer)], [0, 1, 2, 255]);
    const revoked = await api(`/api/v1/tokens/${created.body!.id as string}/revoke`, { method: 'POST' });
    assert.equal(revoked.status, 200);
    const outcome = await Promise.race([
      closed,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
    ]);
    assert.deepEqual(outcome, { code: 1008, reason: 'token no longer valid' });
  });

  it('a WebSocket without a token is refused', async () => {
    const socket = new WebSocket(`${h.gateway.replace('http', 'ws')}/ws/rpc`);
    const status = await new Promise<number>((resolve) => {
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.on('error', () => resolve(-1));
    });
    assert.equal(status, 401);
  });
});

describe('lifecycle through the real gateway', () => {
  it('revoke → 401 at once; restore → 200; last used is recorded', async () => {
    assert.equal((await curl(['-H', `x-pat: ${pat}`, `${h.gateway}/e2e/ping`])).status, 200);
    assert.equal((await api(`/api/v1/tokens/${tokenId}/revoke`, { method: 'POST' })).status, 200);
    assert.equal((await curl(['-H', `x-pat: ${pat}`, `${h.gateway}/e2e/ping`])).status, 401);
    assert.equal((await api(`/api/v1/tokens/${tokenId}/restore`, { method: 'POST' })).status, 200);
    assert.equal((await curl(['-H', `x-pat: ${pat}`, `${h.gateway}/e2e/ping`])).status, 200);
    const token = await api(`/api/v1/tokens/${tokenId}`);
    assert.ok(token.body!.last_used_at, 'last_used_at was not recorded');
  });
});
