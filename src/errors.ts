// One error type for everything the service knows how to explain. Handlers and services throw it; the app's
// onError renders it as RFC 9457 problem+json in one place. Nothing here depends on Hono, so services stay plain.

export interface FieldError {
  /** Dotted path of the offending input, e.g. `name`, `scopes.2`, `query.limit`. */
  field: string;
  /** Stable machine code, e.g. `too_long`, `required`, `invalid_type`. */
  code: string;
  message: string;
}

export type ErrorStatus =
  | 400
  | 401
  | 403
  | 404
  | 405
  | 408
  | 409
  | 412
  | 413
  | 415
  | 422
  | 429
  | 500
  | 502
  | 503
  | 504;

export interface AppErrorOptions {
  detail?: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  /** Extra problem members (RFC 9457 §3.2 extensions), e.g. `scopes`. */
  extensions?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly status: ErrorStatus;
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;

  constructor(status: ErrorStatus, code: string, title: string, options: AppErrorOptions = {}) {
    super(options.detail ?? title);
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = options.detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

export function validationError(errors: FieldError[], detail = 'The request has invalid fields.'): AppError {
  return new AppError(422, 'validation_failed', 'Validation failed', { detail, errors });
}

export function preconditionFailed(): AppError {
  return new AppError(412, 'precondition_failed', 'Precondition failed', {
    detail:
      'The token changed since you read it (its ETag no longer matches If-Match); nothing was changed. Load it again.',
  });
}

export function notFound(what = 'token'): AppError {
  return new AppError(404, 'not_found', 'Not found', { detail: `No such ${what}.` });
}

export function conflict(code: string, detail: string, errors?: FieldError[]): AppError {
  return new AppError(409, code, 'Conflict', { detail, ...(errors ? { errors } : {}) });
}

export function forbidden(code: string, detail: string, extensions?: Record<string, unknown>): AppError {
  return new AppError(403, code, 'Forbidden', { detail, ...(extensions ? { extensions } : {}) });
}

export function serviceUnavailable(detail = 'Storage is unavailable; try again shortly.'): AppError {
  return new AppError(503, 'unavailable', 'Service unavailable', { detail, headers: { 'Retry-After': '5' } });
}
