import { exports } from 'cloudflare:workers';
import { vi } from 'vitest';

// A fake upstream for gateway tests. It replaces the Worker's outbound fetch (the Worker and the tests share one
// isolate), records exactly what arrived (method, URL, headers, body bytes, redirect mode) and answers with
// whatever the test scripts: a response, a refused connection, a hang until the gateway aborts, a stream.

export interface Received {
  method: string;
  url: URL;
  headers: Headers;
  body: Uint8Array;
  /** `manual` means the gateway would hand a redirect back to the client instead of following it. */
  redirect: Request['redirect'];
  signal: AbortSignal;
}

export type Script = (received: Received) => Response | Promise<Response>;

export interface FakeUpstream {
  /** Every request the upstream received, in order. */
  readonly requests: Received[];
  /** The single request the upstream received; throws when there were none or several. */
  only(): Received;
  /** Answer the following requests with `script`. */
  reply(script: Script): void;
}

/** Installs the fake upstream; restore it with `vi.restoreAllMocks()` in `afterEach`. */
export function fakeUpstream(script: Script = () => new Response('upstream ok')): FakeUpstream {
  const requests: Received[] = [];
  let current = script;
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    const received: Received = {
      method: request.method,
      url: new URL(request.url),
      headers: new Headers(request.headers),
      body: new Uint8Array(await request.arrayBuffer()),
      redirect: request.redirect,
      signal: request.signal,
    };
    requests.push(received);
    return current(received);
  });
  return {
    requests,
    only() {
      if (requests.length !== 1) throw new Error(`upstream received ${requests.length} requests, not 1`);
      return requests[0]!;
    },
    reply(next) {
      current = next;
    },
  };
}

/** A connection that cannot be made: fetch rejects with a TypeError, as workerd's does. */
export const refuse: Script = () =>
  Promise.reject(new TypeError('Network connection lost: connection refused'));

/** An upstream that never answers; the promise rejects only when the gateway aborts the request. */
export const hang: Script = ({ signal }) =>
  new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason));
  });

export const redirectTo =
  (location: string, status = 302): Script =>
  () =>
    new Response(null, { status, headers: { Location: location } });

/** Byte `i` of every generated body: a pattern that reveals lost, repeated or reordered chunks. */
export const patternByte = (i: number) => (i * 7 + (i >> 16)) & 0xff;

/** A body of `total` pattern bytes, produced lazily in chunks of `chunk` bytes (never held in one buffer). */
export function patternStream(total: number, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const size = Math.min(chunk, total - sent);
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = patternByte(sent + i);
      sent += size;
      controller.enqueue(bytes);
    },
  });
}

/** Index of the first byte that breaks the pattern, or -1 when all of `bytes` follows it. */
export function firstPatternMismatch(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== patternByte(i)) return i;
  return -1;
}

/** Where `secret` shows up in what the upstream received (URL, header names and values, body), e.g. ['url']. */
export function leaks(received: Received, secret: string): string[] {
  const places: string[] = [];
  const url = received.url.href;
  if (url.includes(secret) || decodeURIComponent(url).includes(secret)) places.push('url');
  for (const [name, value] of received.headers) {
    if (name.includes(secret.toLowerCase()) || value.includes(secret)) places.push(`header ${name}`);
  }
  if (new TextDecoder().decode(received.body).includes(secret)) places.push('body');
  return places;
}

/** A request to any absolute URL (e.g. another Host) through the Worker's real fetch handler. */
export function gatewayFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(url, init));
}
