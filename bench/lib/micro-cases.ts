// The micro-benchmark's cases, shared by the loops inside workerd (bench/worker/micro.ts) and the harness that
// times them from outside (bench/verify.micro.ts). Async cases await a promise per iteration, so they run fewer.

export const MICRO_CASES = [
  'noop',
  'format-valid',
  'format-bad-checksum',
  'hash',
  'hash-webcrypto',
  'verify-malformed',
  'verify-hot',
  'match-route',
  'extract-bearer',
  'extract-path',
  'upstream-url-headers',
  'identity-cached',
] as const;
export type MicroCase = (typeof MICRO_CASES)[number];

export const ASYNC_MICRO_CASES: ReadonlySet<MicroCase> = new Set([
  'hash',
  'hash-webcrypto',
  'verify-malformed',
  'verify-hot',
  'identity-cached',
]);
