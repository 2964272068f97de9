import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors';
import { decodeCursor, encodeCursor } from '../../src/lib/cursor';

/** base64url of arbitrary text, written here so forged cursors do not depend on encodeCursor. */
const b64url = (text: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

function expectInvalidCursor(value: string, sort: string): void {
  let caught: unknown;
  try {
    decodeCursor(value, sort);
  } catch (error) {
    caught = error;
  }
  expect(caught, `cursor ${JSON.stringify(value.slice(0, 40))}`).toBeInstanceOf(AppError);
  const error = caught as AppError;
  expect([error.status, error.code]).toEqual([400, 'invalid_cursor']);
  expect(error.errors).toEqual([expect.objectContaining({ field: 'cursor' })]);
}

describe('cursors', () => {
  it('round-trip numeric and string sort keys, including non-ASCII text', () => {
    const cases = [
      { s: 'created_desc', k: 1_800_000_000_123, id: 'tok_cursor_num' },
      { s: 'name_asc', k: 'Zürich déploiement 🚀 ~?>', id: 'tok_cursor_text' },
      { s: 'name_asc', k: '', id: 'tok_cursor_empty' },
    ];
    for (const cursor of cases) {
      const encoded = encodeCursor(cursor);
      expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/); // URL-safe, no padding
      const keyType = typeof cursor.k === 'number' ? 'number' : 'string';
      expect(decodeCursor(encoded, cursor.s, keyType)).toEqual(cursor);
      // The same cursor with the other key type was not issued for this sort.
      expect(() => decodeCursor(encoded, cursor.s, keyType === 'number' ? 'string' : 'number')).toThrow();
    }
  });

  it('decodes a cursor built independently of encodeCursor', () => {
    const value = b64url('{"s":"expires_asc","k":42,"id":"tok_cursor_manual"}');
    expect(decodeCursor(value, 'expires_asc')).toEqual({ s: 'expires_asc', k: 42, id: 'tok_cursor_manual' });
  });

  it('refuses a cursor issued for another sort', () => {
    const value = encodeCursor({ s: 'created_desc', k: 5, id: 'tok_cursor_other_sort' });
    expectInvalidCursor(value, 'created_asc');
  });

  it('refuses garbage, whatever stage it fails at', () => {
    const garbage = [
      '',
      'not a cursor!',
      'abc=',
      'A', // not decodable base64
      'a'.repeat(1025),
      b64url('not json'),
      b64url('null'),
      b64url('[1,2,3]'),
      b64url('"just a string"'),
      b64url('{"s":"name_asc","k":true,"id":"x"}'),
      b64url('{"s":"name_asc","k":1}'),
      b64url('{"s":"name_asc","k":1,"id":"x","extra":1}'),
      b64url(`{"s":"name_asc","k":"${'x'.repeat(401)}","id":"x"}`),
      b64url(`{"s":"name_asc","k":1,"id":"${'i'.repeat(65)}"}`),
      b64url('{"s":"name_asc","k":1,"id":"x","__proto__":{"polluted":1}}'),
      btoa(String.fromCharCode(0xff, 0xfe, 0x7b))
        .replace(/=+$/, '')
        .replace(/\+/g, '-')
        .replace(/\//g, '_'),
    ];
    for (const value of garbage) expectInvalidCursor(value, 'name_asc');
  });

  it('a one-character change anywhere yields a 400 or another well-formed cursor, never another error', () => {
    const original = { s: 'name_asc', k: 'alpha', id: 'tok_cursor_tamper' };
    const value = encodeCursor(original);
    let refused = 0;
    for (let i = 0; i < value.length; i++) {
      const tampered = `${value.slice(0, i)}${value[i] === 'A' ? '-' : 'A'}${value.slice(i + 1)}`;
      try {
        const decoded = decodeCursor(tampered, 'name_asc');
        expect(decoded).not.toEqual(original);
        expect(Object.keys(decoded).sort()).toEqual(['id', 'k', 's']);
      } catch (error) {
        expect(error).toBeInstanceOf(AppError);
        expect((error as AppError).code).toBe('invalid_cursor');
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(value.length / 2);
  });
});
