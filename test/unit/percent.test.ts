import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFully, decodeLookalikes } from '../../src/lib/percent';

// decodeLookalikes reads escapes as a lenient upstream would: valid UTF-8 as any decoder does, overlong forms as
// the ASCII they spell, then NFKC.

const hex = (byte: number) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;

describe('decodeLookalikes', () => {
  it('decodes valid UTF-8 escapes like decodeURIComponent, then normalizes (NFKC)', () => {
    // Text that holds a percent sign once normalized makes escapes of its own, which the next round decodes: that
    // is the case below, not this one (decodeFully, the oracle here, leaves a non-ASCII escape as written).
    const text = fc
      .string({ unit: 'grapheme', maxLength: 20 })
      .filter((t) => !t.normalize('NFKC').includes('%'));
    fc.assert(
      fc.property(text, (t) => {
        expect(decodeLookalikes(encodeURIComponent(t))).toBe(decodeFully(t.normalize('NFKC')));
      }),
    );
  });

  it('decodes the escapes an earlier round made, a bad byte among them as U+FFFD', () => {
    // `%25A0` is `%A0` after one round: a lone continuation byte, not UTF-8.
    expect(decodeLookalikes('%25A0')).toBe('\ufffd');
    expect(decodeLookalikes('%252E%252e')).toBe('..');
    // A full-width percent sign becomes `%` under NFKC, and what follows it an escape.
    expect(decodeLookalikes('%EF%BC%85A0')).toBe('\ufffd');
    expect(decodeLookalikes('%EF%BC%8541')).toBe('A');
  });

  it('reads 2- to 6-byte overlong encodings of an ASCII character as that character', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0x21, max: 0x7e }), (code) => {
        const char = String.fromCharCode(code);
        if (char === '%') return; // its overlong form decodes to `%`, which then starts an escape of its own
        const two = [0xc0 | (code >> 6), 0x80 | (code & 0x3f)];
        const three = [0xe0, 0x80 | (code >> 6), 0x80 | (code & 0x3f)];
        const four = [0xf0, 0x80, 0x80 | (code >> 6), 0x80 | (code & 0x3f)];
        const five = [0xf8, 0x80, 0x80, 0x80 | (code >> 6), 0x80 | (code & 0x3f)];
        const six = [0xfc, 0x80, 0x80, 0x80, 0x80 | (code >> 6), 0x80 | (code & 0x3f)];
        for (const bytes of [two, three, four, five, six])
          expect(decodeLookalikes(bytes.map(hex).join(''))).toBe(char);
      }),
    );
  });

  it("reads IIS's %uXXXX escapes, and escapes spelled with a full-width percent sign", () => {
    expect(decodeLookalikes('%u002e%u002E%u002f')).toBe('../');
    expect(decodeLookalikes('%EF%BC%85C0%EF%BC%85AE')).toBe('.');
    expect(decodeLookalikes('%EF%BC%852e')).toBe('.');
  });

  it('turns bytes that are not UTF-8 into U+FFFD, one per byte, and never throws', () => {
    expect(decodeLookalikes('%FF%FEa%80')).toBe('\ufffd\ufffda\ufffd');
    expect(decodeLookalikes('%C0')).toBe('\ufffd');
    expect(decodeLookalikes('%ED%A0%80')).toBe('\ufffd\ufffd\ufffd'); // a UTF-16 surrogate is not a character
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }), (bytes) => {
        expect(typeof decodeLookalikes(bytes.map(hex).join(''))).toBe('string');
      }),
    );
  });
});
