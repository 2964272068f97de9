// One time slice of load: autocannon with a fixed number of keep-alive connections for a fixed time. autocannon's
// own latency histogram counts whole milliseconds and only 2xx answers, so latencies are taken from its
// per-response event instead (process.hrtime, sub-microsecond) for every answer, whatever its status.
import autocannon from 'autocannon';

export interface LoadRequest {
  path: string;
  /** GET unless said; a `body` is sent with its Content-Length. */
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  /** A fresh header set for every request (floods that rotate tokens). */
  dynamicHeaders?: () => Record<string, string>;
  /** The status every answer should have; the first other answer's body is kept for the report. */
  expectStatus?: number;
}

export interface SliceResult {
  /** Answers received (any status). */
  responses: number;
  elapsedMs: number;
  /** Latency of every answer, in ms. */
  latenciesMs: number[];
  statuses: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
  /** Status and start of the body of the first answer whose status was not the expected one. */
  unexpectedSample: string | null;
}

export async function runSlice(
  origin: string,
  request: LoadRequest,
  connections: number,
  /** A slice lasts this long (ms), or until this many requests were made. */
  until: { durationMs: number } | { amount: number },
): Promise<SliceResult> {
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  const { dynamicHeaders, expectStatus } = request;
  let unexpectedSample: string | null = null;
  const started = process.hrtime.bigint();
  // Without a callback autocannon returns its instance, which is also a promise of the result.
  const instance = autocannon({
    url: origin,
    connections,
    pipelining: 1,
    ...('amount' in until ? { amount: until.amount } : { duration: until.durationMs / 1000 }),
    // autocannon notices the end of a run on its sampling tick (1 s by default): tick often, so slices are short.
    sampleInt: 25,
    timeout: 10,
    requests: [
      {
        method: request.method ?? 'GET',
        path: request.path,
        ...(request.body === undefined ? {} : { body: request.body }),
        headers: request.headers ?? {},
        ...(expectStatus === undefined
          ? {}
          : {
              onResponse: (status: number, body: string) => {
                if (status !== expectStatus && unexpectedSample === null)
                  unexpectedSample = `${status} ${String(body).slice(0, 300)}`;
              },
            }),
        ...(dynamicHeaders
          ? {
              setupRequest: (req: autocannon.Request) => ({
                ...req,
                headers: { ...request.headers, ...dynamicHeaders() },
              }),
            }
          : {}),
      },
    ],
  }) as unknown as autocannon.Instance & Promise<autocannon.Result>;
  instance.on('response', (_client, statusCode: number, _bytes: number, responseTime: number) => {
    latenciesMs.push(responseTime);
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
  });
  const result = await instance;
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  return {
    responses: latenciesMs.length,
    elapsedMs,
    latenciesMs,
    statuses,
    errors: result.errors + result.timeouts,
    unexpectedSample,
  };
}

/** The q-quantile (0..1) of an ascending array, nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}
