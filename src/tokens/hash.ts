// Tokens are stored as HMAC-SHA256(pepper, token), never in the clear. The pepper is a Worker secret, so a copy
// of D1 alone cannot be used to test guesses. Each pepper has a version so it can be rotated: new hashes use the
// current pepper, and older versions stay configured until no row uses them.

export interface Pepper {
  version: number;
  secret: string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const encoder = new TextEncoder();
// Importing an HMAC key costs more than the HMAC itself, so each pepper is imported once per isolate.
const keyCache = new Map<string, Promise<CryptoKey>>();

function importKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
    ]);
    keyCache.set(secret, key);
  }
  return key;
}

export function toHex(bytes: ArrayBuffer): string {
  const view = new Uint8Array(bytes);
  let out = '';
  for (let i = 0; i < view.length; i++) out += HEX[view[i]!];
  return out;
}

export async function hashToken(token: string, pepper: Pepper): Promise<string> {
  const signature = await crypto.subtle.sign('HMAC', await importKey(pepper.secret), encoder.encode(token));
  return toHex(signature);
}
