import { describe, expect, it } from 'vitest';
import {
  addUtcMonths,
  defaultExpiration,
  type ExpirationPolicy,
  expirationBounds,
  POLICY_PRESETS,
  type PolicyPresetName,
  startOfUtcDay,
  tokenPolicySchema,
} from '../../src/tokens/policy';

// Calendar expectations are derived here with a hand-written Gregorian calendar (leap rule, month lengths,
// month-end clamping); only Date.UTC is used, to turn a (y, m, d) into epoch ms.

const DAY = 86_400_000;
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysIn = (y: number, m: number) =>
  [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
/** Months are 1-12 here, unlike Date.UTC. */
const utc = (y: number, m: number, d: number, h = 0, min = 0, s = 0, ms = 0) =>
  Date.UTC(y, m - 1, d, h, min, s, ms);

function plusMonths(y: number, m: number, d: number, months: number): number {
  const index = y * 12 + (m - 1) + months;
  const ty = Math.floor(index / 12);
  const tm = (index % 12) + 1;
  return utc(ty, tm, Math.min(d, daysIn(ty, tm)));
}

const policyOf = (name: PolicyPresetName): ExpirationPolicy =>
  tokenPolicySchema.parse(POLICY_PRESETS[name]).expiration;
const halfYear = policyOf('half-year');

describe('addUtcMonths', () => {
  it('adds calendar months across year ends', () => {
    expect(addUtcMonths(utc(2026, 11, 22), 6)).toBe(utc(2027, 5, 22));
    expect(addUtcMonths(utc(2026, 12, 31), 1)).toBe(utc(2027, 1, 31));
    expect(addUtcMonths(utc(2027, 7, 15), 18)).toBe(utc(2029, 1, 15));
  });

  it('clamps to the last day of a shorter month, honouring leap years', () => {
    expect(addUtcMonths(utc(2027, 8, 31), 6)).toBe(utc(2028, 2, 29)); // 2028 is a leap year
    expect(addUtcMonths(utc(2026, 8, 31), 6)).toBe(utc(2027, 2, 28));
    expect(addUtcMonths(utc(2028, 2, 29), 12)).toBe(utc(2029, 2, 28));
    expect(addUtcMonths(utc(2027, 12, 31), 6)).toBe(utc(2028, 6, 30));
    expect(addUtcMonths(utc(2099, 8, 31), 6)).toBe(utc(2100, 2, 28)); // 2100 is not a leap year
  });

  it('drops the time of day and supports negative months', () => {
    expect(addUtcMonths(utc(2027, 3, 31, 23, 59, 59, 999), -1)).toBe(utc(2027, 2, 28));
    expect(addUtcMonths(utc(2028, 1, 10, 6), -2)).toBe(utc(2027, 11, 10));
  });
});

describe('expirationBounds', () => {
  it('standard: from tomorrow 00:00 to the end of the 365th day (inclusive)', () => {
    const now = utc(2027, 3, 14, 12, 30);
    const { earliest, latest } = expirationBounds(policyOf('standard'), now);
    expect(earliest).toBe(utc(2027, 3, 15));
    // 365 days after 2027-03-14 is 2028-03-13: the span contains 2028-02-29.
    expect(latest).toBe(utc(2028, 3, 13, 23, 59, 59, 999));
  });

  it('half-year: six calendar months after today, whatever the time of day', () => {
    for (const time of [0, 1, 12 * 3_600_000, DAY - 1]) {
      const bounds = expirationBounds(halfYear, utc(2027, 8, 31) + time);
      expect(bounds.earliest).toBe(utc(2028, 2, 29));
      expect(bounds.latest).toBe(utc(2028, 8, 30, 23, 59, 59, 999)); // 2027-08-31 + 365 days
    }
  });

  it('never lets the earliest instant be in the past (min 0 days)', () => {
    const zeroMin: ExpirationPolicy = { ...policyOf('standard'), min: { days: 0 } };
    const now = utc(2027, 5, 5, 9);
    expect(expirationBounds(zeroMin, now).earliest).toBe(now + 1);
  });
});

describe('defaultExpiration', () => {
  it('a days default is exactly that many days from now, for every preset that has one', () => {
    const now = utc(2027, 12, 31, 22, 15);
    for (const name of Object.keys(POLICY_PRESETS) as PolicyPresetName[]) {
      const policy = policyOf(name);
      if (!('days' in policy.default)) continue;
      expect(defaultExpiration(policy, now) - now, name).toBe(policy.default.days * DAY);
    }
  });

  it('every preset’s default lies within its own bounds, across year ends and leap days', () => {
    const nows = [utc(2027, 12, 31, 23, 59), utc(2028, 1, 1), utc(2028, 2, 29, 12), utc(2027, 7, 2, 6)];
    for (const name of Object.keys(POLICY_PRESETS) as PolicyPresetName[]) {
      const policy = policyOf(name);
      for (const now of nows) {
        const { earliest, latest } = expirationBounds(policy, now);
        const value = defaultExpiration(policy, now);
        expect(value, `${name} at ${new Date(now).toISOString()}`).toBeGreaterThanOrEqual(earliest);
        expect(value, `${name} at ${new Date(now).toISOString()}`).toBeLessThanOrEqual(latest);
      }
    }
  });

  // Seed 001: "January 1st or July 1st, whichever comes first and is at least 6 months from today".
  // Each row: today (UTC), today + 6 months, then the first Jan 1 / Jul 1 on or after it.
  it.each([
    ['2026-11-22', [2026, 11, 22], [2027, 7, 1]], // +6m = 2027-05-22: Jan 1 2027 is too soon, Jul 1 2027 fits
    ['2026-01-01', [2026, 1, 1], [2026, 7, 1]], // +6m = 2026-07-01 exactly: Jul 1 counts ("at least")
    ['2026-07-01', [2026, 7, 1], [2027, 1, 1]], // +6m = 2027-01-01 exactly
    ['2026-07-02', [2026, 7, 2], [2027, 7, 1]], // +6m = 2027-01-02: misses Jan 1 by one day
    ['2026-06-30', [2026, 6, 30], [2027, 1, 1]], // +6m = 2026-12-30
    ['2026-12-31', [2026, 12, 31], [2027, 7, 1]], // +6m = 2027-06-30 (clamped from Jun 31)
    ['2027-01-01', [2027, 1, 1], [2027, 7, 1]], // the day after the previous row
    ['2027-08-31', [2027, 8, 31], [2028, 7, 1]], // +6m = 2028-02-29 (leap year clamp)
    ['2028-02-29', [2028, 2, 29], [2029, 1, 1]], // +6m = 2028-08-29
    ['2028-01-02', [2028, 1, 2], [2029, 1, 1]], // +6m = 2028-07-02: the longest wait, 365 days in 2028
  ])('half-year default for today %s', (_label, [y, m, d], [ey, em, ed]) => {
    for (const time of [0, 13 * 3_600_000 + 7, DAY - 1]) {
      expect(defaultExpiration(halfYear, utc(y!, m!, d!) + time)).toBe(utc(ey!, em!, ed!));
    }
  });

  it('half-year sweep over every day of 2027-2029 satisfies the rule and the bounds', () => {
    let checked = 0;
    for (let y = 2027; y <= 2029; y++) {
      for (let m = 1; m <= 12; m++) {
        for (let d = 1; d <= daysIn(y, m); d++) {
          const today = utc(y, m, d);
          const now = today + ((checked * 7_919_000) % DAY); // a different time of day each day
          const sixMonths = plusMonths(y, m, d, 6);
          const { earliest, latest } = expirationBounds(halfYear, now);
          expect(earliest).toBe(sixMonths);
          expect(latest).toBe(Date.UTC(y, m - 1, d + 366) - 1);

          const value = defaultExpiration(halfYear, now);
          const at = new Date(value);
          const label = `today ${new Date(now).toISOString()}`;
          expect([0, 6], label).toContain(at.getUTCMonth());
          expect(at.getUTCDate(), label).toBe(1);
          expect(startOfUtcDay(value), label).toBe(value); // 00:00:00.000 UTC
          expect(value, label).toBeGreaterThanOrEqual(sixMonths);
          expect(value, label).toBeLessThanOrEqual(latest);
          // The boundary just before it must be too soon, or the rule would have picked it.
          const previous =
            at.getUTCMonth() === 6 ? utc(at.getUTCFullYear(), 1, 1) : utc(at.getUTCFullYear() - 1, 7, 1);
          expect(previous, label).toBeLessThan(sixMonths);
          checked++;
        }
      }
    }
    expect(checked).toBe(365 + 366 + 365);
  });
});
