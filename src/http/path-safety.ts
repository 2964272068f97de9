import { AppError } from '../errors';
import { decodeFully, decodeLookalikes } from '../lib/percent';

// Paths the gateway refuses to proxy because an upstream that decodes before routing could leave the route's base:
// a segment that decodes (once or more) to a `.` or `..` piece between slashes or backslashes (`..%2F`, `%252e%252e`,
// `..;x`), and empty segments (`//`, which an upstream resolving a URL reference could take for a host), also when
// encoded (a segment that decodes to start or end with a slash). The URL parser already resolved literal dot
// segments. Encoded slashes inside a segment stay allowed: APIs use them in ids (GitLab's `group%2Fproject`).
// Lookalikes count too: overlong UTF-8 (`%C0%AE%C0%AE`) and characters NFKC turns into dots or slashes (`％２ｅ`,
// full-width `．．`, `／`), for upstreams that decode leniently or normalize before routing.

export function assertUnambiguousPath(pathname: string): void {
  const segments = pathname.split('/').slice(1);
  const bad = segments.some((segment, index) => {
    if (segment === '') return index < segments.length - 1; // a trailing slash is fine, `//` is not
    const decoded = decodeFully(segment);
    // Non-ASCII escapes remain: judge also what an overlong or normalizing decoder makes of them.
    return misleads(decoded) || (decoded.includes('%') && misleads(decodeLookalikes(decoded)));
  });
  if (bad) {
    throw new AppError(400, 'invalid_path', 'Invalid path', {
      detail: 'The path has empty segments or encoded dot segments that an upstream could read differently.',
    });
  }
}

/** A decoded segment that starts or ends with a slash (`//` once decoded), or holds a `.` or `..` piece. */
function misleads(decoded: string): boolean {
  // An encoded slash at either end of a segment makes `//` once an upstream decodes the path (`/%2Fevil.test/x`).
  if (/^[/\\]|[/\\]$/.test(decoded)) return true;
  return decoded.split(/[/\\]/).some((piece) => {
    // What follows `;` is a parameter to many servers; `?`, `#` and NUL end the path for one that re-parses or
    // truncates it.
    const bare = piece.split(/[;?#\0]/, 1)[0];
    return bare === '.' || bare === '..';
  });
}
