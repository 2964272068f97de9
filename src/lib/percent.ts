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
const U_ESCAPE = /%u([0-9a-f]{4})/gi;

/**
 * What the non-ASCII escapes left by `decodeFully` could become in a lenient or normalizing upstream: IIS's
 * `%uXXXX` escapes; UTF-8 decoded without refusing overlong forms (`%C0%AE`, `%E0%80%AE`, up to the 6-byte forms of
 * RFC 2279 are `.` to decoders that accept them, as old IIS, Tomcat and Java's modified UTF-8 did); NFKC (`．`
 * U+FF0E is `.`, `／` U+FF0F is `/`, `‥` U+2025 is `..`, `％` U+FF05 is `%`); then ASCII escapes. Repeated (at most
 * four rounds) while it changes anything, as each step can make escapes for the others. Bad bytes become U+FFFD.
 */
export function decodeLookalikes(value: string): string {
  let current = value;
  for (let i = 0; i < 4; i++) {
    const next = decodeFully(
      current
        .replace(U_ESCAPE, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
        .replace(ESCAPE_RUN, (run) =>
          lenientUtf8(
            run
              .slice(1)
              .split('%')
              .map((hex) => Number.parseInt(hex, 16)),
          ),
        )
        .normalize('NFKC'),
    );
    if (next === current) break;
    current = next;
  }
  return current;
}

/** Bytes a lead byte announces in (pre-2003) UTF-8, or 0 when it cannot start a sequence. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xc0) return 0;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  if (lead < 0xf8) return 4;
  if (lead < 0xfc) return 5;
  return lead < 0xfe ? 6 : 0;
}

/** UTF-8 that accepts overlong encodings: each well-shaped sequence gives its code point, anything else U+FFFD. */
function lenientUtf8(bytes: number[]): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    const length = sequenceLength(lead);
    let code = length === 1 ? lead : lead & (0xff >> (length + 1));
    let ok = length > 0;
    for (let k = 1; ok && k < length; k++) {
      const next = bytes[i + k];
      if (next === undefined || (next & 0xc0) !== 0x80) ok = false;
      else code = code * 64 + (next & 0x3f);
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
