import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { createApp } from '../../src/app';
import { resetIsolateCache } from '../../src/auth/token-cache';
import { fakeUpstream } from '../gateway-support';
import { BASE, bearer } from '../helpers';
import { expectJson, kvKeyFor, postJson, waitForKv } from './support';

// Connections that outlive their request, through the gateway (gateway-live*.test.ts): the app runs with
// GATEWAY_RECHECK_SECONDS set per test; the upstream is the fake one, holding the other end of the socket or stream.

export async function gateway(
  path: string,
  init: RequestInit,
  recheckSeconds: number,
  vars: Record<string, string> = {},
): Promise<Response> {
  return await createApp().fetch(
    new Request(BASE + path, init),
    { ...env, GATEWAY_RECHECK_SECONDS: String(recheckSeconds), ...vars },
    createExecutionContext(),
  );
}

export const UPGRADE = { Upgrade: 'websocket', Connection: 'Upgrade' };
export const revoke = (jwt: string, id: string) => postJson(`/tokens/${id}/revoke`, jwt);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a failure naming `what` after `ms`. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms),
    ),
  ]);
}

export interface Ends {
  upstream: WebSocket;
  upstreamClosed: Promise<CloseEvent>;
  client: WebSocket;
  clientClosed: Promise<CloseEvent>;
  response: Response;
  next(): Promise<string | ArrayBuffer>;
}

/**
 * Opens a WebSocket through the gateway to a fake upstream that echoes every message back, with `echo:` in front
 * (text) or as is (binary).
 */
export async function openSocket(
  token: string,
  recheckSeconds: number,
  options: { path?: string; vars?: Record<string, string>; upstreamHeaders?: HeadersInit } = {},
): Promise<Ends> {
  let upstream!: WebSocket;
  fakeUpstream(() => {
    const pair = new WebSocketPair();
    upstream = pair[1];
    upstream.binaryType = 'arraybuffer';
    upstream.accept();
    upstream.addEventListener('message', (event) =>
      upstream.send(typeof event.data === 'string' ? `echo:${event.data}` : event.data),
    );
    return new Response(null, { status: 101, webSocket: pair[0], headers: options.upstreamHeaders });
  });
  const response = await gateway(
    options.path ?? '/svc/ws',
    { headers: { ...bearer(token), ...UPGRADE } },
    recheckSeconds,
    options.vars,
  );
  expect(response.status).toBe(101);
  const client = response.webSocket!;
  client.binaryType = 'arraybuffer';
  client.accept();
  const upstreamClosed = new Promise<CloseEvent>((resolve) => upstream.addEventListener('close', resolve));
  const clientClosed = new Promise<CloseEvent>((resolve) => client.addEventListener('close', resolve));
  const queue: (string | ArrayBuffer)[] = [];
  const waiting: ((data: string | ArrayBuffer) => void)[] = [];
  client.addEventListener('message', (event) => {
    const data = event.data as string | ArrayBuffer;
    const wake = waiting.shift();
    if (wake) wake(data);
    else queue.push(data);
  });
  const next = () =>
    queue.length > 0
      ? Promise.resolve(queue.shift()!)
      : new Promise<string | ArrayBuffer>((resolve) => waiting.push(resolve));
  return { upstream, upstreamClosed, client, clientClosed, response, next };
}

/** An upstream event stream of `count` events (`data: 0`, `data: 1`…), one every `everyMs`. */
export function finiteEvents(count: number, everyMs: number): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let n = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      await sleep(everyMs);
      if (n === count) return controller.close();
      controller.enqueue(encoder.encode(`data: ${n++}\n\n`));
    },
  });
}

/** The socket stays open past a few rechecks every second, then closes (1008) once the token is revoked. */
export async function survivesRechecksThenCloses(ends: Ends, jwt: string, tokenId: string): Promise<void> {
  await sleep(2500);
  ends.client.send('still');
  expect(await within(2000, 'echo after rechecks', ends.next())).toBe('echo:still');
  await expectJson(await revoke(jwt, tokenId), 200);
  expect((await within(4000, 'close after revocation', ends.clientClosed)).code).toBe(1008);
}

/**
 * Moves the token's expiry to `inMs` from now in D1 and drops its cached copies, so the next request reads D1 and
 * sees it; returns the expiry.
 */
export async function expiresSoon(created: { id: string; token: string }, inMs: number): Promise<number> {
  const expiry = Date.now() + inMs;
  await env.DB.prepare('update tokens set expires_at = ? where id = ?').bind(expiry, created.id).run();
  const key = await kvKeyFor(created.token);
  await waitForKv(key);
  await env.TOKEN_CACHE.delete(key);
  resetIsolateCache();
  return expiry;
}
