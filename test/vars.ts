// Secrets and vars for the test Worker (never used outside tests).
export const TEST_VARS = {
  TOKEN_PEPPER: 'test-pepper-0123456789abcdef0123456789abcdef',
  AUTH_HS256_SECRET: 'test-hs256-secret-0123456789abcdef0123456789',
  AUTH_ISSUER: 'pat-gateway-test',
  AUTH_AUDIENCE: 'pat-gateway',
};
