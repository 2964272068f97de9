import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config';
import { problemsOf, SIGNING_KEY } from './config-support';

// Configuration mistakes fail at start with a message naming the variable (or route) and why, instead of being read
// as something else: a blank number as 0, a misspelt name as absent, a prefix no request can match.

const DEV = {
  ENVIRONMENT: 'development',
  TOKEN_PEPPER: 'config-unit-pepper-0123456789abcdef0123',
  AUTH_ISSUER: 'https://idp.config-unit.test',
  AUTH_AUDIENCE: 'pat-gateway-config-unit',
  AUTH_HS256_SECRET: 'config-unit-hs256-0123456789abcdef012345',
};
// A P-256 public key generated for these tests only.
const OTHER_PUBLIC_KEY = {
  kty: 'EC',
  crv: 'P-256',
  x: 's4VnvpVZpXEenswpRRE2-RiO99ybjyapBPqRPNe1U2Y',
  y: 'ui8-ybxPfzMno3qXouESMsY70C2zWfB8TYfg1aKD3KY',
};

const routes = (extra: Record<string, unknown>) =>
  JSON.stringify([
    { name: 'r', match: { path_prefix: '/r' }, upstream: { url: 'https://up.test' }, ...extra },
  ]);

describe('numbers and booleans', () => {
  it.each([
    ['CACHE_TTL_SECONDS', ''],
    ['INACTIVE_TOKEN_DAYS', ' '],
    ['AUTH_CLOCK_SKEW_SECONDS', null],
    ['LAST_USED_INTERVAL_SECONDS', true],
    ['CACHE_TTL_SECONDS', '0x1e'],
    ['CACHE_TTL_SECONDS', '1e2'],
    ['CACHE_TTL_SECONDS', '10.5'],
    ['CACHE_TTL_SECONDS', '301'],
  ])('refuses %s=%j instead of reading it as a number', (name, value) => {
    expect(problemsOf({ ...DEV, [name]: value })).toEqual([
      expect.stringMatching(new RegExp(`^${name}: must be a whole number from \\d+ to \\d+$`)),
    ]);
  });

  it('reads digits in a string or a TOML number, with spaces around', () => {
    expect(parseConfig({ ...DEV, CACHE_TTL_SECONDS: ' 20 ' }).cache.isolateTtlMs).toBe(20_000);
    expect(parseConfig({ ...DEV, CACHE_TTL_SECONDS: 20 }).cache.isolateTtlMs).toBe(20_000);
  });

  it('reads a TOML boolean (wrangler passes DEV_SESSIONS = false as a boolean) and names the choices otherwise', () => {
    expect(parseConfig({ ...DEV, DEV_SESSIONS: false }).devSessions).toBe(false);
    expect(parseConfig({ ...DEV, DEV_SESSIONS: true }).devSessions).toBe(true);
    expect(problemsOf({ ...DEV, DEV_SESSIONS: 'yes' })).toEqual(['DEV_SESSIONS: must be true or false']);
  });
});

describe('variables that depend on each other', () => {
  it('refuses DEV_SESSIONS=true without AUTH_HS256_SECRET, which signs the dev sessions', () => {
    const { AUTH_HS256_SECRET: _, ...jwksOnly } = DEV;
    expect(problemsOf({ ...jwksOnly, AUTH_JWKS_URL: 'https://idp.test/jwks', DEV_SESSIONS: 'true' })).toEqual(
      ['DEV_SESSIONS: needs AUTH_HS256_SECRET, which signs the development sessions'],
    );
  });

  it('refuses a client id repeated in INTROSPECTION_CREDENTIALS (the first secret would be dropped)', () => {
    expect(
      problemsOf({
        ...DEV,
        INTROSPECTION_CREDENTIALS: 'rs:first-secret-0123456789,rs:second-secret-0123456789',
      }),
    ).toEqual(['INTROSPECTION_CREDENTIALS: names client rs more than once; give each client one secret']);
  });

  it('refuses a kid published twice in the JWKS (the signing key and a previous key)', () => {
    expect(
      problemsOf({
        ...DEV,
        GATEWAY_SIGNING_KEY: JSON.stringify(SIGNING_KEY),
        GATEWAY_PREVIOUS_PUBLIC_KEYS: JSON.stringify([{ ...OTHER_PUBLIC_KEY, kid: SIGNING_KEY.kid }]),
      }),
    ).toEqual([expect.stringMatching(/^GATEWAY_PREVIOUS_PUBLIC_KEYS: publishes kid cfg-1 twice/)]);
    expect(
      problemsOf({
        ...DEV,
        GATEWAY_PREVIOUS_PUBLIC_KEYS: JSON.stringify([
          { ...OTHER_PUBLIC_KEY, kid: 'old' },
          { ...OTHER_PUBLIC_KEY, kid: 'old' },
        ]),
      }),
    ).toEqual([expect.stringMatching(/^GATEWAY_PREVIOUS_PUBLIC_KEYS: publishes kid old twice/)]);
  });

  it('refuses a previous key that is not a P-256 public key', () => {
    const { x: _, ...withoutX } = OTHER_PUBLIC_KEY;
    for (const key of [
      { ...OTHER_PUBLIC_KEY, kid: 'old', y: OTHER_PUBLIC_KEY.x },
      { ...withoutX, kid: 'old' },
      { kty: 'RSA', kid: 'old', n: 'AQAB', e: 'AQAB' },
    ])
      for (const problem of problemsOf({ ...DEV, GATEWAY_PREVIOUS_PUBLIC_KEYS: JSON.stringify([key]) }))
        expect(problem).toMatch(/^GATEWAY_PREVIOUS_PUBLIC_KEYS\.0(\.\w+)?: /);
  });
});

describe('ROUTES', () => {
  it.each([
    [
      '/café',
      'is not written as request paths arrive (percent-encoded, without . or .. segments): write /caf%C3%A9',
    ],
    [
      '/v1/../r',
      'is not written as request paths arrive (percent-encoded, without . or .. segments): write /r',
    ],
    [
      '/r/./x',
      'is not written as request paths arrive (percent-encoded, without . or .. segments): write /r/x',
    ],
    ['//r', 'has an empty segment (//), which no request path matches'],
  ])('refuses path_prefix %j, which no request path matches as written', (prefix, why) => {
    expect(problemsOf({ ...DEV, ROUTES: routes({ match: { path_prefix: prefix } }) })).toEqual([
      `ROUTES[0] (r): path_prefix ${prefix} ${why}`,
    ]);
  });

  it('refuses a prefix that is a reserved path once decoded', () => {
    expect(problemsOf({ ...DEV, ROUTES: routes({ match: { path_prefix: '/%61pi' } }) })).toEqual([
      "ROUTES[0] (r): path_prefix /%61pi would shadow the gateway's own /api; give it a host or another prefix",
    ]);
  });

  it.each(['authorization', 'cookie', 'host', 'connection'])('refuses token_sources.headers %j', (name) => {
    expect(
      problemsOf({
        ...DEV,
        ROUTES: routes({ token_sources: { bearer: false, basic: false, headers: [name] } }),
      }),
    ).toEqual([
      expect.stringMatching(new RegExp(`^ROUTES\\[0\\] \\(r\\): token_sources.headers cannot name ${name}`)),
    ]);
  });

  it.each([
    'x-pat-user-id',
    'x-pat-identity',
    'x-forwarded-for',
    'host',
    'transfer-encoding',
    'authorization',
  ])('refuses inject_headers %j: the gateway states it, or the runtime owns it', (name) => {
    expect(
      problemsOf({ ...DEV, ROUTES: routes({ identity: 'none', inject_headers: { [name]: 'x' } }) }),
    ).toEqual([
      expect.stringMatching(new RegExp(`^ROUTES\\[0\\] \\(r\\): inject_headers cannot set ${name}`)),
    ]);
  });

  it('still injects an upstream key in its own header, even one named like a token header', () => {
    const config = parseConfig({
      ...DEV,
      ROUTES: routes({ inject_headers: { 'x-api-key': 'k', 'x-auth-token': 't' } }),
    });
    expect(config.routes[0]?.injectHeaders).toEqual([
      ['x-api-key', 'k'],
      ['x-auth-token', 't'],
    ]);
  });

  it('names the route in schema errors, as in its other messages', () => {
    expect(problemsOf({ ...DEV, ROUTES: routes({ timeout_ms: 5 }) })).toEqual([
      expect.stringMatching(/^ROUTES\[0\] \(r\)\.timeout_ms: /),
    ]);
    // A name that is itself invalid is not repeated: the index alone.
    expect(problemsOf({ ...DEV, ROUTES: routes({ name: 'Bad Name' }) })).toEqual([
      expect.stringMatching(/^ROUTES\[0\]\.name: /),
    ]);
  });
});

describe('unknown variables', () => {
  it.each([
    ['AUTO_REVOKE_INACTIVE_DAY', 'AUTO_REVOKE_INACTIVE_DAYS'],
    ['CACHE_TTL', 'CACHE_TTL_SECONDS'],
    ['TOKEN_PEPER', 'TOKEN_PEPPER'],
  ])('refuses %s, which looks like a misspelt configuration variable', (name, meant) => {
    expect(problemsOf({ ...DEV, [name]: '30' })).toEqual([
      `${name}: is not a configuration variable (did you mean ${meant}?); README "Configuration" lists them`,
    ]);
  });

  it("leaves alone other vars, bindings, and the secrets a route's inject_headers names", () => {
    const config = parseConfig({
      ...DEV,
      SENTRY_DSN: 'https://sentry.test/1',
      TOKEN_CACHE: { get() {} },
      TOKEN_UPSTREAM_KEY: 'secret-value',
      ROUTES: routes({ inject_headers: { 'x-api-key': { secret: 'TOKEN_UPSTREAM_KEY' } } }),
    });
    expect(config.routes[0]?.injectHeaders).toEqual([['x-api-key', 'secret-value']]);
  });
});
