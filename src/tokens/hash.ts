// Tokens are stored as HMAC-SHA256(pepper, token), never in the clear. The pepper is a Worker secret, so a copy
// of D1 alone cannot be used to test guesses. Each pepper has a version so it can be rotated: new hashes use the
// current pepper, and older versions stay configured until no row uses them.

export interface Pepper {
  version: number;
  secret: string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const encoder = new TextEncoder();
// Importing an HMAC key costs more than the HMAC itself, so each pepper is imported once per isolate; once
// imported, the key itself is kept, so the hot path does not wait on an already-settled promise.
const keyCache = new Map<string, Promise<CryptoKey>>();
const keys = new Map<string, CryptoKey>();

function importKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
    ]);
    keyCache.set(secret, key);
    key.then((imported) => keys.set(secret, imported)).catch(() => keyCache.delete(secret));
  }
  return key;
}

/** UTF-8 bytes of the text. Tokens are ASCII, and copying char codes costs less than a call into TextEncoder. */
function bytesOf(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return encoder.encode(text);
    bytes[i] = code;
  }
  return bytes;
}

export function toHex(bytes: ArrayBuffer): string {
  const view = new Uint8Array(bytes);
  let out = '';
  for (let i = 0; i < view.length; i++) out += HEX[view[i]!];
  return out;
}

export async function hashToken(token: string, pepper: Pepper): Promise<string> {
  const key = keys.get(pepper.secret) ?? (await importKey(pepper.secret));
  return toHex(await crypto.subtle.sign('HMAC', key, bytesOf(token)));
}
