import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { z } from 'zod';
import { AppError, type FieldError, serviceUnavailable, validationError } from '../errors';
import { decodeFully } from '../lib/percent';
import { redactTokens } from '../tokens/format';

// RFC 9457 problem+json, rendered in one place with three tiers: ours (AppError) → any HTTPException (Hono's
// own 400/415) → anything else (logged, generic 500 that reveals nothing).

export const PROBLEM_BASE = 'urn:pat-gateway:problem:';

/**
 * The request path with every segment that holds something token-like replaced, since gateway routes accept tokens
 * in the path: as written, or percent-encoded (once or more).
 */
function scrubbedPath(c: Context): string {
  const path = new URL(c.req.url).pathname;
  const prefix = (c.get('config') as { tokenPrefix?: string } | undefined)?.tokenPrefix ?? 'pat_';
  if (!path.includes(prefix) && !path.includes('%')) return path;
  return path
    .split('/')
    .map((segment) => (decodeFully(segment).includes(prefix) ? '[redacted]' : segment))
    .join('/');
}

export function problemResponse(c: Context, error: AppError): Response {
  const body = {
    type: PROBLEM_BASE + error.code,
    title: error.title,
    status: error.status,
    code: error.code,
    ...(error.detail ? { detail: error.detail } : {}),
    instance: scrubbedPath(c),
    request_id: c.get('requestId') as string | undefined,
    ...(error.errors ? { errors: error.errors } : {}),
    ...error.extensions,
  };
  const headers = new Headers({
    'Content-Type': 'application/problem+json',
    'Cache-Control': 'no-store',
    ...error.headers,
  });
  return new Response(JSON.stringify(body), { status: error.status, headers });
}

function fromHttpException(error: HTTPException): AppError {
  if (error.status === 415) {
    return new AppError(415, 'unsupported_media_type', 'Unsupported media type', {
      detail: 'Send the body as application/json.',
    });
  }
  if (error.status === 400 && error.message.includes('JSON')) {
    return new AppError(400, 'invalid_json', 'Malformed JSON', {
      detail: 'The request body is not valid JSON.',
      errors: [{ field: 'body', code: 'invalid_json', message: 'Not valid JSON.' }],
    });
  }
  const status = (error.status >= 400 && error.status < 600 ? error.status : 500) as AppError['status'];
  return new AppError(
    status,
    status === 413 ? 'payload_too_large' : 'bad_request',
    error.message || 'Bad request',
  );
}

/**
 * A failed storage call (D1 unreachable, busy or timing out) is an outage, not a bug: 503 with Retry-After, so
 * clients retry. D1 batches are atomic, so a failed write leaves nothing half done. Constraint violations that
 * reach here are bugs and stay 500s.
 */
function isStorageFailure(error: unknown): boolean {
  const text = `${(error as Error)?.name ?? ''} ${(error as Error)?.message ?? ''} ${String((error as { cause?: unknown })?.cause ?? '')}`;
  if (/constraint failed/i.test(text)) return false;
  return /DrizzleQueryError|Failed query|D1_|SQLITE_BUSY|database is locked|Network connection lost|storage/i.test(
    text,
  );
}

export function onError(error: unknown, c: Context): Response {
  if (error instanceof AppError) return problemResponse(c, error);
  if (error instanceof HTTPException) return problemResponse(c, fromHttpException(error));
  if (isStorageFailure(error)) {
    console.error(
      JSON.stringify({
        event: 'storage_unavailable',
        request_id: c.get('requestId'),
        error: String(error).slice(0, 300),
      }),
    );
    return problemResponse(c, serviceUnavailable());
  }
  console.error(
    JSON.stringify({
      event: 'unhandled_error',
      request_id: c.get('requestId'),
      error: String(error),
      stack: (error as Error)?.stack,
    }),
  );
  return problemResponse(
    c,
    new AppError(500, 'internal_error', 'Internal error', { detail: 'Something went wrong on our side.' }),
  );
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const CODE_BY_ISSUE: Record<string, string> = {
  invalid_type: 'invalid_type',
  too_big: 'too_large',
  too_small: 'too_small',
  invalid_value: 'invalid_value',
  invalid_format: 'invalid_format',
  unrecognized_keys: 'unknown_field',
};

/**
 * zod issues → field errors: which field, a stable code, and why. Field names come from the client (an unknown key
 * is named back): one shaped like a token is redacted, as a token never appears in an error.
 */
export function fieldErrors(issues: z.core.$ZodIssue[], input?: unknown): FieldError[] {
  return issues.flatMap((issue): FieldError[] => {
    const field = redactTokens(issue.path.map(String).join('.'));
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: field ? `${field}.${redactTokens(key)}` : redactTokens(key),
        code: 'unknown_field',
        message: 'Unknown field.',
      }));
    }
    const custom = (issue as { params?: { code?: string } }).params?.code;
    const missing = issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined;
    return [
      {
        field: field || 'body',
        code: custom ?? (missing ? 'required' : (CODE_BY_ISSUE[issue.code] ?? issue.code)),
        message: missing ? 'Required.' : issue.message,
      },
    ];
  });
}

/** The OpenAPIHono defaultHook: every schema failure becomes a 422 naming each field (400 for query/path). */
export function validationHook(result: {
  success: boolean;
  error?: z.ZodError;
  target?: string;
  data?: unknown;
}) {
  if (result.success || !result.error) return;
  const errors = fieldErrors(result.error.issues, result.data);
  if (result.target === 'json' || result.target === 'form') throw validationError(errors);
  throw new AppError(400, 'invalid_parameters', 'Invalid parameters', {
    detail: 'The query or path parameters are invalid.',
    errors,
  });
}
