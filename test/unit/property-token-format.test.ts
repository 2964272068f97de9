import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateToken, isWellFormedToken, PREFIX_PATTERN, tokenPattern } from '../../src/tokens/format';

// Property tests for the token format. The oracle is written here, independently of src: a bitwise CRC-32
// (IEEE, as zlib) and a base62 encoder, so "well-formed" is checked against the specification, not the code.

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function crc32Bitwise(text: string): number {
  let crc = ~0;
  for (let i = 0; i < text.length; i++) {
    crc ^= text.charCodeAt(i);
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function base62Of(value: number, digits: number): string {
  let out = '';
  for (let n = value, i = 0; i < digits; i++, n = Math.floor(n / 62)) out = ALPHABET[n % 62] + out;
  return out;
}

/** The specification: prefix + 30 base62 + 6 base62 digits of CRC-32(prefix + random part). */
function oracle(candidate: string, prefix: string): boolean {
  if (!candidate.startsWith(prefix) || candidate.length !== prefix.length + 36) return false;
  const body = candidate.slice(prefix.length);
  if (![...body].every((ch) => ALPHABET.includes(ch))) return false;
  return base62Of(crc32Bitwise(candidate.slice(0, -6)), 6) === candidate.slice(-6);
}

/** Any UTF-16 code unit, lone surrogates and NUL included. */
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
const anyString = fc.oneof(fc.string({ unit: anyUnit, maxLength: 80 }), fc.string({ unit: 'binary' }));
const base62 = (length: number) =>
  fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: length, maxLength: length });
const prefixArb = fc.stringMatching(/^[a-z][a-z0-9]{1,5}(_[a-z0-9]{1,5}){0,2}_$/);

/** A well-formed token built by the oracle from generated parts (so fast-check can shrink it). */
const tokenArb = fc.tuple(prefixArb, base62(30)).map(([prefix, random]) => ({
  prefix,
  token: prefix + random + base62Of(crc32Bitwise(prefix + random), 6),
}));

describe('isWellFormedToken', () => {
  it('never throws, whatever the candidate and prefix', () => {
    fc.assert(
      fc.property(anyString, fc.oneof(prefixArb, anyString), (candidate, prefix) => {
        expect(typeof isWellFormedToken(candidate, prefix)).toBe('boolean');
      }),
    );
  });

  it('agrees with the specification on arbitrary strings of the right shape', () => {
    const shaped = fc
      .tuple(prefixArb, base62(36))
      .map(([prefix, body]) => ({ prefix, candidate: prefix + body }));
    fc.assert(
      fc.property(shaped, ({ prefix, candidate }) => {
        expect(isWellFormedToken(candidate, prefix)).toBe(oracle(candidate, prefix));
      }),
      { numRuns: 2_000 },
    );
  });

  it('agrees with the specification on arbitrary strings', () => {
    fc.assert(
      fc.property(anyString, prefixArb, (candidate, prefix) => {
        expect(isWellFormedToken(candidate, prefix)).toBe(oracle(candidate, prefix));
      }),
    );
  });

  it('accepts every token built to the specification, and every generated token', () => {
    fc.assert(
      fc.property(tokenArb, ({ prefix, token }) => {
        expect(isWellFormedToken(token, prefix)).toBe(true);
      }),
    );
    fc.assert(
      fc.property(prefixArb, (prefix) => {
        expect(PREFIX_PATTERN.test(prefix)).toBe(true);
        const token = generateToken(prefix);
        expect(oracle(token, prefix)).toBe(true);
        expect(isWellFormedToken(token, prefix)).toBe(true);
        expect(new RegExp(`^${tokenPattern(prefix)}$`).test(token)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects every single-character substitution, anywhere in the token', () => {
    fc.assert(
      fc.property(tokenArb, fc.nat(), anyUnit, ({ prefix, token }, at, replacement) => {
        const i = at % token.length;
        fc.pre(token[i] !== replacement);
        expect(isWellFormedToken(token.slice(0, i) + replacement + token.slice(i + 1), prefix)).toBe(false);
      }),
      { numRuns: 3_000 },
    );
  });

  it('rejects every deletion, insertion and adjacent transposition', () => {
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), ch: anyUnit }),
      fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(tokenArb, edit, ({ prefix, token }, e) => {
        const i = e.at % token.length;
        let mutated: string;
        if (e.kind === 'delete') mutated = token.slice(0, i) + token.slice(i + 1);
        else if (e.kind === 'insert') mutated = token.slice(0, i) + e.ch + token.slice(i);
        else {
          const j = Math.min(i + 1, token.length - 1);
          fc.pre(token[i] !== token[j]);
          mutated = token.slice(0, i) + token[j] + token[i] + token.slice(j + 1);
        }
        expect(isWellFormedToken(mutated, prefix)).toBe(false);
      }),
      { numRuns: 3_000 },
    );
  });

  it('rejects a valid token presented with another prefix, or with surrounding whitespace', () => {
    fc.assert(
      fc.property(
        tokenArb,
        prefixArb,
        fc.constantFrom(' ', '\t', '\n', '\u00a0', '\u200b'),
        (t, other, space) => {
          fc.pre(other !== t.prefix);
          expect(isWellFormedToken(t.token, other)).toBe(false);
          expect(isWellFormedToken(space + t.token, t.prefix)).toBe(false);
          expect(isWellFormedToken(t.token + space, t.prefix)).toBe(false);
        },
      ),
    );
  });
});
