import { reverify, type VerifyDeps } from '../auth/verify-pat';

// Connections that outlive their request: a WebSocket, an event stream (`text/event-stream`, which is also how LLM
// APIs stream answers to a POST). A token is verified when the request arrives; these keep checking it, so a
// revocation, an expiry, a deactivated owner or a narrowed scope ends them too, within `GATEWAY_RECHECK_SECONDS` of
// the change reaching this isolate (its caches answer first, as for requests), and at the expiry itself.

/** What a connection needs to check its token again: never the token, only its hash and id. */
export interface Watch {
  hash: string;
  tokenId: string;
  /** The token's expiry when last checked (epoch ms), or null. */
  exp: number | null;
  /** The scopes the request needed; the token must still hold them all. */
  needed: string[];
  recheckMs: number;
  routeName: string;
  /** Verification's dependencies; `now` is replaced at each check. */
  deps: VerifyDeps;
}

/** Why a connection was ended: the token no longer admits it, or storage could not say whether it does. */
export type Ending = 'refused' | 'unavailable';

/** Close codes (RFC 6455 §7.4.1): 1008 for a policy violation, 1011 for an unexpected condition. */
const CLOSE = { refused: 1008, unavailable: 1011 } as const;
const REASON = { refused: 'token no longer valid', unavailable: 'token state unavailable' } as const;

/**
 * A check that has not answered after this long (a KV or D1 read that hangs) counts as storage not answering: the
 * connection is ended (fails closed) instead of never being checked again. The request path's own "storage is slow
 * or stuck" bound (token-cache `loadLimits.joinWindowMs`) is the same 5 s.
 */
const CHECK_TIMEOUT_MS = 5_000;

/** Whether the token still admits the connection; throws when storage cannot say. */
async function stillAdmitted(watch: Watch, now: number): Promise<boolean> {
  const result = await reverify(watch.hash, watch.tokenId, { ...watch.deps, now });
  if (!result.ok) return false;
  if (!watch.needed.every((scope) => result.scopes.includes(scope))) return false;
  watch.exp = result.state.exp; // an edit may have moved it
  return true;
}

/**
 * Checks the token every `recheckMs` and at its expiry; calls `end` once when it no longer admits the connection.
 * Returns the function that stops watching (the connection ended by itself).
 */
export function watchToken(watch: Watch, end: (ending: Ending) => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const finish = (ending: Ending) => {
    if (stopped) return;
    stopped = true;
    console.log(
      JSON.stringify({
        event: 'connection_ended',
        reason: ending,
        route: watch.routeName,
        token_id: watch.tokenId,
      }),
    );
    end(ending);
  };
  const check = async () => {
    if (stopped) return;
    let admitted: boolean;
    let limit: ReturnType<typeof setTimeout> | undefined;
    try {
      admitted = await Promise.race([
        stillAdmitted(watch, Date.now()),
        new Promise<never>((_, reject) => {
          limit = setTimeout(() => reject(new Error('token check timed out')), CHECK_TIMEOUT_MS);
        }),
      ]);
    } catch {
      // Fails closed, like a request: a connection whose token cannot be checked is not kept.
      return finish('unavailable');
    } finally {
      clearTimeout(limit);
    }
    if (stopped) return;
    if (admitted) schedule();
    else finish('refused');
  };
  const schedule = () => {
    const untilExpiry = watch.exp === null ? Number.POSITIVE_INFINITY : watch.exp - Date.now();
    timer = setTimeout(check, Math.max(0, Math.min(watch.recheckMs, untilExpiry)));
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * The code a close is passed on with. A close frame may not carry 1005, 1006 or 1015 (RFC 6455 §7.4.1: they only
 * report what happened) nor the reserved 1004, and workerd's close() throws on them. A connection lost without a
 * close frame (1006) or by a TLS failure (1015) is passed on as 1011, so the other side does not read it as a normal
 * close (relayed untouched, it would see 1006); no code at all (1005), and anything else, as 1000.
 */
const sendableCode = (code: number) =>
  code === 1006 || code === 1015
    ? 1011
    : code === 1000 ||
        (code >= 1001 && code <= 1014 && code !== 1004 && code !== 1005) ||
        (code >= 3000 && code <= 4999)
      ? code
      : 1000;

function closeQuietly(socket: WebSocket, code: number, reason: string) {
  try {
    socket.close(sendableCode(code), reason);
    return;
  } catch {
    // Already closed, or a code or reason the runtime refuses: then try once more without the reason, so that this
    // end is never left open (its watch is already stopped).
  }
  try {
    socket.close(sendableCode(code));
  } catch {
    // Already closed.
  }
}

function sendQuietly(socket: WebSocket, data: string | ArrayBuffer) {
  try {
    socket.send(data);
  } catch {
    // The other side is closing; its close event ends this one.
  }
}

/**
 * The client's end of a WebSocket relayed message by message to the upstream's, so the gateway can close both when
 * the token stops admitting it (1008) or cannot be checked (1011). Closes and errors on either side end the other.
 */
export function watchedSocket(upstream: WebSocket, watch: Watch): WebSocket {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  // Binary messages as ArrayBuffers, which send() takes; the standard default (compatibility dates from 2026) is Blob.
  server.binaryType = 'arraybuffer';
  upstream.binaryType = 'arraybuffer';
  server.accept();
  upstream.accept();
  let stop = () => {};
  const closeBoth = (code: number, reason: string) => {
    stop();
    closeQuietly(server, code, reason);
    closeQuietly(upstream, code, reason);
  };
  server.addEventListener('message', (event) => sendQuietly(upstream, event.data));
  upstream.addEventListener('message', (event) => sendQuietly(server, event.data));
  server.addEventListener('close', (event) => closeBoth(event.code, event.reason));
  upstream.addEventListener('close', (event) => closeBoth(event.code, event.reason));
  server.addEventListener('error', () => closeBoth(1011, 'client connection failed'));
  upstream.addEventListener('error', () => closeBoth(1011, 'upstream connection failed'));
  stop = watchToken(watch, (ending) => closeBoth(CLOSE[ending], REASON[ending]));
  return client;
}

/**
 * An event stream's body that ends (cleanly, so an EventSource reconnects and meets the 401) when the token stops
 * admitting it, and cancels the upstream's.
 */
export function watchedStream(body: ReadableStream<Uint8Array>, watch: Watch): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let stop = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stop = watchToken(watch, (ending) => {
        reader.cancel(REASON[ending]).catch(() => {});
        try {
          controller.close();
        } catch {
          // Already closed or errored.
        }
      });
    },
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        stop();
        controller.error(error);
        return;
      }
      if (!chunk.done) return controller.enqueue(chunk.value);
      stop();
      try {
        controller.close();
      } catch {
        // Closed by the watch meanwhile.
      }
    },
    cancel(reason) {
      stop();
      return reader.cancel(reason);
    },
  });
}
