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
