// The benchmark's scenarios (issue 6's list), each a request shape against one target. Floods rotate tokens:
// malformed ones from a fixed set, unknown ones from a fresh pool per slice, so "reads per distinct token" is exact.
import { BODY_LENGTH, generateToken } from '../../src/tokens/format';
import type { LoadRequest } from './load';
import type { Stack } from './stack';

export type Target = 'upstream' | 'bare' | 'bareKv' | 'floor' | 'gateway' | 'gatewayKv';

export interface Scenario {
  id: string;
  /** The scenario's number in issue 6. */
  issue: number;
  title: string;
  target: Target;
  /** The scenario its "× bare" ratio is taken against: the bare proxy (`bare-proxy`) unless said. */
  baseline?: string;
  expectStatus: number;
  /** A new request shape for each slice (floods get a fresh token pool). */
  request(): LoadRequest;
  /** Distinct tokens handed out in the current slice (floods only). */
  distinctTokens?(): number;
}

export const TOKEN_NAMES = ['hot', 'x-pat', 'basic', 'query', 'path'] as const;
export type TokenName = (typeof TOKEN_NAMES)[number];

const PREFIX = 'pat_';
const PATH = '/up/v1/items';

/** Tokens the gateway must refuse without any I/O: wrong length, prefix, characters, and checksum. */
export function malformedTokens(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const valid = generateToken(PREFIX);
    const last = valid.at(-1) === 'A' ? 'B' : 'A';
    const variants = [
      `${valid.slice(0, -1)}${last}`, // bad checksum (the hardest case: every other check passes)
      `${valid.slice(0, 10)}${valid.slice(11)}${last}`, // bad checksum, shuffled body
      valid.slice(0, -1), // one character short
      `${valid}x`, // one character long
      `pax_${valid.slice(PREFIX.length)}`, // wrong prefix
      `${PREFIX}${'-'.repeat(BODY_LENGTH)}`, // not base62
    ];
    out.push(variants[i % variants.length]!);
  }
  return out;
}

function rotating(tokens: () => string[], header: (token: string) => Record<string, string>, path = PATH) {
  let pool: string[] = [];
  let handedOut = 0;
  return {
    request(): LoadRequest {
      pool = tokens();
      handedOut = 0;
      return {
        path,
        dynamicHeaders: () => header(pool[handedOut++ % pool.length]!),
      };
    },
    distinctTokens: () => Math.min(pool.length, handedOut),
  };
}

/**
 * `tokens`: one token per hot-path scenario; `pools`: many valid tokens for the KV and D1 paths, rotated so that
 * concurrent requests rarely share a token (concurrent misses for one token share one read, which would hide
 * the cost per request).
 */
export function scenarios(
  tokens: Record<TokenName, string>,
  pools: { kv: string[]; d1: string[] },
  unknownPoolSize: number,
): Scenario[] {
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const malformed = malformedTokens(60);
  // A typical API write: the body has a Content-Length, so it is read whole before the upstream is called.
  const post = {
    method: 'POST' as const,
    body: JSON.stringify({ data: 'x'.repeat(1024 - '{"data":""}'.length) }),
    headers: { 'content-type': 'application/json' },
  };
  return [
    {
      id: 'direct',
      issue: 1,
      title: 'direct to upstream',
      target: 'upstream',
      expectStatus: 200,
      request: () => ({ path: PATH }),
    },
    {
      id: 'bare-proxy',
      issue: 2,
      title: 'bare proxy Worker (baseline)',
      target: 'bare',
      expectStatus: 200,
      request: () => ({ path: PATH }),
    },
    {
      id: 'hot-bearer',
      issue: 3,
      title: 'gateway, hot isolate cache (Bearer)',
      target: 'gateway',
      expectStatus: 200,
      request: () => ({ path: PATH, headers: bearer(tokens.hot) }),
    },
    {
      id: 'hot-lean',
      issue: 3,
      title: 'gateway, hot, route with identity: none',
      target: 'gateway',
      expectStatus: 200,
      request: () => ({ path: '/lean/v1/items', headers: bearer(tokens.hot) }),
    },
    {
      id: 'floor-strip',
      issue: 3,
      title: 'reference: copy the headers, drop the token, forward',
      target: 'floor',
      expectStatus: 200,
      request: () => ({ path: PATH, headers: { ...bearer(tokens.hot), 'x-variant': 'headers-copy' } }),
    },
    {
      id: 'floor-forwarding',
      issue: 3,
      title: "reference: the gateway's forwarding, no verification",
      target: 'floor',
      expectStatus: 200,
      request: () => ({ path: PATH, headers: { ...bearer(tokens.hot), 'x-variant': 'relay' } }),
    },
    {
      id: 'bare-post',
      issue: 3,
      title: 'reference: bare proxy, POST of 1 KiB JSON',
      target: 'bare',
      expectStatus: 200,
      request: () => ({ path: PATH, ...post }),
    },
    {
      id: 'hot-post',
      issue: 3,
      title: 'gateway, hot, POST of 1 KiB JSON (× the bare POST)',
      target: 'gateway',
      baseline: 'bare-post',
      expectStatus: 200,
      request: () => ({ path: PATH, ...post, headers: { ...post.headers, ...bearer(tokens.hot) } }),
    },
    {
      id: 'kv-path',
      issue: 4,
      title: `gateway, isolate cache off (KV, ${pools.kv.length} tokens)`,
      target: 'gatewayKv',
      expectStatus: 200,
      ...rotating(() => pools.kv, bearer),
    },
    {
      id: 'bare-kv-read',
      issue: 4,
      title: 'reference: bare proxy + 1 KV read (simulator cost)',
      target: 'bareKv',
      expectStatus: 200,
      request: () => ({ path: PATH }),
    },
    {
      id: 'd1-path',
      issue: 5,
      title: `gateway, strict route (D1, ${pools.d1.length} tokens)`,
      target: 'gateway',
      expectStatus: 200,
      ...rotating(() => pools.d1, bearer, '/strict/v1/items'),
    },
    {
      id: 'flood-malformed',
      issue: 6,
      title: 'flood: malformed + bad checksum',
      target: 'gateway',
      expectStatus: 401,
      ...rotating(() => malformed, bearer),
    },
    {
      id: 'flood-unknown',
      issue: 7,
      title: `flood: unknown well-formed (${unknownPoolSize}/slice)`,
      target: 'gateway',
      expectStatus: 401,
      ...rotating(() => Array.from({ length: unknownPoolSize }, () => generateToken(PREFIX)), bearer),
    },
    {
      id: 'source-x-pat',
      issue: 8,
      title: 'hot path, x-pat header',
      target: 'gateway',
      expectStatus: 200,
      request: () => ({ path: PATH, headers: { 'x-pat': tokens['x-pat'] } }),
    },
    {
      id: 'source-basic',
      issue: 8,
      title: 'hot path, Basic (token as password)',
      target: 'gateway',
      expectStatus: 200,
      request: () => ({
        path: PATH,
        headers: { authorization: `Basic ${Buffer.from(`git:${tokens.basic}`).toString('base64')}` },
      }),
    },
    {
      id: 'source-query',
      issue: 8,
      title: 'hot path, ?token= query',
      target: 'gateway',
      expectStatus: 200,
      request: () => ({ path: `${PATH}?token=${tokens.query}&page=2` }),
    },
    {
      id: 'source-path',
      issue: 8,
      title: 'hot path, last path segment',
      target: 'gateway',
      expectStatus: 200,
      request: () => ({ path: `/up/ext/bc/C/rpc/${tokens.path}` }),
    },
  ];
}

export function targetUrl(stack: Stack, target: Target): string {
  return {
    upstream: stack.upstream,
    bare: stack.bare,
    bareKv: stack.bareKv,
    gateway: stack.gateway,
    gatewayKv: stack.gatewayKv,
    floor: stack.floor,
  }[target];
}

export function controlUrl(stack: Stack, target: Target): string | null {
  if (target === 'gateway') return stack.gatewayControl;
  if (target === 'gatewayKv') return stack.gatewayKvControl;
  return null;
}
