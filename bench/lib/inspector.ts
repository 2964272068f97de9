// A minimal DevTools-protocol client for one Worker's isolate in the bench's workerd (miniflare's inspector):
// the memory run reads the heap through it, the profiler drives V8's sampling profiler.
import WebSocket from 'ws';
import type { Stack } from './stack';

export interface Inspector {
  /** Sends one protocol command and resolves with its result (rejects after 15 s without one). */
  call(method: string, params?: object): Promise<unknown>;
  close(): void;
}

export async function connectInspector(stack: Stack, worker: string): Promise<Inspector> {
  const inspector = await stack.mf.getInspectorURL();
  const ws = new WebSocket(`ws://${inspector.host}/core:user:${worker}`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  return {
    call: (method, params = {}) =>
      new Promise<unknown>((resolve, reject) => {
        const callId = ++id;
        const timer = setTimeout(() => reject(new Error(`inspector ${method} timed out`)), 15_000);
        pending.set(callId, (result) => {
          clearTimeout(timer);
          pending.delete(callId);
          resolve(result);
        });
        ws.send(JSON.stringify({ id: callId, method, params }));
      }),
    close: () => ws.close(),
  };
}
