// Micro-benchmark loops over the hot path's own functions, run inside workerd's isolate. workerd freezes the clock
// while JavaScript runs (it advances only on I/O), so nothing is timed here: the harness times the whole call from
// outside and subtracts an empty call (bench/verify.micro.ts). Storage is a stub that fails the loop if touched.
import { isolateCache } from '../../src/auth/token-cache';
import { verifyPat } from '../../src/auth/verify-pat';
import type { Config } from '../../src/config';
import { extractToken, headerList } from '../../src/gateway/extract';
import { matchRoute, upstreamHeaders, upstreamUrl } from '../../src/gateway/forward';
import { identity } from '../../src/gateway/identity';
import { generateToken, isWellFormedToken } from '../../src/tokens/format';
import { hashToken } from '../../src/tokens/hash';
import { MICRO_CASES, type MicroCase } from '../lib/micro-cases';
import { activeRecord } from '../lib/records';

const encoder = new TextEncoder();

const untouchable = new Proxy(
  {},
  {
    get() {
      throw new Error('the micro-benchmark touched storage');
    },
  },
);

/** Runs `n` iterations of one case; returns a checksum so the work cannot be optimised away. */
export async function runMicro(params: URLSearchParams, config: Config) {
  const name = (params.get('case') ?? 'noop') as MicroCase;
  const n = Number(params.get('n') ?? '0');
  if (!MICRO_CASES.includes(name)) throw new Error(`unknown micro case ${name}`);
  const route = config.routes.find((r) => r.token_sources.path === 'last') ?? config.routes[0];
  if (!route) throw new Error('the bench config has no route');
  const prefix = config.tokenPrefix;
  const token = generateToken(prefix);
  const bad = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
  const now = Date.now();
  const state = activeRecord('micro000000000000', now);
  const deps = {
    config,
    db: untouchable as never,
    kv: untouchable as never,
    now,
    waitUntil: () => {},
  };
  const hash = await hashToken(token, config.peppers.current);
  const webCryptoKey =
    name === 'hash-webcrypto'
      ? await crypto.subtle.importKey(
          'raw',
          encoder.encode(config.peppers.current.secret),
          { name: 'HMAC', hash: 'SHA-256' },
          false,
          ['sign'],
        )
      : null;
  isolateCache(config).set(hash, state, now + 3_600_000);
  const base = `http://bench.local${route.prefix}/v1/items`;
  const bearer = new Request(`${base}?a=1`, {
    headers: { authorization: `Bearer ${token}`, accept: '*/*', 'user-agent': 'bench' },
  });
  const inPath = new Request(`${base}/${token}`, { headers: { accept: '*/*', 'user-agent': 'bench' } });
  const bearerUrl = new URL(bearer.url);
  const pathUrl = new URL(inPath.url);
  const match = matchRoute(config.routes, bearerUrl);
  const pathMatch = matchRoute(config.routes, pathUrl);
  if (!match || !pathMatch) throw new Error('the bench route does not match');
  const forwarded = { clientIp: null, proto: 'http', host: 'bench.local' };
  let sum = 0;
  for (let i = 0; i < n; i++) {
    switch (name) {
      case 'noop':
        sum += i & 1;
        break;
      case 'format-valid':
        sum += Number(isWellFormedToken(token, prefix));
        break;
      case 'format-bad-checksum':
        sum += Number(isWellFormedToken(bad, prefix));
        break;
      case 'hash':
        sum += (await hashToken(token, config.peppers.current)).length;
        break;
      case 'hash-webcrypto': {
        // The bare WebCrypto call, for scale: what hashToken adds is the hex encoding.
        const mac = new Uint8Array(await crypto.subtle.sign('HMAC', webCryptoKey!, encoder.encode(token)));
        sum += mac.length;
        break;
      }
      case 'verify-malformed':
        sum += Number((await verifyPat(bad, deps)).ok);
        break;
      case 'verify-hot': {
        const result = await verifyPat(token, deps);
        if (!result.ok) throw new Error(`hot verification failed: ${result.reason}`);
        sum += result.scopes.length;
        break;
      }
      case 'match-route':
        sum += matchRoute(config.routes, bearerUrl)?.segments.length ?? 0;
        break;
      case 'extract-bearer': {
        const headers = headerList(bearer.headers);
        sum += extractToken(headers, bearerUrl, match.segments, match.route, prefix).token?.length ?? 0;
        break;
      }
      case 'extract-path': {
        const headers = headerList(inPath.headers);
        sum += extractToken(headers, pathUrl, pathMatch.segments, pathMatch.route, prefix).token?.length ?? 0;
        break;
      }
      case 'upstream-url-headers': {
        const headers = headerList(bearer.headers);
        const extraction = extractToken(headers, bearerUrl, match.segments, match.route, prefix);
        const url = upstreamUrl(match, bearerUrl, extraction);
        const out = upstreamHeaders(
          bearer,
          headers,
          match.route,
          extraction,
          [['x-pat-token-id', state.id]],
          forwarded,
        );
        sum += url.length + Number(out.has('authorization'));
        break;
      }
      case 'identity-cached':
        sum += (await identity(config, state, match.route, state.scopes, now)).headers.length;
        break;
    }
  }
  return { case: name, n, sum };
}
