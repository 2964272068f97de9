import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config';
import { defaultExpiration, expirationBounds, POLICY_PRESETS } from '../../src/tokens/policy';
import { problemsOf } from './config-support';

// TOKEN_POLICY: a preset name, or JSON (or a TOML table) naming a preset and overriding some of its fields.

const DEV = {
  ENVIRONMENT: 'development',
  TOKEN_PEPPER: 'config-policy-pepper-0123456789abcdef012',
  AUTH_ISSUER: 'https://idp.config-policy.test',
  AUTH_AUDIENCE: 'pat-gateway-config-policy',
  AUTH_HS256_SECRET: 'config-policy-hs256-0123456789abcdef0123',
};

describe('TOKEN_POLICY', () => {
  it('picks a preset by name', () => {
    for (const name of Object.keys(POLICY_PRESETS) as (keyof typeof POLICY_PRESETS)[]) {
      expect(parseConfig({ ...DEV, TOKEN_POLICY: name }).policy).toEqual(POLICY_PRESETS[name]);
    }
  });

  it('JSON (or a TOML table) overrides single fields of a preset', () => {
    const override = { preset: 'half-year', expiration: { presets: [200, 300] }, max_tokens_per_owner: 7 };
    for (const value of [JSON.stringify(override), override]) {
      const { policy } = parseConfig({ ...DEV, TOKEN_POLICY: value });
      expect(policy.expiration).toEqual({ ...POLICY_PRESETS['half-year'].expiration, presets: [200, 300] });
      expect(policy.max_tokens_per_owner).toBe(7);
      expect(policy.delete_requires_inactive).toBe(false);
    }
  });

  it('refuses presets or a default outside min..max_days, and unknown fields', () => {
    const outside = problemsOf({ ...DEV, TOKEN_POLICY: '{"expiration":{"presets":[30,400]}}' });
    expect(outside).toEqual([expect.stringMatching(/^TOKEN_POLICY\.expiration: 400 days/)]);
    const tooShort = problemsOf({
      ...DEV,
      TOKEN_POLICY: '{"expiration":{"min":{"days":10},"default":{"days":5}}}',
    });
    expect(tooShort).toContainEqual(expect.stringMatching(/^TOKEN_POLICY\.expiration: 5 days/));
    expect(tooShort).not.toContainEqual(expect.stringMatching(/: (30|60|90) days/)); // those are in bounds
    const minAboveMax = problemsOf({
      ...DEV,
      TOKEN_POLICY: '{"expiration":{"min":{"days":400},"presets":[]}}',
    });
    expect(minAboveMax).toContain('TOKEN_POLICY.expiration.min: is later than max_days');
    expect(problemsOf({ ...DEV, TOKEN_POLICY: '{"expiration":{"max_days":0}}' })[0]).toMatch(/^TOKEN_POLICY/);
    expect(problemsOf({ ...DEV, TOKEN_POLICY: '{"preset":"standard","colour":"red"}' })[0]).toMatch(
      /^TOKEN_POLICY/,
    );
  });

  it('explains invalid TOKEN_POLICY JSON and unknown preset names', () => {
    expect(problemsOf({ ...DEV, TOKEN_POLICY: '{"preset": half-year}' })[0]).toMatch(/JSON/);
    expect(problemsOf({ ...DEV, TOKEN_POLICY: 'weekly' })[0]).toMatch(/standard|half-year|preset/);
  });

  it('refuses a months minimum that can exceed max_days', () => {
    const env = { ...DEV, TOKEN_POLICY: '{"preset":"half-year","expiration":{"max_days":170}}' };
    let policy: ReturnType<typeof parseConfig>['policy'];
    try {
      policy = parseConfig(env).policy;
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError); // refusing the policy is a fix
      return;
    }
    const { earliest, latest } = expirationBounds(policy.expiration, Date.UTC(2027, 6, 1));
    expect(earliest).toBeLessThanOrEqual(latest); // so is a policy that still has a valid window
  });

  it('refuses a minimum the half-year default would fall short of (it can be just 6 months away)', () => {
    const months = { ...DEV, TOKEN_POLICY: '{"preset":"half-year","expiration":{"min":{"months":9}}}' };
    expect(problemsOf(months)).toEqual([
      expect.stringMatching(
        /^TOKEN_POLICY\.expiration\.min: next_half_year_boundary can be just 6 months away/,
      ),
    ]);
    const days = { ...DEV, TOKEN_POLICY: '{"preset":"half-year","expiration":{"min":{"days":200}}}' };
    expect(problemsOf(days)).toEqual([expect.stringMatching(/^TOKEN_POLICY\.expiration\.min: /)]);
    // Six months or 181 days are fine: the rule never gives less.
    for (const min of ['{"months":6}', '{"days":181}']) {
      const env = { ...DEV, TOKEN_POLICY: `{"preset":"half-year","expiration":{"min":${min}}}` };
      const { expiration } = parseConfig(env).policy;
      for (let day = 0; day < 730; day += 7) {
        const now = Date.UTC(2027, 0, 1) + day * 86_400_000;
        expect(defaultExpiration(expiration, now)).toBeGreaterThanOrEqual(
          expirationBounds(expiration, now).earliest,
        );
      }
    }
  });

  it('never lets the half-year default exceed max_days', () => {
    const env = { ...DEV, TOKEN_POLICY: '{"preset":"half-year","expiration":{"max_days":200}}' };
    let expiration: ReturnType<typeof parseConfig>['policy']['expiration'];
    try {
      expiration = parseConfig(env).policy.expiration;
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError); // refusing the combination is a fix
      return;
    }
    const now = Date.UTC(2026, 6, 2); // default 2027-07-01, latest 2027-01-18
    expect(defaultExpiration(expiration, now)).toBeLessThanOrEqual(expirationBounds(expiration, now).latest);
  });
});
