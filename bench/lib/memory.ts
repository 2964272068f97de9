// The isolate cache's memory bound, read from the isolate's heap after a full GC (workerd's inspector):
//   1. over HTTP, distinct valid tokens seeded straight into D1 (one statement per 2,000 rows) and presented on
//      the strict route: every one is a D1 read that leaves a positive record, the largest kind of cache entry;
//   2. then 100,000 more distinct tokens through verifyPat inside the isolate (bench/worker/fill.ts), because the
//      local D1 simulator answers a few hundred reads a second and 100,000 would take minutes over HTTP.
import { createTokens, readStats, seedTokens } from './data';
import { connectInspector } from './inspector';
import { runSlice } from './load';
import type { Stack } from './stack';

export interface MemoryResult {
  /** Distinct valid tokens sent over HTTP (strict route: a D1 read each, then a positive cache entry). */
  http: {
    distinctTokens: number;
    concurrency: number;
    requests: number;
    reqPerSec: number;
    statuses: Record<string, number>;
    d1Reads: number;
  };
  /** Distinct tokens pushed through verifyPat inside the isolate after that (stub KV, positive records). */
  fill: { distinctTokens: number; verified: number };
  /** Isolate heap in use after a full GC, and cache entries: fresh, after the HTTP run, after the fill. */
  heapUsedBytes: { start: number; afterHttp: number; afterHalfFill: number; afterFill: number };
  cacheEntries: { afterHttp: number; afterFill: number };
  cacheMax: number;
}

/** Heap readings of the hot gateway's isolate. */
async function inspect(stack: Stack) {
  const { call, close } = await connectInspector(stack, 'gateway');
  return {
    /** Heap in use after a full GC. workerd runs the GC when the isolate next runs, so poke it with a request. */
    async heapUsed(): Promise<number> {
      const collected = call('HeapProfiler.collectGarbage');
      let done = false;
      collected.then(
        () => {
          done = true;
        },
        () => {}, // a failure is reported by the `await` below
      );
      // Poke the isolate until the collection has run (a request may be needed more than once).
      for (let i = 0; i < 50 && !done; i++) {
        await readStats(stack.gatewayControl);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await collected;
      return ((await call('Runtime.getHeapUsage')) as { usedSize: number }).usedSize;
    },
    close,
  };
}

/** Runs on `stack`'s hot gateway, which must have been started with the inspector on. */
export async function memoryRun(
  stack: Stack,
  httpTokens: number,
  fillTokens: number,
  concurrency: number,
): Promise<MemoryResult> {
  await createTokens(stack, ['memory-owner']);
  {
    const tokens = await seedTokens(stack, httpTokens);
    const inspector = await inspect(stack);
    try {
      let next = 0;
      const request = {
        path: '/strict/v1/items',
        dynamicHeaders: () => ({ authorization: `Bearer ${tokens[next++ % tokens.length]}` }),
      };
      const start = await inspector.heapUsed();
      const http = await runSlice(stack.gateway, request, concurrency, { amount: httpTokens });
      const afterHttp = await inspector.heapUsed();
      const httpStats = await readStats(stack.gatewayControl);
      let verified = 0;
      const fill = async (count: number) => {
        for (let done = 0; done < count; done += 5_000) {
          const res = await fetch(`${stack.gatewayControl}/fill?n=${Math.min(5_000, count - done)}`);
          if (!res.ok) throw new Error(`fill: ${res.status} ${await res.text()}`);
          verified += ((await res.json()) as { verified: number }).verified;
        }
      };
      // Two halves, so the report shows whether the heap still grows once the caches are full.
      await fill(Math.floor(fillTokens / 2));
      const afterHalfFill = await inspector.heapUsed();
      await fill(fillTokens - Math.floor(fillTokens / 2));
      const afterFill = await inspector.heapUsed();
      const fillStats = await readStats(stack.gatewayControl);
      return {
        http: {
          distinctTokens: httpTokens,
          concurrency,
          requests: http.responses,
          reqPerSec: (http.responses / http.elapsedMs) * 1000,
          statuses: http.statuses,
          d1Reads: httpStats.d1Reads,
        },
        fill: { distinctTokens: fillTokens, verified },
        heapUsedBytes: { start, afterHttp, afterHalfFill, afterFill },
        cacheEntries: { afterHttp: httpStats.cacheEntries, afterFill: fillStats.cacheEntries },
        cacheMax: fillStats.cacheMax,
      };
    } finally {
      inspector.close();
    }
  }
}
