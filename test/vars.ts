// Secrets and vars for the test Worker (never used outside tests). Upstream hosts ending in .test are never
// reached: tests intercept the Worker's outbound fetch (see test/gateway-support.ts).
const READ_WRITE = { GET: ['read'], HEAD: ['read'], '*': ['write'] };

export const TEST_ROUTES = [
  {
    name: 'echo',
    match: { path_prefix: '/echo' },
    upstream: { builtin: 'echo' },
    token_sources: { query: ['token'], path: 'last' },
    scopes: READ_WRITE,
  },
  {
    name: 'svc',
    match: { path_prefix: '/svc' },
    upstream: { url: 'http://upstream.test/base' },
    token_sources: { query: ['token', 'access_token'], path: 'last' },
    scopes: READ_WRITE,
    inject_headers: { 'x-upstream-key': { secret: 'UPSTREAM_API_KEY' }, 'x-static': 'yes' },
    timeout_ms: 500,
  },
  {
    name: 'ipfs',
    match: { path_prefix: '/ipfs' },
    upstream: { url: 'http://ipfs.test/' },
    token_sources: { path: 'first' },
    scopes: ['read'],
  },
  {
    name: 'strict',
    match: { path_prefix: '/strict' },
    upstream: { url: 'http://upstream.test/' },
    strict: true,
  },
  {
    name: 'keep',
    match: { path_prefix: '/keep' },
    upstream: { url: 'http://upstream.test/' },
    strip_prefix: false,
  },
  {
    name: 'hosted',
    match: { path_prefix: '/', host: 'api.example.test' },
    upstream: { url: 'http://host-upstream.test/' },
  },
  {
    name: 'headers-only',
    match: { path_prefix: '/hdr' },
    upstream: { url: 'http://upstream.test/' },
    token_sources: { bearer: false, basic: false, headers: ['x-pat'] },
  },
  // The three leaner identity settings (the other routes send everything).
  {
    name: 'id-headers',
    match: { path_prefix: '/id-headers' },
    upstream: { url: 'http://upstream.test/' },
    identity: 'headers',
  },
  {
    name: 'id-jwt',
    match: { path_prefix: '/id-jwt' },
    upstream: { url: 'http://upstream.test/' },
    identity: 'jwt',
  },
  {
    name: 'id-none',
    match: { path_prefix: '/id-none' },
    upstream: { url: 'http://upstream.test/' },
    identity: 'none',
  },
  {
    name: 'keyed',
    match: { path_prefix: '/keyed' },
    upstream: { url: 'http://upstream.test/v2?tenant=acme&api_key=k%201' },
  },
  // CORS: explicit origins with credentials, and any origin.
  {
    name: 'browser',
    match: { path_prefix: '/browser' },
    upstream: { url: 'http://upstream.test/' },
    token_sources: { headers: ['x-pat'] },
    scopes: READ_WRITE,
    cors: {
      origins: ['https://app.example.test', 'http://localhost:5173'],
      allow_headers: ['content-type', 'x-trace'],
      expose_headers: ['x-upstream-page'],
      max_age: 120,
      credentials: true,
    },
  },
  {
    name: 'public-cors',
    match: { path_prefix: '/public-cors' },
    upstream: { url: 'http://upstream.test/' },
    token_sources: { bearer: false, basic: false, headers: ['x-api-token'], query: ['token'] },
    cors: { origins: ['*'] },
  },
  // Nested routes: /nest needs read, /nest/admin admin; the path a request reaches decides, however it is written.
  {
    name: 'nest',
    match: { path_prefix: '/nest' },
    upstream: { url: 'http://upstream.test/' },
    strip_prefix: false,
    token_sources: { path: 'last' },
    scopes: ['read'],
  },
  {
    name: 'nest-admin',
    match: { path_prefix: '/nest/Admin' },
    upstream: { url: 'http://upstream.test/' },
    strip_prefix: false,
    scopes: ['admin'],
  },
  // Per-method scopes where DELETE needs more than the other writes.
  {
    name: 'del-admin',
    match: { path_prefix: '/del-admin' },
    upstream: { url: 'http://upstream.test/' },
    scopes: { GET: ['read'], DELETE: ['admin'], '*': ['write'] },
  },
  {
    name: 'admin-only',
    match: { path_prefix: '/admin-only' },
    upstream: { url: 'http://upstream.test/' },
    scopes: ['admin'],
  },
];

export const TEST_VARS = {
  TOKEN_PEPPER: 'test-pepper-0123456789abcdef0123456789abcdef',
  AUTH_HS256_SECRET: 'test-hs256-secret-0123456789abcdef0123456789',
  AUTH_ISSUER: 'pat-gateway-test',
  AUTH_AUDIENCE: 'pat-gateway',
  ROLE_SCOPES: JSON.stringify({ admin: ['admin', 'read', 'write'], member: ['read', 'write'] }),
  ROUTES: JSON.stringify(TEST_ROUTES),
  UPSTREAM_API_KEY: 'upstream-secret-value',
  INTROSPECTION_CREDENTIALS:
    'resource-server:introspection-secret-123,form client:Secret+with/slash=and%percent',
  // The identity provider's credential for /scim/v2 (SCIM is off without it).
  SCIM_BEARER_TOKEN: 'test-scim-bearer-0123456789abcdef0123456789',
  // A test-only key: pinned so tests never depend on a developer's generated .dev.vars.
  GATEWAY_SIGNING_KEY:
    '{"kty":"EC","x":"s4VnvpVZpXEenswpRRE2-RiO99ybjyapBPqRPNe1U2Y","y":"ui8-ybxPfzMno3qXouESMsY70C2zWfB8TYfg1aKD3KY","crv":"P-256","d":"hUV9gNRZniXTuGP8jfcss8HIAhNYKtqLo3YK29TKxOk","kid":"test-signing-key"}',
};
