import { afterEach, describe, expect, it, vi } from 'vitest';
import { resetIsolateCache } from '../../src/auth/token-cache';
import { fakeUpstream } from '../gateway-support';
import { bearer } from '../helpers';
import { failD1, failKv } from '../reliability-support';
import { expiresSoon, finiteEvents, gateway, openSocket, revoke, sleep, within } from './live-support';
import { expectJson, userWithToken } from './support';

// Connections that outlive their request (WebSockets, event streams) keep checking their token: revoked, expired or
// unverifiable, the gateway ends them (README "Revocation"). The gateway runs here with GATEWAY_RECHECK_SECONDS
// set per test; the upstream is the fake one, holding the other end of the socket or stream.

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('a WebSocket through the gateway', () => {
  it('relays text and binary messages both ways', async () => {
    const { created } = await userWithToken();
    const ends = await openSocket(created.token, 60);
    ends.client.send('hello');
    expect(await within(2000, 'text echo', ends.next())).toBe('echo:hello');
    ends.client.send(new Uint8Array([0, 1, 2, 255]).buffer);
    const binary = await within(2000, 'binary echo', ends.next());
    expect(binary).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(binary as ArrayBuffer)]).toEqual([0, 1, 2, 255]);
    ends.client.close(1000, 'done');
  });

  it('is closed on both ends (1008) within the recheck interval once its token is revoked', async () => {
    const { user, created } = await userWithToken();
    const ends = await openSocket(created.token, 1);
    ends.client.send('before');
    expect(await within(2000, 'echo before revocation', ends.next())).toBe('echo:before');
    await expectJson(await revoke(user.jwt, created.id), 200);
    const closed = await within(3000, 'client close after revocation', ends.clientClosed);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toBe('token no longer valid');
    expect((await within(2000, 'upstream close', ends.upstreamClosed)).code).toBe(1008);
  });

  it('is closed at its token’s expiry, however long the recheck interval', async () => {
    const { created } = await userWithToken();
    // The token expires 1.5 s from now, read from D1 by the handshake (no cached copy with the old expiry).
    const expiry = await expiresSoon(created, 1500);
    const ends = await openSocket(created.token, 3600);
    ends.client.send('alive');
    expect(await within(1000, 'echo before expiry', ends.next())).toBe('echo:alive');
    const closed = await within(3000, 'client close at expiry', ends.clientClosed);
    expect(closed.code).toBe(1008);
    expect(Date.now()).toBeGreaterThanOrEqual(expiry);
  });

  it('is closed (1011) when its token can no longer be checked: fails closed', async () => {
    const { created } = await userWithToken();
    const ends = await openSocket(created.token, 1);
    resetIsolateCache();
    failKv({ reads: true });
    failD1('down');
    const closed = await within(3000, 'client close with storage down', ends.clientClosed);
    expect(closed.code).toBe(1011);
    expect(closed.reason).toBe('token state unavailable');
  });

  it('stays open while its token is valid, past several rechecks', async () => {
    const { created } = await userWithToken();
    const ends = await openSocket(created.token, 1);
    await sleep(2500);
    ends.client.send('still here');
    expect(await within(2000, 'echo after rechecks', ends.next())).toBe('echo:still here');
    ends.client.close(1000, 'done');
  });

  it('passes a close from either end to the other, with its code', async () => {
    const { created } = await userWithToken();
    const fromClient = await openSocket(created.token, 60);
    fromClient.client.close(4001, 'client done');
    const atUpstream = await within(2000, 'upstream sees the close', fromClient.upstreamClosed);
    expect([atUpstream.code, atUpstream.reason]).toEqual([4001, 'client done']);

    const fromUpstream = await openSocket(created.token, 60);
    fromUpstream.upstream.close(4002, 'upstream done');
    const atClient = await within(2000, 'client sees the close', fromUpstream.clientClosed);
    expect([atClient.code, atClient.reason]).toEqual([4002, 'upstream done']);
  });

  it('with GATEWAY_RECHECK_SECONDS=0 the upstream socket is relayed as is and outlives a revocation', async () => {
    const { user, created } = await userWithToken();
    const ends = await openSocket(created.token, 0);
    await expectJson(await revoke(user.jwt, created.id), 200);
    await sleep(1500);
    ends.client.send('after');
    expect(await within(2000, 'echo after revocation', ends.next())).toBe('echo:after');
    ends.client.close(1000, 'done');
  });
});

/** An upstream event stream sending `data: n` every 100 ms until cancelled; `cancelled` resolves then. */
function eventStream() {
  let cancelled!: () => void;
  const whenCancelled = new Promise<void>((resolve) => {
    cancelled = resolve;
  });
  let n = 0;
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await sleep(100);
      controller.enqueue(encoder.encode(`data: ${n++}\n\n`));
    },
    cancel() {
      cancelled();
    },
  });
  return { body, whenCancelled };
}

/** Reads `body` to its end; the text read. */
async function readAll(body: ReadableStream<Uint8Array>): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  return text;
}

describe('an event stream through the gateway', () => {
  it('ends, and the upstream’s is cancelled, once its token is revoked (a POST, as LLM APIs stream)', async () => {
    const { user, created } = await userWithToken();
    const upstream = eventStream();
    fakeUpstream(
      () => new Response(upstream.body, { headers: { 'content-type': 'text/event-stream; charset=utf-8' } }),
    );
    const res = await gateway(
      '/svc/chat',
      { method: 'POST', headers: bearer(created.token), body: '{"stream":true}' },
      1,
    );
    expect(res.status).toBe(200);
    const text = readAll(res.body!);
    await sleep(300);
    await expectJson(await revoke(user.jwt, created.id), 200);
    const read = await within(3000, 'stream end after revocation', text);
    expect(read).toMatch(/^data: 0\n\n/);
    await within(1000, 'upstream stream cancelled', upstream.whenCancelled);
  });

  it('streams to its end untouched while the token is valid', async () => {
    const { created } = await userWithToken();
    fakeUpstream(
      () => new Response(finiteEvents(30, 50), { headers: { 'content-type': 'text/event-stream' } }),
    );
    const res = await gateway('/svc/events', { headers: bearer(created.token) }, 1);
    const text = await within(5000, 'whole stream', readAll(res.body!));
    expect(text).toBe(Array.from({ length: 30 }, (_, i) => `data: ${i}\n\n`).join(''));
  });
});
