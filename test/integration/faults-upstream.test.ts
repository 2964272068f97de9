import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeUpstream, hang, patternByte, refuse } from '../gateway-support';
import { bearer, call } from '../helpers';
import { KB } from '../reliability-support';
import { expectProblem, userWithToken } from './support';

// The upstream misbehaving: refusing connections (502), never answering (504 at the route's timeout, 500 ms on
// svc), or dying in the middle of its body. A body cut short must reach the client as an error — never as a
// complete-looking 200 that a client would take for the whole answer.

afterEach(() => {
  vi.restoreAllMocks();
});

async function token(): Promise<string> {
  return (await userWithToken()).created.token;
}

/** A body that sends `bytes` pattern bytes, then fails as a reset connection does. */
function resetAfter(bytes: number): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent) return controller.error(new TypeError('Network connection lost: connection reset'));
      sent = true;
      controller.enqueue(Uint8Array.from({ length: bytes }, (_, i) => patternByte(i)));
    },
  });
}

/** Reads the whole body; resolves with what arrived and whether the stream ended in an error. */
async function drain(res: Response): Promise<{ received: number; error: unknown }> {
  const reader = res.body!.getReader();
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { received, error: null };
      received += value.byteLength;
    }
  } catch (error) {
    return { received, error };
  }
}

describe('refused connections', () => {
  it.each(['GET', 'POST', 'PUT', 'DELETE'])(
    '%s → 502 upstream_unavailable, naming the route, not the host',
    async (method) => {
      const t = await token();
      const upstream = fakeUpstream(refuse);
      const body = method === 'GET' || method === 'DELETE' ? null : '{"x":1}';
      const res = await call('/svc/rpc', { method, headers: bearer(t), body });
      const problem = await expectProblem(res, 502, 'upstream_unavailable');
      expect(problem.detail).toContain('svc');
      expect(JSON.stringify(problem)).not.toContain('upstream.test');
      expect(upstream.requests).toHaveLength(1);
    },
  );

  it('a refusal is not remembered: the next request goes through', async () => {
    const t = await token();
    const upstream = fakeUpstream(refuse);
    await expectProblem(await call('/svc/rpc', { headers: bearer(t) }), 502, 'upstream_unavailable');
    upstream.reply(() => new Response('back'));
    const res = await call('/svc/rpc', { headers: bearer(t) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('back');
  });
});

describe('hanging upstreams', () => {
  it('no response head within the route timeout (500 ms) → 504 upstream_timeout, and the upstream call is aborted', async () => {
    const t = await token();
    const upstream = fakeUpstream(hang);
    const started = Date.now();
    const res = await call('/svc/rpc', { method: 'POST', headers: bearer(t), body: 'payload' });
    const elapsed = Date.now() - started;
    await expectProblem(res, 504, 'upstream_timeout');
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(2_000);
    expect(upstream.only().signal.aborted).toBe(true);
  });

  it('several hanging requests at once each time out on their own clock', async () => {
    const t = await token();
    fakeUpstream(hang);
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => call('/svc/rpc', { headers: bearer(t) })),
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    for (const res of answers) await expectProblem(res, 504, 'upstream_timeout');
  });
});

describe('an upstream that dies mid-body', () => {
  it('with a declared Content-Length: the client’s read fails and it never gets the full length', async () => {
    const t = await token();
    fakeUpstream(
      () =>
        new Response(resetAfter(64 * KB), {
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(1024 * KB) },
        }),
    );
    const res = await call('/svc/download', { headers: bearer(t) });
    // The head was already relayed, so the status is the upstream's; the body must not look complete.
    const { received, error } = await drain(res);
    expect(error).not.toBeNull();
    expect(received).toBeLessThan(1024 * KB);
  });

  it('chunked (no Content-Length): the client’s read fails instead of ending cleanly', async () => {
    const t = await token();
    fakeUpstream(() => new Response(resetAfter(16 * KB)));
    const res = await call('/svc/download', { headers: bearer(t) });
    await expect(res.arrayBuffer()).rejects.toThrow();
  });

  it('before the first byte: the client’s read fails too', async () => {
    const t = await token();
    fakeUpstream(() => new Response(resetAfter(0)));
    const res = await call('/svc/download', { headers: bearer(t) });
    const { error } = await drain(res);
    expect(error).not.toBeNull();
  });
});
