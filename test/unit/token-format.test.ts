import { describe, expect, it } from 'vitest';
import {
  BASE62,
  checksumChars,
  crc32,
  generateToken,
  holdsToken,
  holdsTokenShape,
  isWellFormedToken,
  redactTokens,
  tokenHint,
  tokenPattern,
} from '../../src/tokens/format';

// Expectations are computed independently of src: the alphabet is spelled out here, base62 is decoded by hand,
// and CRC-32 is checked against zlib's published vectors.

const ALPHABET = '0123456789' + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' + 'abcdefghijklmnopqrstuvwxyz';

function fromBase62(digits: string): number {
  let n = 0;
  for (const ch of digits) n = n * 62 + ALPHABET.indexOf(ch);
  return n;
}

/** Replaces the character at `index` with a different base62 character. */
function mutate(token: string, index: number, step = 1): string {
  const next = ALPHABET[(ALPHABET.indexOf(token[index]!) + step) % 62]!;
  return token.slice(0, index) + next + token.slice(index + 1);
}

describe('crc32', () => {
  it('matches the zlib reference vectors', () => {
    expect(crc32('')).toBe(0);
    expect(crc32('hello')).toBe(0x3610a686);
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32('The quick brown fox jumps over the lazy dog')).toBe(0x414fa339);
  });
});

describe('checksumChars', () => {
  it('left-pads to exactly six base62 digits', () => {
    expect(checksumChars(0)).toBe('000000');
    expect(checksumChars(61)).toBe('00000z');
    expect(checksumChars(62)).toBe('000010');
    expect(checksumChars(62 ** 2 + 5)).toBe('000105');
  });

  it('encodes every 32-bit value losslessly', () => {
    for (const value of [1, 0x3610a686, 0xcbf43926, 0x7fffffff, 0xffffffff]) {
      const chars = checksumChars(value);
      expect(chars).toHaveLength(6);
      expect(fromBase62(chars)).toBe(value);
    }
  });
});

describe('generateToken', () => {
  it('is the prefix plus 36 base62 characters ending in the CRC32 of everything before it', () => {
    const token = generateToken('pat_');
    expect(token).toHaveLength('pat_'.length + 36);
    expect(token.startsWith('pat_')).toBe(true);
    expect(token.slice(4)).toMatch(/^[0-9A-Za-z]{36}$/);
    expect(fromBase62(token.slice(-6))).toBe(crc32(token.slice(0, -6)));
    expect(isWellFormedToken(token, 'pat_')).toBe(true);
  });

  it('honours a multi-word prefix', () => {
    const token = generateToken('acme_pat_');
    expect(token).toHaveLength(9 + 36);
    expect(isWellFormedToken(token, 'acme_pat_')).toBe(true);
    expect(isWellFormedToken(token, 'pat_')).toBe(false);
  });

  it('draws the random part uniformly from all 62 characters, without repeats', () => {
    const count = 2000;
    const tokens = Array.from({ length: count }, () => generateToken('dist_'));
    expect(new Set(tokens).size).toBe(count);
    const freq = new Map<string, number>();
    for (const token of tokens) {
      // Only the 30 random characters: the checksum's leading digit is never above '4' (2^32 < 5 * 62^5).
      for (const ch of token.slice(5, 35)) freq.set(ch, (freq.get(ch) ?? 0) + 1);
    }
    expect([...freq.keys()].sort().join('')).toBe([...ALPHABET].sort().join(''));
    expect(BASE62).toBe(ALPHABET);
    const expected = (count * 30) / 62; // ≈ 968 per character, standard deviation ≈ 31
    let chiSquare = 0;
    for (const observed of freq.values()) {
      expect(observed).toBeGreaterThan(expected * 0.75); // ~8 standard deviations: cannot flake
      expect(observed).toBeLessThan(expected * 1.25);
      chiSquare += (observed - expected) ** 2 / expected;
    }
    // 61 degrees of freedom: mean 61, sd 11; 150 is beyond p < 1e-8, while a modulo bias would exceed it.
    expect(chiSquare).toBeLessThan(150);
  });
});

describe('isWellFormedToken', () => {
  const prefix = 'wf_';

  it('rejects the wrong prefix, including one differing only in case', () => {
    const token = generateToken(prefix);
    expect(isWellFormedToken(token, 'wg_')).toBe(false);
    expect(isWellFormedToken(`WF_${token.slice(3)}`, prefix)).toBe(false);
    expect(isWellFormedToken(`xx${token.slice(2)}`, prefix)).toBe(false);
  });

  it('rejects a body one character too short or too long', () => {
    const token = generateToken(prefix);
    expect(isWellFormedToken(token.slice(0, -1), prefix)).toBe(false);
    expect(isWellFormedToken(`${token}0`, prefix)).toBe(false);
    expect(isWellFormedToken(`${token.slice(0, 10)}A${token.slice(10)}`, prefix)).toBe(false);
    expect(isWellFormedToken(prefix, prefix)).toBe(false);
    expect(isWellFormedToken('', prefix)).toBe(false);
  });

  it('rejects non-base62 characters anywhere in the body', () => {
    const token = generateToken(prefix);
    for (const bad of ['-', '_', ' ', '\t', '\n', '+', '/', '=', '.', 'é', 'Ａ', '\u0000']) {
      for (const index of [prefix.length, prefix.length + 17, token.length - 1]) {
        const candidate = token.slice(0, index) + bad + token.slice(index + 1);
        expect(isWellFormedToken(candidate, prefix), `${JSON.stringify(bad)} at ${index}`).toBe(false);
      }
    }
    // A surrogate pair replacing two characters keeps the UTF-16 length.
    expect(isWellFormedToken(`${token.slice(0, -2)}😀`, prefix)).toBe(false);
  });

  it('rejects every single-character change to the body (the checksum catches it)', () => {
    const token = generateToken(prefix);
    for (let i = prefix.length; i < token.length; i++) {
      for (const step of [1, 31, 61]) {
        expect(isWellFormedToken(mutate(token, i, step), prefix), `index ${i} step ${step}`).toBe(false);
      }
    }
  });

  it('rejects swapped adjacent characters', () => {
    const token = generateToken(prefix);
    let swaps = 0;
    for (let i = prefix.length; i < token.length - 1; i++) {
      if (token[i] === token[i + 1]) continue;
      const swapped = token.slice(0, i) + token[i + 1] + token[i] + token.slice(i + 2);
      expect(isWellFormedToken(swapped, prefix), `swap at ${i}`).toBe(false);
      swaps++;
    }
    expect(swaps).toBeGreaterThan(20);
  });

  it('rejects a valid body moved under another prefix of the same length', () => {
    const token = generateToken('abc_');
    const moved = `xyz_${token.slice(4)}`;
    expect(isWellFormedToken(token, 'abc_')).toBe(true);
    expect(isWellFormedToken(moved, 'xyz_')).toBe(false);
  });

  it('accepts a hand-assembled token whose checksum was computed independently', () => {
    const head = `acme_pat_${'A1b2C3d4E5'.repeat(3)}`;
    const sum = crc32(head);
    let digits = '';
    for (let n = sum, i = 0; i < 6; i++, n = Math.floor(n / 62)) digits = ALPHABET[n % 62] + digits;
    expect(isWellFormedToken(head + digits, 'acme_pat_')).toBe(true);
    expect(isWellFormedToken(head + mutate(digits, 5), 'acme_pat_')).toBe(false);
  });
});

describe('tokenPattern', () => {
  const prefix = 'scan_';
  const regex = new RegExp(tokenPattern(prefix));

  it('matches generated tokens, alone and inside text', () => {
    const token = generateToken(prefix);
    expect(regex.test(token)).toBe(true);
    expect(new RegExp(tokenPattern(prefix), 'g').exec(`export TOKEN="${token}";`)?.[0]).toBe(token);
  });

  it('does not match near misses', () => {
    const token = generateToken(prefix);
    expect(regex.test(token.slice(0, -1))).toBe(false);
    expect(regex.test(`${token}a`)).toBe(false);
    expect(regex.test(`x${token}`)).toBe(false);
    expect(regex.test(`${token.slice(0, 20)}-${token.slice(21)}`)).toBe(false);
    expect(regex.test(`other_${token.slice(prefix.length)}`)).toBe(false);
  });
});

describe('redactTokens and holdsTokenShape', () => {
  it('replace the body of every token-shaped run, of any prefix, and nothing shorter', () => {
    const a = generateToken('pat_');
    const b = generateToken('acme_pat_');
    expect(redactTokens(`tool/1 ${a} (${b}) x_${'A'.repeat(35)}`)).toBe(
      `tool/1 pat_[redacted] (acme_pat_[redacted]) x_${'A'.repeat(35)}`,
    );
    expect(holdsTokenShape(`req-${a}`)).toBe(true);
    expect(holdsTokenShape(`req-${a}`)).toBe(true); // a global pattern keeps no state between calls
    expect(holdsTokenShape('trace-4bf92f3577b34da6a3ce929d0e0e4736')).toBe(false);
  });
});

describe('tokenHint', () => {
  it('shows only the prefix and the last four characters', () => {
    const token = generateToken('hint_');
    const hint = tokenHint(token, 'hint_');
    expect(hint).toBe(`hint_…${token.slice(token.length - 4)}`);
    expect(hint).not.toContain(token.slice(5, token.length - 4));
  });
});

describe('holdsToken', () => {
  it('finds a well-formed token of any prefix inside text, and only that', () => {
    for (const prefix of ['pat_', 'acme_pat_', 'ab12_cd_ef_']) {
      const token = generateToken(prefix);
      expect(holdsToken(`key: ${token}.`), prefix).toBe(true);
      expect(holdsToken(`x${token}`), prefix).toBe(true);
      expect(holdsToken(`build_${token}`), prefix).toBe(true);
      // One character changed breaks the checksum.
      const typo = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
      expect(holdsToken(typo), prefix).toBe(false);
    }
    expect(holdsToken('deploy_3f786850e387550fdab836ed7e6dc881de23001b')).toBe(false);
    expect(holdsToken(`pat_${'a'.repeat(36)}`)).toBe(false);
    expect(holdsToken('no token here')).toBe(false);
  });
});
