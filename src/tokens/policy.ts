import { z } from 'zod';
import { type FieldError, validationError } from '../errors';

// Expiration policy. All calendar arithmetic is in UTC: "today" is the UTC date, and a date-only expiration
// (`2027-07-01`) means the token stops working at 00:00 UTC that day.

const DAY_MS = 86_400_000;

export const lifetimeSchema = z.union([
  z.object({ days: z.number().int().min(0).max(3650) }).strict(),
  z.object({ months: z.number().int().min(1).max(120) }).strict(),
]);

export const expirationPolicySchema = z
  .object({
    /** Whether every token must have an expiration date (false allows `expires_at: null`, "never"). */
    required: z.boolean(),
    /** Earliest allowed expiration, counted in whole UTC days (or calendar months) from today. */
    min: lifetimeSchema,
    /** Latest allowed expiration: today plus this many days (inclusive, to the end of that UTC day). */
    max_days: z.number().int().min(1).max(3650),
    /** Used when the request gives no expiration: a lifetime in days, or seed 001's half-year boundary rule. */
    default: z.union([
      z.object({ days: z.number().int().min(1).max(3650) }).strict(),
      z.object({ rule: z.literal('next_half_year_boundary') }).strict(),
    ]),
    /** Lifetimes in days offered as one-click choices (seed 003: 30, 60, 90 days, 1 year). */
    presets: z.array(z.number().int().min(1).max(3650)).max(10),
    /** Whether PATCH may change the expiration after creation (seed 002 says it cannot). */
    editable: z.boolean(),
  })
  .strict();

export const tokenPolicySchema = z
  .object({
    expiration: expirationPolicySchema,
    /** Seed 004: only revoked or expired tokens may be deleted; an active one must be revoked first. */
    delete_requires_inactive: z.boolean(),
    /** Cap on tokens (of any status) per owner. */
    max_tokens_per_owner: z.number().int().min(1).max(10_000),
  })
  .strict();

export type ExpirationPolicy = z.infer<typeof expirationPolicySchema>;
export type TokenPolicy = z.infer<typeof tokenPolicySchema>;

/** Named starting points; TOKEN_POLICY can pick one and override any field. */
export const POLICY_PRESETS = {
  /** Our default: expiry required, 1 to 365 days, 30 by default, GitHub/Qualytics-style presets. */
  standard: {
    expiration: {
      required: true,
      min: { days: 1 },
      max_days: 365,
      default: { days: 30 },
      presets: [7, 30, 60, 90, 365],
      editable: true,
    },
    delete_requires_inactive: false,
    max_tokens_per_owner: 500,
  },
  /** Seed 001: at least 6 months and at most 365 days ahead; default January 1st or July 1st. */
  'half-year': {
    expiration: {
      required: true,
      min: { months: 6 },
      max_days: 365,
      default: { rule: 'next_half_year_boundary' },
      presets: [],
      editable: true,
    },
    delete_requires_inactive: false,
    max_tokens_per_owner: 500,
  },
  /** Seed 002: the expiration is chosen at creation and cannot be changed later. */
  'fixed-expiry': {
    expiration: {
      required: true,
      min: { days: 1 },
      max_days: 365,
      default: { days: 30 },
      presets: [30, 60, 90, 365],
      editable: false,
    },
    delete_requires_inactive: false,
    max_tokens_per_owner: 500,
  },
  /** Seeds 003 and 004: presets 30/60/90/365 days or never; delete only after revoking (or expiry). */
  'revoke-before-delete': {
    expiration: {
      required: false,
      min: { days: 1 },
      max_days: 365,
      default: { days: 30 },
      presets: [30, 60, 90, 365],
      editable: true,
    },
    delete_requires_inactive: true,
    max_tokens_per_owner: 500,
  },
} as const satisfies Record<string, TokenPolicy>;

export type PolicyPresetName = keyof typeof POLICY_PRESETS;

export function startOfUtcDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** Adds calendar months in UTC, clamping to the month's last day (Aug 31 + 6 months = Feb 28 or 29). */
export function addUtcMonths(ms: number, months: number): number {
  const d = new Date(ms);
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay));
  return startOfUtcDay(target.getTime());
}

export interface ExpirationBounds {
  /** Earliest allowed expiration instant (inclusive). */
  earliest: number;
  /** Latest allowed expiration instant (inclusive). */
  latest: number;
}

export function expirationBounds(policy: ExpirationPolicy, now: number): ExpirationBounds {
  const today = startOfUtcDay(now);
  const earliest =
    'months' in policy.min ? addUtcMonths(today, policy.min.months) : today + policy.min.days * DAY_MS;
  return { earliest: Math.max(earliest, now + 1), latest: today + (policy.max_days + 1) * DAY_MS - 1 };
}

/** The expiration used when a request gives none: `days` from now, or the half-year boundary rule. */
export function defaultExpiration(policy: ExpirationPolicy, now: number): number {
  if ('days' in policy.default) return now + policy.default.days * DAY_MS;
  // Seed 001: "January 1st or July 1st — whichever comes first and is at least 6 months from today".
  const { earliest } = expirationBounds({ ...policy, min: { months: 6 } }, now);
  const year = new Date(now).getUTCFullYear();
  for (let y = year; y <= year + 2; y++) {
    for (const month of [0, 6]) {
      const candidate = Date.UTC(y, month, 1);
      if (candidate >= earliest) return candidate;
    }
  }
  throw new Error('unreachable: a half-year boundary always exists within two years');
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** Parses `YYYY-MM-DD` (00:00 UTC that day) or an RFC 3339 date-time with offset; null for impossible dates. */
export function parseExpiration(value: string): number | null {
  const dateOnly = DATE_ONLY.exec(value);
  if (dateOnly) {
    const [y, m, d] = [Number(dateOnly[1]), Number(dateOnly[2]), Number(dateOnly[3])];
    const ms = Date.UTC(y, m - 1, d);
    const check = new Date(ms);
    return check.getUTCFullYear() === y && check.getUTCMonth() === m - 1 && check.getUTCDate() === d
      ? ms
      : null;
  }
  if (!DATE_TIME.test(value)) return null;
  const ms = Date.parse(value);
  // Date.parse rolls 2027-02-30 over into March; compare the date part to refuse that.
  if (Number.isNaN(ms) || !parseExpiration(value.slice(0, 10))) return null;
  return ms;
}

export interface ExpirationInput {
  expires_at?: string | null | undefined;
  expires_in_days?: number | undefined;
}

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * Turns the request's expiration fields into an instant (or null for "never"), enforcing the policy.
 * `fallbackToDefault` is true on create (no field → policy default) and false on edit (no field → no change).
 */
export function resolveExpiration(
  policy: ExpirationPolicy,
  input: ExpirationInput,
  now: number,
): number | null | undefined {
  const fail = (error: FieldError): never => {
    throw validationError([error]);
  };
  if (input.expires_at !== undefined && input.expires_in_days !== undefined) {
    fail({ field: 'expires_at', code: 'conflict', message: 'Give expires_at or expires_in_days, not both.' });
  }
  let expiresAt: number | null;
  let field = 'expires_at';
  if (input.expires_in_days !== undefined) {
    field = 'expires_in_days';
    expiresAt = now + input.expires_in_days * DAY_MS;
  } else if (input.expires_at === null) {
    if (policy.required)
      fail({ field, code: 'required', message: 'This deployment requires an expiration date.' });
    return null;
  } else if (input.expires_at !== undefined) {
    expiresAt = parseExpiration(input.expires_at);
    if (expiresAt === null) {
      fail({
        field,
        code: 'invalid_date',
        message: 'Must be a real date, YYYY-MM-DD or an RFC 3339 date-time.',
      });
    }
  } else {
    return undefined;
  }
  const { earliest, latest } = expirationBounds(policy, now);
  if (expiresAt! < earliest) {
    fail({ field, code: 'too_soon', message: `Must be on or after ${isoDate(earliest)} (policy minimum).` });
  }
  if (expiresAt! > latest) {
    fail({
      field,
      code: 'too_late',
      message: `Must be on or before ${isoDate(latest)} (${policy.max_days} days at most).`,
    });
  }
  return expiresAt!;
}
