import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors';
import {
  type ExpirationInput,
  type ExpirationPolicy,
  POLICY_PRESETS,
  type PolicyPresetName,
  parseExpiration,
  resolveExpiration,
  tokenPolicySchema,
} from '../../src/tokens/policy';

const DAY = 86_400_000;
const policyOf = (name: PolicyPresetName): ExpirationPolicy =>
  tokenPolicySchema.parse(POLICY_PRESETS[name]).expiration;

/** Runs resolveExpiration expecting a 422 validation error on one field; returns that field error. */
function rejection(policy: ExpirationPolicy, input: ExpirationInput, now: number) {
  let caught: unknown;
  try {
    resolveExpiration(policy, input, now);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(AppError);
  const error = caught as AppError;
  expect(error.status).toBe(422);
  expect(error.code).toBe('validation_failed');
  expect(error.errors).toHaveLength(1);
  return error.errors![0]!;
}

describe('parseExpiration', () => {
  it('reads a date as 00:00 UTC that day, leap days included', () => {
    expect(parseExpiration('2027-07-01')).toBe(Date.UTC(2027, 6, 1));
    expect(parseExpiration('2028-02-29')).toBe(Date.UTC(2028, 1, 29));
    expect(parseExpiration('2000-02-29')).toBe(Date.UTC(2000, 1, 29));
  });

  it('reads RFC 3339 date-times with Z or a numeric offset', () => {
    expect(parseExpiration('2027-07-01T12:34:56.789+05:30')).toBe(Date.UTC(2027, 6, 1, 7, 4, 56, 789));
    expect(parseExpiration('2027-07-01T00:30:00-02:00')).toBe(Date.UTC(2027, 6, 1, 2, 30));
    expect(parseExpiration('2027-12-31T23:59Z')).toBe(Date.UTC(2027, 11, 31, 23, 59));
  });

  it.each([
    '2027-02-30',
    '2027-02-29', // 2027 is not a leap year
    '2100-02-29', // nor is 2100
    '2027-13-01',
    '2027-00-10',
    '2027-04-31',
    '2027-1-01',
    '2027/01/01',
    '2027-01-01T00:00:00', // no offset: ambiguous
    '2027-01-01 00:00:00Z',
    '2027-02-30T00:00:00Z',
    '2027-07-01T25:00:00Z',
    'next tuesday',
    '',
  ])('refuses %j', (value) => {
    expect(parseExpiration(value)).toBeNull();
  });
});

describe('resolveExpiration', () => {
  const standard = policyOf('standard');
  const halfYear = policyOf('half-year');
  const optional = policyOf('revoke-before-delete');

  it('returns undefined when neither field is given (create applies the default, edit keeps the value)', () => {
    expect(resolveExpiration(standard, {}, Date.UTC(2027, 0, 5))).toBeUndefined();
  });

  it('refuses both fields at once, even when expires_at is null', () => {
    const now = Date.UTC(2027, 0, 6);
    for (const expires_at of ['2027-02-01', null]) {
      const error = rejection(standard, { expires_at, expires_in_days: 30 }, now);
      expect(error).toMatchObject({ field: 'expires_at', code: 'conflict' });
    }
  });

  it('null means "never": refused when the policy requires an expiry, allowed otherwise', () => {
    const now = Date.UTC(2027, 0, 7);
    expect(rejection(standard, { expires_at: null }, now)).toMatchObject({
      field: 'expires_at',
      code: 'required',
    });
    expect(rejection(halfYear, { expires_at: null }, now).code).toBe('required');
    expect(resolveExpiration(optional, { expires_at: null }, now)).toBeNull();
  });

  it.each(['2027-02-30', '2027-13-01', '2027-02-29', '2027-06-31T10:00:00Z', 'soon'])(
    'calls %j an invalid date, not a date out of bounds',
    (expires_at) => {
      const error = rejection(standard, { expires_at }, Date.UTC(2027, 0, 8));
      expect(error).toMatchObject({ field: 'expires_at', code: 'invalid_date' });
    },
  );

  describe('standard (1 to 365 days)', () => {
    const now = Date.UTC(2027, 4, 10, 15, 45); // 2027-05-10 15:45 UTC

    it('expires_in_days counts exact days from now', () => {
      expect(resolveExpiration(standard, { expires_in_days: 1 }, now)).toBe(now + DAY);
      expect(resolveExpiration(standard, { expires_in_days: 365 }, now)).toBe(now + 365 * DAY);
    });

    it('expires_in_days outside 1..365 names expires_in_days', () => {
      expect(rejection(standard, { expires_in_days: 0 }, now)).toMatchObject({
        field: 'expires_in_days',
        code: 'too_soon',
      });
      expect(rejection(standard, { expires_in_days: 366 }, now)).toMatchObject({
        field: 'expires_in_days',
        code: 'too_late',
      });
    });

    it('a date must be tomorrow or later and at most 365 days ahead', () => {
      expect(rejection(standard, { expires_at: '2027-05-10' }, now).code).toBe('too_soon');
      expect(resolveExpiration(standard, { expires_at: '2027-05-11' }, now)).toBe(Date.UTC(2027, 4, 11));
      // 2027-05-10 + 365 days = 2028-05-09 (2028-02-29 lies between); that whole day is allowed.
      expect(resolveExpiration(standard, { expires_at: '2028-05-09' }, now)).toBe(Date.UTC(2028, 4, 9));
      const late = '2028-05-09T23:59:59.999Z';
      expect(resolveExpiration(standard, { expires_at: late }, now)).toBe(
        Date.UTC(2028, 4, 9, 23, 59, 59, 999),
      );
      const error = rejection(standard, { expires_at: '2028-05-10' }, now);
      expect(error).toMatchObject({ field: 'expires_at', code: 'too_late' });
      expect(error.message).toContain('2028-05-09');
    });
  });

  describe('half-year (6 months to 365 days)', () => {
    const now = Date.UTC(2026, 10, 22, 15, 30); // 2026-11-22: earliest 2027-05-22, latest end of 2027-11-22

    it('accepts the first and the last allowed day', () => {
      expect(resolveExpiration(halfYear, { expires_at: '2027-05-22' }, now)).toBe(Date.UTC(2027, 4, 22));
      expect(resolveExpiration(halfYear, { expires_at: '2027-11-22' }, now)).toBe(Date.UTC(2027, 10, 22));
    });

    it('refuses a day too soon, naming the earliest date', () => {
      const error = rejection(halfYear, { expires_at: '2027-05-21T23:59:59.999Z' }, now);
      expect(error).toMatchObject({ field: 'expires_at', code: 'too_soon' });
      expect(error.message).toContain('2027-05-22');
    });

    it('applies the offset of a date-time before checking the bounds', () => {
      // 2027-11-23T01:00+02:00 is 2027-11-22T23:00Z: still within the last day.
      expect(resolveExpiration(halfYear, { expires_at: '2027-11-23T01:00:00+02:00' }, now)).toBe(
        Date.UTC(2027, 10, 22, 23),
      );
      // 2027-11-22T23:00-02:00 is 2027-11-23T01:00Z: one hour too late.
      expect(rejection(halfYear, { expires_at: '2027-11-22T23:00:00-02:00' }, now).code).toBe('too_late');
      // 2027-05-22T01:00+02:00 is 2027-05-21T23:00Z: one hour too soon.
      expect(rejection(halfYear, { expires_at: '2027-05-22T01:00:00+02:00' }, now).code).toBe('too_soon');
    });

    it('counts expires_in_days against the same bounds', () => {
      // now + 180 days = 2027-05-21 15:30, before 2027-05-22; + 181 days = 2027-05-22 15:30.
      expect(rejection(halfYear, { expires_in_days: 180 }, now)).toMatchObject({
        field: 'expires_in_days',
        code: 'too_soon',
      });
      expect(resolveExpiration(halfYear, { expires_in_days: 181 }, now)).toBe(now + 181 * DAY);
      expect(resolveExpiration(halfYear, { expires_in_days: 365 }, now)).toBe(now + 365 * DAY);
      expect(rejection(halfYear, { expires_in_days: 366 }, now).code).toBe('too_late');
    });

    it('uses the leap-year clamp for the earliest date', () => {
      const lateAugust = Date.UTC(2027, 7, 31, 8); // + 6 months = 2028-02-29
      expect(rejection(halfYear, { expires_at: '2028-02-28' }, lateAugust).code).toBe('too_soon');
      expect(resolveExpiration(halfYear, { expires_at: '2028-02-29' }, lateAugust)).toBe(
        Date.UTC(2028, 1, 29),
      );
    });
  });
});
