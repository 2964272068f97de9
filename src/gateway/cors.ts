import { z } from 'zod';
import { AppError } from '../errors';

// CORS for proxied routes (Fetch standard §3.2), so that a browser app on another origin can call an upstream
// through the gateway with a token in a header. A route with `cors` hands CORS to the gateway: preflights are
// answered here (they carry no token, so they never reach the upstream), answers and errors to an allowed origin
// carry the CORS headers, and the upstream's own `Access-Control-*` headers are dropped so there is one policy.
// A route without `cors` is unchanged: a preflight is a request without a token (401), as before.

const HEADER_NAME = /^[a-z0-9-]{1,64}$/;
/** RFC 9110 §5.6.2 token: what a method in Access-Control-Request-Method may be. */
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

/** An origin as browsers send it (scheme, host, port; no path), or `*`. */
function isOrigin(value: string): boolean {
  if (value === '*') return true;
  try {
    const url = new URL(value);
    // `https://*.example.com` parses, but browsers never send a pattern: it would match nothing.
    return (
      (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value && !value.includes('*')
    );
  } catch {
    return false;
  }
}

export const corsSchema = z
  .object({
    /** Exact origins (`https://app.example.com`, lower case, no path or trailing slash), or `["*"]` for any. */
    origins: z
      .array(
        z.string().refine(isOrigin, {
          error:
            'must be an origin such as https://app.example.com (lower case, no path, no trailing slash, no patterns), or *',
        }),
      )
      .min(1)
      .max(100),
    /** Request headers a browser may send besides the route's token headers (those are always allowed). */
    allow_headers: z
      .array(z.string().regex(HEADER_NAME, 'lower-case header names'))
      .max(32)
      .default(['content-type']),
    /** Answer headers scripts may read besides the gateway's own (`x-pat-token-expiration`, `retry-after`…). */
    expose_headers: z.array(z.string().regex(HEADER_NAME, 'lower-case header names')).max(32).default([]),
    /** How long (seconds) a browser may cache a preflight answer. */
    max_age: z.number().int().min(0).max(86_400).default(600),
    /** Let scripts send cookies and read answers to credentialed requests (needs explicit origins). */
    credentials: z.boolean().default(false),
  })
  .strict()
  .superRefine((cors, ctx) => {
    if (!cors.origins.includes('*')) return;
    if (cors.origins.length > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['origins'],
        message: '"*" cannot be combined with other origins',
      });
    if (cors.credentials)
      ctx.addIssue({
        code: 'custom',
        path: ['credentials'],
        message: 'credentials need explicit origins: any site could otherwise read answers with the cookies',
      });
  });

export type CorsInput = z.infer<typeof corsSchema>;

/** A route's CORS policy, compiled once at config time. */
export interface CorsPolicy {
  /** null: any origin (`*`). */
  origins: Set<string> | null;
  credentials: boolean;
  allowHeaders: string;
  exposeHeaders: string;
  maxAge: string;
}

/** Headers the gateway itself sets on proxied answers and errors, which a script may want to read. */
const GATEWAY_EXPOSED = ['x-pat-token-expiration', 'x-request-id', 'retry-after', 'www-authenticate'];

export function compileCors(
  cors: CorsInput,
  tokenSources: { bearer: boolean; basic: boolean; headers: string[] },
): CorsPolicy {
  const tokenHeaders = [
    ...(tokenSources.bearer || tokenSources.basic ? ['authorization'] : []),
    ...tokenSources.headers,
  ];
  return {
    origins: cors.origins[0] === '*' ? null : new Set(cors.origins),
    credentials: cors.credentials,
    allowHeaders: [...new Set([...tokenHeaders, ...cors.allow_headers])].join(', '),
    exposeHeaders: [...new Set([...GATEWAY_EXPOSED, ...cors.expose_headers])].join(', '),
    maxAge: String(cors.max_age),
  };
}

function allowed(policy: CorsPolicy, origin: string): boolean {
  return policy.origins === null || policy.origins.has(origin);
}

/**
 * The CORS headers of an answer (not a preflight) to `origin`, or none when the origin is not allowed. A route open
 * to any origin sends `*` on every answer, with or without an Origin, so a cached copy serves every site
 * (Fetch §3.2.5); one with a list names the origin, and its answers vary on Origin.
 */
export function corsHeaders(policy: CorsPolicy, origin: string | null): [string, string][] {
  if (policy.origins !== null && (origin === null || !policy.origins.has(origin))) return [];
  const headers: [string, string][] = [
    ['access-control-allow-origin', policy.origins === null ? '*' : (origin as string)],
    ['access-control-expose-headers', policy.exposeHeaders],
  ];
  if (policy.credentials) headers.push(['access-control-allow-credentials', 'true']);
  return headers;
}

/** Whether the request is a CORS preflight (an OPTIONS request a browser sends before the real one). */
export function isPreflight(method: string, headers: Headers): boolean {
  return method === 'OPTIONS' && headers.has('origin') && headers.has('access-control-request-method');
}

/** The gateway's answer to a preflight on a route with a CORS policy: 204, or 403 for an origin not allowed. */
export function preflight(policy: CorsPolicy, headers: Headers): Response {
  const origin = headers.get('origin') ?? '';
  const method = headers.get('access-control-request-method') ?? '';
  const vary = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
  if (!allowed(policy, origin))
    throw new AppError(403, 'origin_not_allowed', 'Origin not allowed', {
      detail: "This route's CORS policy does not allow requests from this origin.",
      headers: { Vary: vary },
    });
  if (!METHOD_TOKEN.test(method))
    throw new AppError(400, 'invalid_request', 'Invalid request', {
      detail: 'Access-Control-Request-Method is not an HTTP method.',
      headers: { Vary: vary },
    });
  const out = new Headers({
    'access-control-allow-origin': policy.origins === null ? '*' : origin,
    // Any method may be proxied (the route's scopes decide per method once the token arrives).
    'access-control-allow-methods': method,
    'access-control-allow-headers': policy.allowHeaders,
    'access-control-max-age': policy.maxAge,
    vary,
  });
  if (policy.credentials) out.set('access-control-allow-credentials', 'true');
  return new Response(null, { status: 204, headers: out });
}

/** CORS response headers an upstream may send; on a route with a policy, the gateway's replace them. */
export const UPSTREAM_CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
];
