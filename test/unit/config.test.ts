import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyManagementJwt } from '../../src/auth/jwt';
import { parseConfig } from '../../src/config';
import { POLICY_PRESETS } from '../../src/tokens/policy';
import { problemsOf, SIGNING_KEY } from './config-support';

const PEPPER = 'config-unit-pepper-0123456789abcdef0123';
const HS_SECRET = 'config-unit-hs256-0123456789abcdef012345';
const DEV = {
  ENVIRONMENT: 'development',
  TOKEN_PEPPER: PEPPER,
  AUTH_ISSUER: 'https://idp.config-unit.test',
  AUTH_AUDIENCE: 'pat-gateway-config-unit',
  AUTH_HS256_SECRET: HS_SECRET,
};
const PROD = { ...DEV, ENVIRONMENT: 'production', GATEWAY_SIGNING_KEY: JSON.stringify(SIGNING_KEY) };

describe('parseConfig', () => {
  it('fills every default from a minimal development env', () => {
    const config = parseConfig(DEV);
    expect(config).toMatchObject({
      environment: 'development',
      devSessions: false,
      tokenPrefix: 'pat_',
      peppers: { current: { version: 1, secret: PEPPER }, previous: [] },
      auth: {
        issuer: DEV.AUTH_ISSUER,
        audience: DEV.AUTH_AUDIENCE,
        hs256Secret: HS_SECRET,
        jwksUrl: undefined,
        roleClaim: 'role',
        adminValues: ['admin'],
        clockSkewSeconds: 60,
      },
      policy: POLICY_PRESETS.standard,
      roleScopes: { admin: ['read', 'write'], member: ['read', 'write'] },
      scopes: ['read', 'write'],
    });
  });

  it('defaults ENVIRONMENT to production, so dev-only settings are refused when it is unset', () => {
    const { ENVIRONMENT: _, ...unset } = PROD;
    expect(parseConfig(unset).environment).toBe('production');
    expect(problemsOf({ ...unset, DEV_SESSIONS: 'true' })[0]).toMatch(/^DEV_SESSIONS: /);
  });

  it('production refuses DEV_SESSIONS=true, which development allows', () => {
    expect(parseConfig({ ...DEV, DEV_SESSIONS: 'true' }).devSessions).toBe(true);
    expect(problemsOf({ ...PROD, DEV_SESSIONS: 'true' })).toEqual([
      'DEV_SESSIONS: must be false when ENVIRONMENT is production',
    ]);
  });

  it('production refuses dev_ secrets, naming each variable and never the value', () => {
    const devPepper = `dev_${PEPPER}`;
    const devHs = `dev_${HS_SECRET}`;
    const problems = problemsOf({ ...PROD, TOKEN_PEPPER: devPepper, AUTH_HS256_SECRET: devHs });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['AUTH_HS256_SECRET', 'TOKEN_PEPPER']);
    expect(parseConfig({ ...DEV, TOKEN_PEPPER: devPepper, AUTH_HS256_SECRET: devHs }).environment).toBe(
      'development',
    );
  });

  it('production needs a GATEWAY_SIGNING_KEY that is not a dev_ key', () => {
    const { GATEWAY_SIGNING_KEY: _, ...unsigned } = PROD;
    expect(problemsOf(unsigned)).toEqual([expect.stringMatching(/^GATEWAY_SIGNING_KEY: is required/)]);
    const devKey = JSON.stringify({ ...SIGNING_KEY, kid: 'dev_local' });
    expect(problemsOf({ ...PROD, GATEWAY_SIGNING_KEY: devKey })).toEqual([
      expect.stringMatching(/^GATEWAY_SIGNING_KEY: is a local development key/),
    ]);
    expect(parseConfig(PROD).environment).toBe('production');
  });

  it('refuses a GATEWAY_SIGNING_KEY whose numbers cannot be a P-256 key, naming the variable', () => {
    const flip = (value: string) => (value[0] === 'A' ? 'B' : 'A') + value.slice(1);
    const bad = [
      { ...SIGNING_KEY, x: 'abc', y: 'def', d: 'ghi' },
      { ...SIGNING_KEY, x: flip(SIGNING_KEY.x) },
      { ...SIGNING_KEY, d: 'A'.repeat(43) },
      { ...SIGNING_KEY, y: `${SIGNING_KEY.y}=` },
    ];
    for (const key of bad) {
      const problems = problemsOf({ ...PROD, GATEWAY_SIGNING_KEY: JSON.stringify(key) });
      expect(problems, JSON.stringify(key)).toEqual([
        expect.stringMatching(/^GATEWAY_SIGNING_KEY: .*(P-256|32 bytes)/),
      ]);
      expect(problems.join('\n')).not.toContain(SIGNING_KEY.d.slice(0, 8));
    }
  });

  it('refuses private key material in GATEWAY_PREVIOUS_PUBLIC_KEYS, which is published', () => {
    const { d: _, ...publicKey } = SIGNING_KEY;
    const ok = parseConfig({
      ...PROD,
      GATEWAY_PREVIOUS_PUBLIC_KEYS: JSON.stringify([{ ...publicKey, kid: 'old' }]),
    });
    expect(ok.gateway.previousPublicKeys).toHaveLength(1);
    const leaked = JSON.stringify([{ ...SIGNING_KEY, kid: 'old' }]);
    const problems = problemsOf({ ...PROD, GATEWAY_PREVIOUS_PUBLIC_KEYS: leaked });
    expect(problems).toEqual([
      expect.stringMatching(/^GATEWAY_PREVIOUS_PUBLIC_KEYS\.0: must hold public keys only/),
    ]);
    expect(problems.join('\n')).not.toContain(SIGNING_KEY.d.slice(0, 8));
  });

  it('refuses an upstream URL with a user name or password (fetch would drop them)', () => {
    const routes = JSON.stringify([
      { name: 'svc', match: { path_prefix: '/svc' }, upstream: { url: 'https://bot:s3cret@up.test/v1' } },
    ]);
    const problems = problemsOf({ ...DEV, ROUTES: routes });
    expect(problems).toEqual([
      expect.stringMatching(/^ROUTES\[0\] \(svc\)\.upstream.*user name or password.*inject_headers/),
    ]);
    expect(problems.join('\n')).not.toContain('s3cret');
  });

  it('refuses per-method route scopes without a "*" entry (unnamed methods would need no scope)', () => {
    const route = (scopes: unknown) =>
      JSON.stringify([
        { name: 'svc', match: { path_prefix: '/svc' }, upstream: { url: 'https://up.test' }, scopes },
      ]);
    expect(problemsOf({ ...DEV, ROUTES: route({ GET: ['read'], POST: ['write'] }) })).toEqual([
      expect.stringMatching(/^ROUTES\[0\] \(svc\): scopes per method needs a "\*" entry/),
    ]);
    const open = parseConfig({ ...DEV, ROUTES: route({ GET: ['read'], '*': [] }) });
    expect(open.routes[0]!.scopesByMethod).toEqual({ GET: ['read'], '*': [] });
    expect(parseConfig({ ...DEV, ROUTES: route(['read']) }).routes[0]!.scopesByMethod).toEqual({
      '*': ['read'],
    });
  });

  it('knows which routes nest in each: before it in matching order, a prefix extending its own, a host it shares', () => {
    const route = (name: string, path_prefix: string, host?: string) => ({
      name,
      match: { path_prefix, ...(host ? { host } : {}) },
      upstream: { url: 'https://up.test' },
    });
    const config = parseConfig({
      ...DEV,
      ROUTES: JSON.stringify([
        route('x', '/x'),
        route('x-y-on-h', '/X/y', 'h.test'),
        route('root-on-h', '/', 'h.test'),
        route('x-y-z', '/x/y/z'),
        route('x-y-on-k', '/x/y', 'k.test'),
        route('xy', '/xy'),
        route('x-admin', '/x/%41dmin'),
        route('rpc-on-h-port', '/rpc', 'h.test:8443'),
        route('rpc-admin-on-h', '/rpc/admin', 'h.test'),
        route('encoded-parent', '/%71'),
        route('q-ab', '/q/ab'),
      ]),
    });
    const nested = Object.fromEntries(config.routes.map((r) => [r.name, r.nested.map((n) => n.name).sort()]));
    expect(nested).toEqual({
      x: ['x-admin', 'x-y-on-h', 'x-y-on-k', 'x-y-z'],
      'x-admin': [],
      // h.test matches requests to h.test:8443 too.
      'rpc-on-h-port': ['rpc-admin-on-h'],
      'rpc-admin-on-h': [],
      // Its prefix reads as /q, shorter than /q/ab, though it is written longer.
      'encoded-parent': ['q-ab'],
      'q-ab': [],
      'x-y-on-h': [],
      'x-y-on-k': [],
      // On h.test the root route wins over every route without a host; only the longer prefixes on h.test (with
      // or without a port; the port is checked per request) nest.
      'root-on-h': ['rpc-admin-on-h', 'rpc-on-h-port', 'x-y-on-h'],
      'x-y-z': [],
      xy: [],
    });
    expect(config.routes.find((r) => r.name === 'x')!.nested).toContainEqual({
      name: 'x-y-on-h',
      host: 'h.test',
      prefix: '/x/y',
    });
    // Compared as an upstream reads it: decoded and lower-cased.
    expect(config.routes.find((r) => r.name === 'x')!.nested).toContainEqual({
      name: 'x-admin',
      host: undefined,
      prefix: '/x/admin',
    });
  });

  it('refuses a CORS policy that is not an exact origin list, or that lets any site send cookies', () => {
    const route = (cors: unknown) =>
      JSON.stringify([
        { name: 'app', match: { path_prefix: '/app' }, upstream: { url: 'https://up.test' }, cors },
      ]);
    expect(problemsOf({ ...DEV, ROUTES: route({ origins: ['https://app.test/'] }) })).toEqual([
      expect.stringMatching(
        /^ROUTES\[0\] \(app\)\.cors\.origins\.0: must be an origin such as https:\/\/app\.example\.com/,
      ),
    ]);
    expect(
      problemsOf({
        ...DEV,
        ROUTES: route({ origins: ['https://App.test', 'ftp://app.test', 'app.test', 'https://*.app.test'] }),
      }),
    ).toEqual([
      expect.stringMatching(/^ROUTES\[0\] \(app\)\.cors\.origins\.0: must be an origin/),
      expect.stringMatching(/^ROUTES\[0\] \(app\)\.cors\.origins\.1: must be an origin/),
      expect.stringMatching(/^ROUTES\[0\] \(app\)\.cors\.origins\.2: must be an origin/),
      // Patterns parse as URLs, but no browser sends one: it would match nothing.
      expect.stringMatching(/^ROUTES\[0\] \(app\)\.cors\.origins\.3: must be an origin.*no patterns/),
    ]);
    // IPv6 literals and punycode hosts are origins.
    expect(
      parseConfig({
        ...DEV,
        ROUTES: route({ origins: ['http://[::1]:8080', 'https://xn--bcher-kva.example'] }),
      }).routes[0]!.cors!.origins,
    ).toEqual(new Set(['http://[::1]:8080', 'https://xn--bcher-kva.example']));
    expect(problemsOf({ ...DEV, ROUTES: route({ origins: ['*'], credentials: true }) })).toEqual([
      expect.stringMatching(/^ROUTES\[0\] \(app\)\.cors\.credentials: credentials need explicit origins/),
    ]);
    expect(problemsOf({ ...DEV, ROUTES: route({ origins: ['*', 'https://app.test'] }) })).toEqual([
      expect.stringMatching(/^ROUTES\[0\] \(app\)\.cors\.origins: "\*" cannot be combined/),
    ]);
    expect(problemsOf({ ...DEV, ROUTES: route({ origins: [] }) })).toEqual([
      expect.stringMatching(/^ROUTES\[0\] \(app\)\.cors\.origins: /),
    ]);
    expect(problemsOf({ ...DEV, ROUTES: route({ origins: ['https://app.test'], allow: ['x'] }) })).toEqual([
      expect.stringMatching(/^ROUTES\[0\] \(app\)\.cors: .*allow/),
    ]);
    const [compiled] = parseConfig({
      ...DEV,
      ROUTES: route({ origins: ['https://app.test', 'http://localhost:8080'], allow_headers: ['x-trace'] }),
    }).routes;
    expect(compiled!.cors).toEqual({
      origins: new Set(['https://app.test', 'http://localhost:8080']),
      credentials: false,
      // The route's token headers are always allowed: the Authorization header and the default x-pat, x-auth-token.
      allowHeaders: 'authorization, x-pat, x-auth-token, x-trace',
      exposeHeaders: 'x-pat-token-expiration, x-request-id, retry-after, www-authenticate',
      maxAge: '600',
    });
    expect(parseConfig({ ...DEV, ROUTES: route(undefined) }).routes[0]!.cors).toBeNull();
  });

  it('needs AUTH_JWKS_URL or AUTH_HS256_SECRET; production needs https for the JWKS', () => {
    const { AUTH_HS256_SECRET: _, ...noAuth } = PROD;
    const [problem] = problemsOf(noAuth);
    expect(problem).toMatch(/^AUTH_JWKS_URL: .*AUTH_HS256_SECRET/);
    expect(problemsOf({ ...noAuth, AUTH_JWKS_URL: 'http://idp.config-unit.test/jwks' })).toEqual([
      'AUTH_JWKS_URL: must use https in production',
    ]);
    const jwks = parseConfig({ ...noAuth, AUTH_JWKS_URL: 'https://idp.config-unit.test/jwks' });
    expect(jwks.auth).toMatchObject({ jwksUrl: 'https://idp.config-unit.test/jwks', hs256Secret: undefined });
  });

  it.each(['PAT_', 'pat', 'pat-', '_pat_', 'p_', 'pat__', 'ab_cd_ef_gh_', 'päť_'])(
    'refuses TOKEN_PREFIX %j',
    (prefix) => {
      expect(problemsOf({ ...DEV, TOKEN_PREFIX: prefix })[0]).toMatch(/^TOKEN_PREFIX: /);
    },
  );

  it('accepts prefixes like acme_pat_', () => {
    expect(parseConfig({ ...DEV, TOKEN_PREFIX: 'acme_pat_' }).tokenPrefix).toBe('acme_pat_');
    expect(parseConfig({ ...DEV, TOKEN_PREFIX: 'ghp_' }).tokenPrefix).toBe('ghp_');
  });

  it('ROLE_SCOPES JSON is de-duplicated and sorted; bad scope names are refused', () => {
    const config = parseConfig({
      ...DEV,
      ROLE_SCOPES: '{"admin":["write","read","admin:tokens"],"member":["read","read"]}',
    });
    expect(config.roleScopes).toEqual({ admin: ['admin:tokens', 'read', 'write'], member: ['read'] });
    expect(config.scopes).toEqual(['admin:tokens', 'read', 'write']);
    expect(problemsOf({ ...DEV, ROLE_SCOPES: '{"admin":["Read"],"member":[]}' })[0]).toMatch(
      /^ROLE_SCOPES\.admin\.0: /,
    );
    expect(problemsOf({ ...DEV, ROLE_SCOPES: '{"admin":[]}' })[0]).toMatch(/^ROLE_SCOPES/);
    expect(problemsOf({ ...DEV, ROLE_SCOPES: 'read,write' })[0]).toMatch(/^ROLE_SCOPES: is not valid JSON/);
  });

  it('parses previous peppers and refuses a repeated version', () => {
    const older = 'config-unit-old-pepper-0123456789abcdef:with-colon';
    expect(parseConfig({ ...DEV, TOKEN_PEPPERS_PREVIOUS: `3:${older}` }).peppers.previous).toEqual([
      { version: 3, secret: older },
    ]);
    expect(problemsOf({ ...DEV, TOKEN_PEPPERS_PREVIOUS: `1:${older}` })).toEqual([
      'TOKEN_PEPPERS_PREVIOUS: repeats TOKEN_PEPPER_VERSION',
    ]);
  });

  it('never puts a secret value into the problems or the message', () => {
    const shortPepper = 'sh0rt-pepper-XYZZY';
    const oldSecret = 'config-unit-previous-PLUGH-0123456789abcdef';
    const devHs = `dev_config-unit-hs-FROBOZZ-0123456789abcdef`;
    const env = {
      ...PROD,
      TOKEN_PEPPER: shortPepper,
      AUTH_HS256_SECRET: devHs,
      TOKEN_PEPPERS_PREVIOUS: `x:${oldSecret},2:short`,
      TOKEN_PEPPER_VERSION: 'seven',
      DEV_SESSIONS: 'yes',
    };
    let message = '';
    try {
      parseConfig(env);
    } catch (error) {
      message = (error as Error).message;
    }
    const problems = problemsOf(env);
    expect(problems.length).toBeGreaterThanOrEqual(3);
    for (const secret of [shortPepper, oldSecret, devHs, 'XYZZY', 'PLUGH', 'FROBOZZ', 'seven']) {
      expect(problems.join('\n')).not.toContain(secret);
      expect(message).not.toContain(secret);
    }
  });

  it('never quotes a secret JWK that is not valid JSON', () => {
    const d = 'hUV9gNRZniLEAKCHECKxOk';
    for (const value of [d, `{"kty":"EC","crv":"P-256","d":${d}"}`]) {
      const problems = problemsOf({ ...PROD, GATEWAY_SIGNING_KEY: value });
      expect(problems[0]).toMatch(/^GATEWAY_SIGNING_KEY: /);
      expect(problems.join('\n')).not.toContain(d.slice(0, 8));
    }
  });

  it('ignores empty AUTH_ADMIN_VALUES entries', async () => {
    const config = parseConfig({ ...DEV, AUTH_ADMIN_VALUES: 'admin, ,' });
    const jwt = await new SignJWT({ role: '' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u-config-empty-role')
      .setIssuer(DEV.AUTH_ISSUER)
      .setAudience(DEV.AUTH_AUDIENCE)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(HS_SECRET));
    expect((await verifyManagementJwt(jwt, config.auth)).role).toBe('member');
    expect(config.auth.adminValues).toEqual(['admin']);
  });
});
