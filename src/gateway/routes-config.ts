import { z } from 'zod';
import { decodeFully } from '../lib/percent';
import { type CorsPolicy, compileCors, corsSchema } from './cors';
import { HOP_BY_HOP } from './headers';

// ROUTES: which requests the gateway proxies, where to, and how the token may arrive. One zod schema; a bad
// route fails at start with a message naming the route (by name or index) and the problem.

/** Paths the gateway itself serves; no route may claim them, so they are never proxied. */
export const RESERVED_PREFIXES = [
  '/api',
  '/openapi.json',
  '/docs',
  '/.well-known',
  '/oauth',
  '/ui',
  '/scim',
  '/healthz',
];

export function isReservedPath(path: string, prefixes: readonly string[] = RESERVED_PREFIXES): boolean {
  return prefixes.some((reserved) => path === reserved || path.startsWith(`${reserved}/`));
}

/**
 * Header names a route cannot inject or read a token from: framing and hop-by-hop fields (the runtime owns them),
 * and the credentials the gateway handles itself (`authorization`, `cookie`: Bearer and Basic are their own sources).
 */
const RESERVED_HEADERS = new Set([...HOP_BY_HOP, 'authorization', 'content-length', 'cookie']);
/** What the gateway states about the caller itself: a route cannot set these to something else. */
const STATED_HEADERS = ['x-pat-', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'];

/** Why a path_prefix cannot match a request as written, or null. Request paths arrive serialized by the runtime. */
function prefixProblem(prefix: string): string | null {
  if (prefix.includes('//')) return 'has an empty segment (//), which no request path matches';
  let serialized: string;
  try {
    serialized = new URL(prefix, 'http://gateway.internal').pathname;
  } catch {
    return 'is not a URL path';
  }
  if (serialized !== prefix)
    return `is not written as request paths arrive (percent-encoded, without . or .. segments): write ${serialized}`;
  return null;
}

const HEADER_NAME = /^[a-z0-9-]{1,64}$/;
const METHOD_KEY = /^(\*|GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/;

const injectedHeader = z.union([
  z.string().max(4096),
  z
    .object({ secret: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'must name a Worker secret (UPPER_SNAKE)') })
    .strict(),
]);

const upstreamSchema = z.union([
  z
    .object({
      url: z
        .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
        // fetch() in Workers drops them without a word: every request would fail at the upstream.
        .refine((url) => !/^https?:\/\/[^/?#]*@/i.test(url), {
          error:
            'must not carry a user name or password (fetch drops them); send credentials with inject_headers',
        }),
    })
    .strict(),
  z
    .object({
      service: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'must name a service binding (UPPER_SNAKE)'),
    })
    .strict(),
  z.object({ builtin: z.literal('echo') }).strict(),
]);

const routeSchema = z
  .object({
    /** Identifies the route in logs, audit events, the identity JWT's `aud` and error messages. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
    match: z
      .object({
        path_prefix: z
          .string()
          .regex(/^\/[^?#\s]*$/, 'must start with / and hold no query, fragment or spaces'),
        host: z
          .string()
          .regex(/^[a-z0-9.-]{1,253}(:\d{1,5})?$/, 'a lower-case host name, optionally with :port')
          .optional(),
      })
      .strict(),
    upstream: upstreamSchema,
    /** Remove the matched prefix before forwarding (`/echo/x` → `/x`). */
    strip_prefix: z.boolean().default(true),
    token_sources: z
      .object({
        bearer: z.boolean().default(true),
        /** `Authorization: Basic` with the PAT as the password (git, docker, npm, pip). */
        basic: z.boolean().default(true),
        headers: z
          .array(z.string().regex(HEADER_NAME, 'lower-case header names'))
          .max(8)
          .default(['x-pat', 'x-auth-token']),
        /** Query parameter names; off by default (RFC 6750 §2.3: SHOULD NOT). */
        query: z
          .array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/))
          .max(4)
          .default([]),
        /** A path segment after the prefix: `first` (IPFS style) or `last` (Avalanche RPC style). */
        path: z.enum(['none', 'first', 'last']).default('none'),
      })
      .strict()
      .default({ bearer: true, basic: true, headers: ['x-pat', 'x-auth-token'], query: [], path: 'none' }),
    /** Scopes the token must hold: a list for every method, or per method with `*` as the fallback. */
    scopes: z
      .union([
        z.array(z.string()).max(20),
        z.record(z.string().regex(METHOD_KEY, 'keys are HTTP methods or *'), z.array(z.string()).max(20)),
      ])
      .default([]),
    timeout_ms: z.number().int().min(100).max(300_000).default(30_000),
    /** Headers added to the upstream request, e.g. the upstream's own API key from a secret. */
    inject_headers: z
      .record(z.string().regex(HEADER_NAME, 'lower-case header names'), injectedHeader)
      .default({}),
    /** Skip the positive caches and check D1 on every request (high-value upstreams). */
    strict: z.boolean().default(false),
    /**
     * What the upstream is told about the caller: the plain `x-pat-*` headers and the signed JWT (`all`), one of
     * them, or `none`. Client-sent `x-pat-*` headers are removed whatever this says.
     */
    identity: z.enum(['all', 'headers', 'jwt', 'none']).default('all'),
    /** Browser apps on other origins may call the route (src/gateway/cors.ts); off unless set. */
    cors: corsSchema.optional(),
  })
  .strict();

export const routesSchema = z.array(routeSchema).max(200);
export type RouteInput = z.infer<typeof routeSchema>;

export interface Route extends Omit<RouteInput, 'scopes' | 'inject_headers' | 'cors'> {
  /** The prefix without a trailing slash ('' for '/'). */
  prefix: string;
  scopesByMethod: Record<string, string[]>;
  /** Resolved header values (secrets read once at config time). */
  injectHeaders: [string, string][];
  /** The compiled CORS policy, or null when the route has none. */
  cors: CorsPolicy | null;
  /**
   * Routes nested in this one (before it in matching order, with a longer prefix that extends its own, compared
   * lower-cased, on a host it could share): a request this route matched must not be one an upstream could read as
   * theirs. Usually empty.
   */
  nested: { name: string; host: string | undefined; prefix: string }[];
}

function normalizePrefix(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

/**
 * Validates ROUTES against the rest of the environment (secrets, bindings, known scopes) and compiles them,
 * longest prefix first so matching takes the most specific route.
 */
export function compileRoutes(
  input: RouteInput[],
  env: Record<string, unknown>,
  knownScopes: string[],
): { routes: Route[]; problems: string[] } {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const routes = input.map((route, index): Route => {
    const label = `ROUTES[${index}] (${route.name})`;
    const prefix = normalizePrefix(route.match.path_prefix);
    const problem = prefixProblem(route.match.path_prefix);
    if (problem) problems.push(`${label}: path_prefix ${route.match.path_prefix} ${problem}`);
    for (const name of route.token_sources.headers)
      if (RESERVED_HEADERS.has(name))
        problems.push(
          `${label}: token_sources.headers cannot name ${name}${name === 'authorization' ? ' (Bearer and Basic read it: set bearer or basic)' : ''}`,
        );
    for (const name of Object.keys(route.inject_headers))
      if (RESERVED_HEADERS.has(name) || STATED_HEADERS.some((stated) => name.startsWith(stated)))
        problems.push(
          `${label}: inject_headers cannot set ${name}${name.startsWith('x-pat-') ? ': the x-pat- headers state the caller’s identity' : ''}`,
        );
    const key = `${route.match.host ?? '*'}${prefix}`;
    if (seen.has(key)) problems.push(`${label}: same host and path_prefix as route ${seen.get(key)}`);
    seen.set(key, route.name);
    // Compared decoded too: `/%61pi` is `/api` to the router that serves the gateway's own paths.
    const decoded = decodeFully(prefix);
    const shadowed =
      prefix === '' && !route.match.host
        ? 'pages'
        : RESERVED_PREFIXES.find((reserved) => [prefix, decoded].some((p) => isReservedPath(p, [reserved])));
    if (shadowed)
      problems.push(
        `${label}: path_prefix ${route.match.path_prefix} would shadow the gateway's own ${shadowed}; give it a host or another prefix`,
      );
    if (
      'service' in route.upstream &&
      typeof (env[route.upstream.service] as Fetcher | undefined)?.fetch !== 'function'
    ) {
      problems.push(
        `${label}: upstream.service ${route.upstream.service} is not a service binding of this Worker`,
      );
    }
    const scopesByMethod = Array.isArray(route.scopes) ? { '*': route.scopes } : route.scopes;
    // Fail closed: a map that names GET and POST must say what PUT, PATCH and DELETE need, or they would need nothing.
    if (!('*' in scopesByMethod))
      problems.push(
        `${label}: scopes per method needs a "*" entry for the methods it does not name (write "*": [] to require no scope)`,
      );
    for (const scope of Object.values(scopesByMethod).flat()) {
      if (!knownScopes.includes(scope))
        problems.push(`${label}: scope "${scope}" is not in ROLE_SCOPES (known: ${knownScopes.join(', ')})`);
    }
    const sources = route.token_sources;
    if (
      !sources.bearer &&
      !sources.basic &&
      sources.headers.length === 0 &&
      sources.query.length === 0 &&
      sources.path === 'none'
    ) {
      problems.push(`${label}: token_sources accepts no source at all`);
    }
    const injectHeaders: [string, string][] = Object.entries(route.inject_headers).map(([name, value]) => {
      if (typeof value === 'string') return [name, value];
      const secretValue = env[value.secret];
      if (typeof secretValue !== 'string' || secretValue === '') {
        problems.push(`${label}: inject_headers.${name} names secret ${value.secret}, which is not set`);
        return [name, ''];
      }
      return [name, secretValue];
    });
    const cors = route.cors ? compileCors(route.cors, sources) : null;
    return { ...route, prefix, scopesByMethod, injectHeaders, cors, nested: [] };
  });
  const names = input.map((r) => r.name);
  for (const name of new Set(names)) {
    if (names.filter((n) => n === name).length > 1)
      problems.push(`ROUTES: the name "${name}" is used by more than one route`);
  }
  // Host-bound routes first (a host is more specific than any path), then the longest prefix.
  routes.sort(
    (a, b) =>
      Number(Boolean(b.match.host)) - Number(Boolean(a.match.host)) || b.prefix.length - a.prefix.length,
  );
  // Which route an upstream's reading of a path belongs to: prefixes compared as the upstream reads them (decoded, any
  // case, as assertRouteHolds reads paths), host-bound routes first, then the longest. A route nested in another
  // comes before it in that order; one after it could never win a request the other matched.
  const read = (prefix: string) => decodeFully(prefix).toLowerCase();
  const byReading = [...routes].sort(
    (a, b) =>
      Number(Boolean(b.match.host)) - Number(Boolean(a.match.host)) ||
      read(b.prefix).length - read(a.prefix).length,
  );
  // Hosts with and without a port can match the same request (`h.test` matches `h.test:8443`).
  const hostname = (host: string) => host.replace(/:\d+$/, '');
  for (const [index, route] of byReading.entries()) {
    const prefix = read(route.prefix);
    for (const other of byReading.slice(0, index)) {
      const host = other.match.host;
      const otherPrefix = read(other.prefix);
      if (host && route.match.host && hostname(host) !== hostname(route.match.host)) continue;
      if (otherPrefix.length > prefix.length && otherPrefix.startsWith(`${prefix}/`))
        route.nested.push({ name: other.name, host, prefix: otherPrefix });
    }
  }
  return { routes, problems };
}

/** The scopes a request needs on this route: the method's own list, else the `*` list. */
export function requiredScopes(route: Route, method: string): string[] {
  return route.scopesByMethod[method] ?? route.scopesByMethod['*'] ?? [];
}
