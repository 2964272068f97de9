import { AppError } from '../errors';
import { decodeFully } from '../lib/percent';

// Paths the gateway refuses to proxy because an upstream that decodes before routing could leave the route's base:
// a segment that decodes (once or more) to a `.` or `..` piece between slashes or backslashes (`..%2F`, `%252e%252e`,
// `..;x`), and empty segments (`//`, which an upstream resolving a URL reference could take for a host), also when
// encoded (a segment that decodes to start or end with a slash). The URL parser already resolved literal dot
// segments. Encoded slashes inside a segment stay allowed: APIs use them in ids (GitLab's `group%2Fproject`).

export function assertUnambiguousPath(pathname: string): void {
  const segments = pathname.split('/').slice(1);
  const bad = segments.some((segment, index) => {
    if (segment === '') return index < segments.length - 1; // a trailing slash is fine, `//` is not
    const decoded = decodeFully(segment);
    // An encoded slash at either end of a segment makes `//` once an upstream decodes the path (`/%2Fevil.test/x`).
    if (/^[/\\]|[/\\]$/.test(decoded)) return true;
    return decoded.split(/[/\\]/).some((piece) => {
      const bare = piece.split(';', 1)[0];
      return bare === '.' || bare === '..';
    });
  });
  if (bad) {
    throw new AppError(400, 'invalid_path', 'Invalid path', {
      detail: 'The path has empty segments or encoded dot segments that an upstream could read differently.',
    });
  }
}
