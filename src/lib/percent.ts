// Percent-decoding as lenient upstreams do it: some decode a path or a parameter more than once, and some decode
// each escape on its own whatever the bytes around it, so the gateway judges what a value could become, not only
// what it says after one strict decoding.

/** One round of strict percent-decoding (UTF-8), or the value as written when it is not valid. */
export function decodeOnce(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

const ASCII_ESCAPE = /%([0-7][0-9a-f])/gi;

/**
 * Decodes every ASCII escape (`%00`–`%7F`), however many rounds it takes (at most four), and leaves the others
 * as written. What it finds (dots, slashes, `;`, tokens) is ASCII, so invalid UTF-8 around it cannot hide it.
 */
export function decodeFully(value: string): string {
  let current = value;
  for (let i = 0; i < 4 && current.includes('%'); i++) {
    const next = current.replace(ASCII_ESCAPE, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
    if (next === current) return current;
    current = next;
  }
  return current;
}

const ESCAPE_RUN = /(?:%[0-9a-f]{2})+/gi;

/**
 * What the non-ASCII escapes left by `decodeFully` could become in a lenient or normalizing upstream: UTF-8 decoded
 * without refusing overlong forms (`%C0%AE`, `%E0%80%AE` are `.` to decoders that accept them, as old IIS, Tomcat
 * and Java's modified UTF-8 did), then NFKC-normalized (`．` U+FF0E is `.`, `／` U+FF0F is `/`, `‥` U+2025 is `..`),
 * then ASCII escapes decoded once more, as an overlong `%` may have made new ones. Invalid bytes become U+FFFD.
 */
export function decodeLookalikes(value: string): string {
  const lenient = value.replace(ESCAPE_RUN, (run) => {
    const bytes = run
      .slice(1)
      .split('%')
      .map((hex) => Number.parseInt(hex, 16));
    return lenientUtf8(bytes);
  });
  return decodeFully(lenient.normalize('NFKC'));
}

/** UTF-8 that accepts overlong encodings: each well-shaped sequence gives its code point, anything else U+FFFD. */
function lenientUtf8(bytes: number[]): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    const length = lead < 0x80 ? 1 : lead >= 0xc0 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : 4;
    let code = length === 1 ? lead : lead & (0xff >> (length + 1));
    let ok = lead < 0x80 || (lead >= 0xc0 && lead < 0xf8);
    for (let k = 1; ok && k < length; k++) {
      const next = bytes[i + k];
      if (next === undefined || (next & 0xc0) !== 0x80) ok = false;
      else code = (code << 6) | (next & 0x3f);
    }
    if (ok && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff)) {
      out += String.fromCodePoint(code);
      i += length;
    } else {
      out += '\ufffd';
      i += 1;
    }
  }
  return out;
}
