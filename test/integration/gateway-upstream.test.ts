import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  fakeUpstream,
  firstPatternMismatch,
  hang,
  patternStream,
  redirectTo,
  refuse,
} from '../gateway-support';
import { bearer, call } from '../helpers';
import { expectProblem, userWithToken } from './support';

// How the gateway behaves towards its upstream: answers relayed as they are (redirects included, never
// followed), 502 when the upstream cannot be reached, 504 when it does not answer within the route's timeout
// (500 ms on svc), and bodies streamed both ways without loss.

afterEach(() => {
  vi.restoreAllMocks();
});

const MB = 1024 * 1024;

async function token(): Promise<string> {
  return (await userWithToken()).created.token;
}

/** POST `body` to the svc route with `token`, stating a Content-Length of `length`. */
function upload(token: string, length: number, body: ReadableStream<Uint8Array>): Promise<Response> {
  return call('/svc/upload', {
    method: 'POST',
    headers: {
      ...bearer(token),
      'content-type': 'application/octet-stream',
      'content-length': String(length),
    },
    body,
  });
}

/** A client's body: 400 bytes, then whatever `then` does on the next pull (fail, or never settle). */
function onePartThen(then: (controller: ReadableStreamDefaultController<Uint8Array>) => unknown) {
  let pulls = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulls++ === 0) controller.enqueue(new Uint8Array(400).fill(7));
      else return then(controller) as Promise<void> | undefined;
    },
  });
}

describe('relaying answers', () => {
  it('hands a redirect back to the client instead of following it', async () => {
    const t = await token();
    const upstream = fakeUpstream(redirectTo('https://elsewhere.test/login?next=%2Fx'));
    // The client asks not to follow either: Fetcher.fetch would otherwise follow the 302 itself.
    const res = await call('/svc/old', { headers: bearer(t), redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('Location')).toBe('https://elsewhere.test/login?next=%2Fx');
    expect(upstream.only().redirect).toBe('manual');
  });

  it('relays the upstream’s status, headers and body, errors included, without the gateway’s own', async () => {
    const t = await token();
    fakeUpstream(
      () =>
        new Response('{"error":"quota"}', {
          status: 429,
          headers: { 'content-type': 'application/json', 'retry-after': '7', 'x-upstream-trace': 'abc' },
        }),
    );
    const res = await call('/svc/rpc', { headers: bearer(t) });
    expect(res.status).toBe(429);
    expect(await res.text()).toBe('{"error":"quota"}');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.headers.get('x-upstream-trace')).toBe('abc');
    expect(res.headers.has('content-security-policy')).toBe(false);
  });

  it('drops hop-by-hop headers from the upstream’s answer', async () => {
    const t = await token();
    fakeUpstream(
      () =>
        new Response('ok', {
          headers: { 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic', 'x-kept': '1' },
        }),
    );
    const res = await call('/svc/rpc', { headers: bearer(t) });
    expect(res.headers.has('keep-alive')).toBe(false);
    expect(res.headers.has('proxy-authenticate')).toBe(false);
    expect(res.headers.get('x-kept')).toBe('1');
  });

  it("relays the upstream's cookies but never one of the gateway's own (UI session, Cloudflare Access)", async () => {
    const t = await token();
    fakeUpstream(() => {
      const headers = new Headers();
      for (const cookie of [
        'app=1; Path=/; HttpOnly',
        '__Secure-pat_session=eyJhbGciOi.forged.jwt; Path=/ui; Secure',
        'PAT_SESSION=forged; Path=/ui',
        'CF_Authorization=forged; Path=/',
        'theme=dark; Expires=Wed, 21 Oct 2026 07:28:00 GMT',
      ])
        headers.append('Set-Cookie', cookie);
      return new Response('ok', { headers });
    });
    const res = await call('/svc/rpc', { headers: bearer(t) });
    expect(res.status).toBe(200);
    expect(res.headers.getAll('set-cookie')).toEqual([
      'app=1; Path=/; HttpOnly',
      'theme=dark; Expires=Wed, 21 Oct 2026 07:28:00 GMT',
    ]);
  });
});

describe('upstream failures', () => {
  // workerd hands such a status through from the network (LinkedIn answers 999); a Response cannot carry it.
  it.each([999, 600, 199])(
    'an upstream status of %i is a 502 upstream_unavailable, not a 500',
    async (status) => {
      const t = await token();
      fakeUpstream(
        () => ({ status, statusText: '', headers: new Headers(), body: null }) as unknown as Response,
      );
      const problem = await expectProblem(
        await call('/svc/rpc', { headers: bearer(t) }),
        502,
        'upstream_unavailable',
      );
      expect(problem.detail).toContain(String(status));
    },
  );

  it('an upstream that cannot be reached is a 502 upstream_unavailable', async () => {
    const t = await token();
    const upstream = fakeUpstream(refuse);
    const res = await call('/svc/rpc', { headers: bearer(t) });
    const problem = await expectProblem(res, 502, 'upstream_unavailable');
    expect(problem.detail).toContain('svc');
    expect(upstream.requests).toHaveLength(1);
  });

  it('an upstream that never answers is a 504 upstream_timeout after the route’s 500 ms', async () => {
    const t = await token();
    const upstream = fakeUpstream(hang);
    const started = Date.now();
    const res = await call('/svc/rpc', { headers: bearer(t) });
    const elapsed = Date.now() - started;
    await expectProblem(res, 504, 'upstream_timeout');
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(1_500);
    expect(upstream.only().signal.aborted).toBe(true);
  });

  it('a slow but timely upstream is not cut off', async () => {
    const t = await token();
    fakeUpstream(
      () => new Promise((resolve) => setTimeout(() => resolve(new Response('late but fine')), 200)),
    );
    const res = await call('/svc/rpc', { headers: bearer(t) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('late but fine');
  });
});

describe('streaming bodies', () => {
  it('a 5 MB streamed upload arrives intact', async () => {
    const t = await token();
    const upstream = fakeUpstream((r) => Response.json({ bytes: r.body.byteLength }));
    const res = await call('/svc/upload', {
      method: 'PUT',
      headers: { ...bearer(t), 'content-type': 'application/octet-stream' },
      body: patternStream(5 * MB),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ bytes: 5 * MB });
    expect(firstPatternMismatch(upstream.only().body)).toBe(-1);
    expect(upstream.only().headers.get('content-type')).toBe('application/octet-stream');
  });

  it('a body of up to 64 KiB with a Content-Length is read whole first, at the client’s pace while it keeps sending', async () => {
    const t = await token();
    // As a real fetch would, the call fails if the gateway aborted it meanwhile (its timeout).
    const upstream = fakeUpstream((r) => {
      if (r.signal.aborted) throw r.signal.reason;
      return Response.json({ bytes: r.body.byteLength });
    });
    // Three parts 350 ms apart on a route whose timeout is 500 ms: 700 ms in all, but never 500 ms without a part.
    // The upstream is called once all of it is in, and its own 500 ms start then.
    const parts = [1, 2, 3].map((n) => new Uint8Array(1000).fill(n));
    let sent = 0;
    const slow = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent > 0) await new Promise((resolve) => setTimeout(resolve, 350));
        if (sent === parts.length) return controller.close();
        controller.enqueue(parts[sent++]!);
      },
    });
    const res = await upload(t, 3000, slow);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ bytes: 3000 });
    const received = upstream.only();
    expect(received.body).toEqual(new Uint8Array([...parts[0]!, ...parts[1]!, ...parts[2]!]));
    expect(received.headers.get('content-length')).toBe('3000');
  });

  it('a body the client breaks off before its Content-Length: 400 incomplete_body, the upstream never called', async () => {
    const t = await token();
    const upstream = fakeUpstream();
    const broken = onePartThen((controller) => controller.error(new Error('client went away')));
    const res = await upload(t, 1000, broken);
    const problem = await expectProblem(res, 400, 'incomplete_body');
    expect(problem.detail).toContain('Content-Length');
    expect(upstream.requests).toHaveLength(0);
  });

  it('a client that stops sending a small body: 408 request_timeout after the route timeout, the upstream never called', async () => {
    const t = await token();
    const upstream = fakeUpstream();
    // The first part, then nothing more: the pull never settles.
    const stalled = onePartThen(() => new Promise<void>(() => {}));
    const started = Date.now();
    const res = await upload(t, 1000, stalled);
    const problem = await expectProblem(res, 408, 'request_timeout');
    expect(problem.detail).toContain('500 ms');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(upstream.requests).toHaveLength(0);
  });

  it('a small body longer than its Content-Length: 400 incomplete_body, read no further, nothing forwarded', async () => {
    const t = await token();
    const upstream = fakeUpstream();
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const res = await upload(t, 10, endless);
    await expectProblem(res, 400, 'incomplete_body');
    expect(upstream.requests).toHaveLength(0);
    // Endless, yet read one part past the stated length and no more (a pull or two of read-ahead).
    expect(pulled).toBeLessThan(4);
  });

  it('a GET or HEAD that announces a body is refused (400), not forwarded without it', async () => {
    const t = await token();
    const upstream = fakeUpstream();
    for (const method of ['GET', 'HEAD']) {
      const framings: Record<string, string>[] = [
        { 'content-length': '17' },
        { 'transfer-encoding': 'chunked' },
      ];
      for (const framing of framings) {
        const res = await call('/svc/_search', { method, headers: { ...bearer(t), ...framing } });
        expect(res.status).toBe(400);
        if (method === 'GET') {
          const problem = await expectProblem(res, 400, 'body_not_allowed');
          expect(problem.detail).toContain('send it with POST');
        }
      }
    }
    expect(upstream.requests).toHaveLength(0);
    // An empty body is no body: a zero Content-Length on a GET is forwarded, however it is written.
    for (const zero of ['0', '00', '0, 0']) {
      const empty = await call('/svc/_search', { headers: { ...bearer(t), 'content-length': zero } });
      expect(empty.status, zero).toBe(200);
    }
    expect(upstream.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'GET']);
  });

  it('a body framed both by Transfer-Encoding and by Content-Length is refused (400), not forwarded', async () => {
    const t = await token();
    const upstream = fakeUpstream();
    const res = await call('/svc/upload', {
      method: 'POST',
      headers: { ...bearer(t), 'transfer-encoding': 'chunked', 'content-length': '5' },
      body: 'hello world',
    });
    const problem = await expectProblem(res, 400, 'ambiguous_body_length');
    expect(problem.detail).toContain('Transfer-Encoding and Content-Length');
    expect(upstream.requests).toHaveLength(0);
    // Either one alone is forwarded.
    for (const framing of [{ 'content-length': '11' }, { 'transfer-encoding': 'chunked' }] as Record<
      string,
      string
    >[]) {
      const ok = await call('/svc/upload', {
        method: 'POST',
        headers: { ...bearer(t), ...framing },
        body: 'hello world',
      });
      expect(ok.status, JSON.stringify(framing)).toBe(200);
    }
    expect(upstream.requests).toHaveLength(2);
    for (const received of upstream.requests)
      expect(new TextDecoder().decode(received.body)).toBe('hello world');
  });

  it('a 10 MB streamed download arrives intact', async () => {
    const t = await token();
    fakeUpstream(
      () => new Response(patternStream(10 * MB), { headers: { 'content-type': 'application/octet-stream' } }),
    );
    const res = await call('/svc/download', { headers: bearer(t) });
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body.byteLength).toBe(10 * MB);
    expect(firstPatternMismatch(body)).toBe(-1);
  });

  it('a download slower than the route timeout is not cut off (the timeout covers the response head)', async () => {
    const t = await token();
    fakeUpstream(() => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 150));
          if (sent++ === 5) return controller.close();
          controller.enqueue(new TextEncoder().encode(`chunk${sent};`));
        },
      });
      return new Response(body);
    });
    const res = await call('/svc/slow', { headers: bearer(t) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('chunk1;chunk2;chunk3;chunk4;chunk5;');
  });
});
