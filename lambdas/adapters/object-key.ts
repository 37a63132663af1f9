/**
 * Object keys as both stores accept them. One rule set for the disk and S3, so a key that works
 * in a local run works in the deployed stack and the other way round.
 */
import { StoreError } from '#core/errors.ts';

// Control characters (NUL above all) and backslashes are rejected: on disk a backslash is a
// separator on some systems, and neither has a place in keys derived from layout.ts.
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/;

function assertSegments(key: string, segments: readonly string[]): void {
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new StoreError(key, 'invalid key (empty, "." or ".." segment)');
    }
  }
}

/** A key of one object: relative, `/`-separated, no empty, `.` or `..` segments. */
export function assertObjectKey(key: string): string {
  if (key === '' || FORBIDDEN.test(key)) {
    throw new StoreError(key, 'invalid key (empty, or a backslash or control character)');
  }
  assertSegments(key, key.split('/'));
  return key;
}

/**
 * A listing prefix: '' (everything) or a key prefix. The last segment may be partial
 * (`users/dt=2024-`), as on S3, so only the complete segments before it are checked.
 */
export function assertListPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  if (FORBIDDEN.test(prefix))
    throw new StoreError(prefix, 'invalid prefix (a backslash or control character)');
  const segments = prefix.split('/');
  const last = segments.pop() ?? '';
  assertSegments(prefix, segments);
  if (last === '.' || last === '..') throw new StoreError(prefix, 'invalid prefix ("." or ".." segment)');
  return prefix;
}

/**
 * The order `list` returns: plain UTF-16 code unit order, the same for both stores (S3 itself
 * lists in UTF-8 byte order, which differs for characters beyond U+FFFF).
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
