import { expect } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config';

// Shared by the configuration tests: a P-256 key generated for them only, and the problems an env must produce.

export const SIGNING_KEY = {
  kty: 'EC',
  crv: 'P-256',
  x: 'H-srTdJYIGPVnnUIWrg4tBKBmV-fPN2TOh6C19MhNW8',
  y: '8LeT5fI0fEDNXhu9AHZhvuvoClfHL1RFoAOStsHhiCI',
  d: 'jLADxDtgKnjX-L8SJCrQYki9qX_bygol7SFC5pDy3BU',
  kid: 'cfg-1',
};

/** The ConfigError problems for an env that must not parse. */
export function problemsOf(env: Record<string, unknown>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected parseConfig to throw');
}
