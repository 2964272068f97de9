// Token format: <prefix><30 random base62 chars><6 base62 chars of CRC32(prefix + random)>.
// 30 base62 characters carry 30 * log2(62) ≈ 178.6 bits, the same as GitHub's and npm's tokens.
// The checksum lets the gateway (and secret scanners) reject a mistyped or made-up token without any I/O.

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const RANDOM_LENGTH = 30;
export const CHECKSUM_LENGTH = 6;
export const BODY_LENGTH = RANDOM_LENGTH + CHECKSUM_LENGTH;
/** Prefixes are lower-case letters and digits in underscore-separated words, ending in `_` (e.g. `pat_`, `acme_pat_`). */
export const PREFIX_PATTERN = /^[a-z][a-z0-9]{1,11}(?:_[a-z0-9]{1,11}){0,2}_$/;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as in zlib) of an ASCII string. */
export function crc32(ascii: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < ascii.length; i++) {
    crc = CRC_TABLE[(crc ^ ascii.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A 32-bit number in exactly 6 base62 digits, left-padded with '0' (62^6 > 2^32). */
export function checksumChars(value: number): string {
  let out = '';
  let n = value;
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** Uniform random base62 characters from the CSPRNG, by rejection sampling (no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
    for (const byte of bytes) {
      // 248 = 4 * 62: bytes at or above it would favour the first characters.
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export function generateToken(prefix: string): string {
  const head = prefix + randomBase62(RANDOM_LENGTH);
  return head + checksumChars(crc32(head));
}

function isBase62Code(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/**
 * True when `candidate` has the prefix, the exact length, only base62 characters after the prefix and a
 * matching checksum. Pure computation: this is the gate that keeps garbage away from caches and storage.
 */
export function isWellFormedToken(candidate: string, prefix: string): boolean {
  if (candidate.length !== prefix.length + BODY_LENGTH || !candidate.startsWith(prefix)) return false;
  for (let i = prefix.length; i < candidate.length; i++) {
    if (!isBase62Code(candidate.charCodeAt(i))) return false;
  }
  const split = candidate.length - CHECKSUM_LENGTH;
  return checksumChars(crc32(candidate.slice(0, split))) === candidate.slice(split);
}

/** The regular expression secret scanners should use for tokens with this prefix. */
export function tokenPattern(prefix: string): string {
  return `\\b${prefix}[0-9A-Za-z]{${BODY_LENGTH}}\\b`;
}

/**
 * The body of anything shaped like a token of any prefix (a prefix ends in `_`, the body is base62; the checksum is
 * not checked). Linear: no repetition before the `_`, so a long header cannot make it backtrack.
 */
const TOKEN_SHAPE = new RegExp(`_[0-9A-Za-z]{${BODY_LENGTH}}`, 'g');

/**
 * Client-sent text the gateway keeps (a user agent in the audit log) with every token-shaped body replaced
 * (`pat_[redacted]`): a client that pastes its token there must not get it stored.
 */
export function redactTokens(text: string): string {
  return text.replace(TOKEN_SHAPE, '_[redacted]');
}

/**
 * True when `text` holds a well-formed token of any prefix: the shape and a matching checksum (which covers the
 * prefix), so a long identifier after an underscore (`build_<sha>`) is not mistaken for one. For text the gateway
 * refuses to store, where a false alarm would refuse an honest name.
 */
export function holdsToken(text: string): boolean {
  TOKEN_SHAPE.lastIndex = 0;
  for (let match = TOKEN_SHAPE.exec(text); match; match = TOKEN_SHAPE.exec(text)) {
    const end = match.index + 1 + BODY_LENGTH;
    // The prefix ends at this `_`; try each start a prefix could have (at most 38 characters back).
    for (let start = match.index; start >= 0 && match.index - start < 38; start--) {
      const prefix = text.slice(start, match.index + 1);
      if (!/^[a-z0-9_]*_$/.test(prefix)) break;
      if (PREFIX_PATTERN.test(prefix) && isWellFormedToken(text.slice(start, end), prefix)) return true;
    }
    TOKEN_SHAPE.lastIndex = match.index + 1;
  }
  return false;
}

/** True when `text` holds something shaped like a token. */
export function holdsTokenShape(text: string): boolean {
  TOKEN_SHAPE.lastIndex = 0;
  return TOKEN_SHAPE.test(text);
}

/** What the list shows instead of the secret: the prefix and the last four characters. */
export function tokenHint(token: string, prefix: string): string {
  return `${prefix}…${token.slice(-4)}`;
}
