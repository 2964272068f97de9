import { z } from 'zod';
import { AppError } from '../errors';

// Opaque keyset-pagination cursors: base64url JSON of the last row's sort key and id. A cursor that does not
// decode, or belongs to another sort, is a 400 naming the `cursor` field, never a 500.

const cursorSchema = z
  .object({ s: z.string().max(32), k: z.union([z.number(), z.string().max(400)]), id: z.string().max(64) })
  .strict();
export type Cursor = z.infer<typeof cursorSchema>;

export function encodeCursor(cursor: Cursor): string {
  const bytes = new TextEncoder().encode(JSON.stringify(cursor));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** `keyType` is the sort key's type: a cursor carrying another type was not issued for this sort. */
export function decodeCursor(value: string, sort: string, keyType: 'number' | 'string' = 'number'): Cursor {
  const fail = () =>
    new AppError(400, 'invalid_cursor', 'Invalid cursor', {
      detail: 'The cursor is not one this API issued for this query; start again without it.',
      errors: [{ field: 'cursor', code: 'invalid', message: 'Unrecognised or tampered cursor.' }],
    });
  try {
    if (value.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(value)) throw fail();
    const binary = atob(value.replace(/-/g, '+').replace(/_/g, '/'));
    const json = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(binary, (c) => c.charCodeAt(0)),
    );
    const parsed = cursorSchema.safeParse(JSON.parse(json));
    if (!parsed.success || parsed.data.s !== sort || typeof parsed.data.k !== keyType) throw fail();
    return parsed.data;
  } catch {
    throw fail();
  }
}
