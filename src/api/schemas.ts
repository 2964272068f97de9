import { z } from '@hono/zod-openapi';
import type { TokenRow } from '../db/schema';
import { holdsToken } from '../tokens/format';
import { SORTS } from '../tokens/repository';
import { tokenStatus } from '../tokens/state';

// Request and response contracts shared by the management routes. Field rules come from the seeds: name required,
// trimmed, not blank, ≤100 characters; description ≤500 (multi-line); expiration within the policy.

// Control characters other than tab/newline are refused everywhere; names are single-line.
const CONTROL = { test: (s: string) => [...s].some((ch) => isControl(ch.charCodeAt(0))) };
const LINE_BREAK = /[\r\n\t\u0085\u2028\u2029]/;

function isControl(code: number): boolean {
  // C0 (except tab, LF, CR), DEL and C1 (U+0080–U+009F, which includes U+0085 NEXT LINE).
  return (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || (code >= 0x7f && code <= 0x9f);
}
const chars = (s: string) => [...s].length;
// Names and descriptions are shown to admins and kept in the audit log: a token pasted into one would be stored in
// the clear. Refused rather than redacted, so nothing the client sent changes silently.
const NO_SECRET = {
  message: 'Looks like it holds an access token; never put a secret in a name or description.',
  params: { code: 'contains_secret' },
};
// What a name cannot consist of alone: spaces, format characters, other default-ignorable ones (Hangul fillers,
// variation selectors, the grapheme joiner), combining marks without a base, and the blank Braille pattern.
const INVISIBLE = /[\p{White_Space}\p{Cf}\p{Default_Ignorable_Code_Point}\p{M}\u2800]/gu;
// Spaces and invisible format characters at either end of a name. Not the emoji tag characters (U+E0000–E007F),
// which end subdivision flags.
export const EDGE_INVISIBLE =
  /^[\p{White_Space}\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]+|[\p{White_Space}\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]+$/gu;
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;
// A lone UTF-16 surrogate cannot be stored as UTF-8: D1 would keep a replacement character instead.
const WELL_FORMED = {
  message: 'Must be valid Unicode text (no lone surrogates).',
  params: { code: 'invalid_characters' },
};

export const nameSchema = z
  .string()
  // Invisible format characters at either end (zero-width spaces, word joiners, BOM, direction marks) are trimmed
  // with the spaces: `\u200Bdeploy` is `deploy`.
  .overwrite((s) => s.replace(EDGE_INVISIBLE, ''))
  // One spelling per name (NFC: `é`, not `e` + U+0301), so look-alikes collide and length counts what people see.
  .normalize('NFC')
  // Blank includes names made only of invisible characters (zero-width spaces, joiners, BOM).
  .refine((s) => s.replace(INVISIBLE, '').length > 0, {
    message: 'Name is required and cannot be blank.',
    params: { code: 'blank' },
  })
  .refine((s) => s.isWellFormed(), WELL_FORMED)
  .refine((s) => chars(s) <= 100, { message: 'At most 100 characters.', params: { code: 'too_long' } })
  .refine((s) => !CONTROL.test(s) && !LINE_BREAK.test(s), {
    message: 'Must be a single line without control characters.',
    params: { code: 'invalid_characters' },
  })
  // Embedding, override and isolate controls reorder what follows: `prod\u202Etxt.yek` shows as `prodkey.txt`.
  .refine((s) => !BIDI_CONTROL.test(s), {
    message: 'Must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069).',
    params: { code: 'invalid_characters' },
  })
  // Text already refused as too long is not searched (a huge body would cost a search per `_`).
  .refine((s) => chars(s) > 100 || !holdsToken(s), NO_SECRET)
  .openapi({
    description:
      '1–100 characters after trimming and Unicode NFC normalization, single line, not only invisible characters, no bidirectional controls.',
    minLength: 1,
    maxLength: 100,
    example: 'CI deploy',
  });

export const descriptionSchema = z
  .string()
  .trim()
  .normalize('NFC')
  .refine((s) => chars(s) <= 500, { message: 'At most 500 characters.', params: { code: 'too_long' } })
  .refine((s) => s.isWellFormed(), WELL_FORMED)
  .refine((s) => !CONTROL.test(s), {
    message: 'Must not contain control characters.',
    params: { code: 'invalid_characters' },
  })
  .refine((s) => chars(s) > 500 || !holdsToken(s), NO_SECRET)
  .transform((s) => (s === '' ? null : s))
  .nullable()
  .openapi({
    description: 'Optional, multi-line, at most 500 characters. Empty or null clears it.',
    maxLength: 500,
    example: 'Deploys from GitHub Actions',
  });

export const expiresAtSchema = z.string().max(40).nullable().openapi({
  description:
    '`YYYY-MM-DD` (expires at 00:00 UTC that day) or an RFC 3339 date-time. `null` means never, where the policy allows it.',
  example: '2027-07-01',
});

export const expiresInDaysSchema = z
  .number()
  .int()
  .min(1)
  .max(3650)
  .openapi({ description: 'Lifetime in days from now; an alternative to expires_at.', example: 90 });

export const TokenResource = z
  .object({
    id: z.string().openapi({ example: 'tok_4ZpQ8mWkT2vN9bXa' }),
    type: z.enum(['personal', 'service']),
    owner_id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    scopes: z.array(z.string()),
    hint: z.string().openapi({
      description: 'The prefix and last 4 characters; the secret itself is never returned again.',
      example: 'pat_…x9Qa',
    }),
    status: z.enum(['active', 'expired', 'revoked']),
    created_at: z.string(),
    updated_at: z.string(),
    expires_at: z.string().nullable(),
    last_used_at: z
      .string()
      .nullable()
      .openapi({ description: 'Updated at most once a minute; null when never used.' }),
    last_used_ip: z.string().nullable(),
    revoked_at: z.string().nullable(),
    revoke_reason: z.string().nullable().openapi({
      description:
        '`user`, `admin`, `rotated`, `leaked`, `inactivity` or `deprovisioned` (the owner was deleted over SCIM).',
    }),
    rotated_from_id: z.string().nullable(),
  })
  .openapi('Token');

export const CreatedToken = TokenResource.extend({
  token: z
    .string()
    .openapi({ description: 'The secret. Shown only in this response: store it now.', example: 'pat_…' }),
}).openapi('CreatedToken');

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function toTokenResource(row: TokenRow, now: number): z.infer<typeof TokenResource> {
  return {
    id: row.id,
    type: row.type,
    owner_id: row.ownerId,
    name: row.name,
    description: row.description,
    scopes: JSON.parse(row.scopes) as string[],
    hint: row.hint,
    status: tokenStatus(row, now),
    created_at: iso(row.createdAt)!,
    updated_at: iso(row.updatedAt)!,
    expires_at: iso(row.expiresAt),
    last_used_at: iso(row.lastUsedAt),
    last_used_ip: row.lastUsedIp,
    revoked_at: iso(row.revokedAt),
    revoke_reason: row.revokeReason,
    rotated_from_id: row.rotatedFromId,
  };
}

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z
      .string()
      .openapi({ description: 'Stable machine-readable error code.', example: 'validation_failed' }),
    detail: z.string().optional(),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), code: z.string(), message: z.string() })).optional(),
    scopes: z
      .array(z.string())
      .optional()
      .openapi({ description: 'With `scope_not_allowed`: the scopes the owner’s role cannot hold.' }),
  })
  .openapi('Problem');

export const limitSchema = z.coerce
  .number()
  .int()
  .min(1)
  .max(100)
  .default(20)
  .openapi({ description: 'Page size, 1–100.' });
export const cursorSchema = z
  .string()
  .max(1024)
  .optional()
  .openapi({ description: 'The `next_cursor` of the previous page.' });

/** `?q=`: a case-insensitive search, in NFC as the names it searches are stored. */
/** A search: trimmed (the UI trims too, so ` laptop` finds `laptop`), at most 100 characters. */
export const searchSchema = z.string().trim().max(100).normalize('NFC');

export const ListTokensQuery = z
  .object({
    status: z.enum(['active', 'expired', 'revoked']).optional(),
    q: searchSchema.optional().openapi({ description: 'Case-insensitive substring of the name.' }),
    // At least 1: zero days matches nothing, and an empty value (`?expiring_within_days=`) would coerce to it.
    expiring_within_days: z.coerce
      .number()
      .int()
      .min(1)
      .max(3650)
      .optional()
      .openapi({ description: 'Only active tokens expiring within this many days.' }),
    sort: z.enum(SORTS).default('-created_at'),
    limit: limitSchema,
    cursor: cursorSchema,
  })
  .strict();

export const TokenPage = z
  .object({ data: z.array(TokenResource), next_cursor: z.string().nullable() })
  .openapi('TokenPage');

export const TokenIdParam = z.object({
  id: z
    .string()
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'tok_4ZpQ8mWkT2vN9bXa' }),
});

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed request: bad JSON, or invalid path or query parameters (a bad cursor, an id too long).',
  401: 'Missing or invalid credentials.',
  403: 'Not allowed: the role does not permit it, the account is deactivated, or the request is cross-site.',
  404: 'No such resource (or not yours).',
  409: 'Conflicts with the current state.',
  412: 'If-Match does not match: the token changed since it was read; nothing was changed.',
  415: 'Body must be application/json.',
  422: 'Validation failed; `errors` names each field.',
  429: 'Rate limited (too many reports, or too many failed authentications from this address); see Retry-After.',
  503: 'Storage or identity provider unavailable.',
};

export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, errorResponse(s)]));
}

/** The Location header of a 201: where the created resource is read. */
export const LOCATION_HEADER = {
  Location: {
    description: 'The path of the created resource (absolute path, same origin).',
    schema: { type: 'string' as const },
  },
};

const RETRY_AFTER = {
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    schema: { type: 'integer' as const },
  },
};

const WWW_AUTHENTICATE = {
  'WWW-Authenticate': {
    description:
      'The challenge (RFC 6750): `Bearer realm="pat-gateway"`, with `error="invalid_token"` when a credential was sent and refused.',
    schema: { type: 'string' as const },
  },
};

/** The headers an error answer with this status always carries. */
const errorHeaders = (status: number) =>
  status === 429 || status === 503
    ? { headers: RETRY_AFTER }
    : status === 401
      ? { headers: WWW_AUTHENTICATE }
      : {};

function errorResponse(status: number) {
  return {
    description: ERROR_DESCRIPTIONS[status] ?? 'Error',
    ...errorHeaders(status),
    content: { 'application/problem+json': { schema: Problem } },
  };
}

interface DocumentedOperation {
  security?: unknown[];
  requestBody?: unknown;
  parameters?: { in?: string }[];
  responses?: Record<string, unknown>;
}

/**
 * Adds to every operation of the generated document the errors that operations of its kind answer in common,
 * where the route's own list leaves them out: with credentials, 401, 403 (deactivated account), 429 (failed
 * authentications) and 503; a write to /api, 403 (cross-site); a JSON body, 400 (bad JSON), 415 and 422;
 * parameters, 400; a path parameter, 404. A route's own descriptions are kept.
 */
export function withCommonErrors<T extends { paths?: object; security?: unknown[] }>(doc: T): T {
  const problem = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
  for (const [path, item] of Object.entries(doc.paths ?? {}) as [
    string,
    Record<string, DocumentedOperation>,
  ][]) {
    for (const [method, operation] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method) || !operation.responses) continue;
      const statuses: number[] = [];
      if ((operation.security ?? doc.security ?? []).length > 0) statuses.push(401, 403, 429, 503);
      if (method !== 'get' && path.startsWith('/api/')) statuses.push(403);
      if (operation.requestBody) statuses.push(400, 415, 422);
      const parameters = operation.parameters ?? [];
      if (parameters.length > 0) statuses.push(400);
      if (parameters.some((p) => p.in === 'path')) statuses.push(404);
      for (const status of statuses)
        operation.responses[status] ??= {
          description: ERROR_DESCRIPTIONS[status],
          ...errorHeaders(status),
          content: problem,
        };
    }
  }
  return doc;
}
