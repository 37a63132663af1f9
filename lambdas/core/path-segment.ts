/**
 * Values that become one segment of a PayLink request path: a user identifier
 * (`/user/{identifier}/tasks`), a task id (`/task/{id}/details`), a parent record's id.
 *
 * `encodeURIComponent` escapes `/`, `?`, `#` and `%`, so an encoded value cannot start another
 * segment, a query or a fragment. It leaves `.` alone, though, and a URL parser reads a `.` or
 * `..` segment as a move (RFC 3986 §5.2.4, WHATWG URL): `/task/../details` is requested as
 * `/details`, another resource. An empty value leaves an empty segment (`/task//details`).
 * Such values are never put in a path.
 */

/** True when `value`, URL-encoded, stays exactly one path segment of its own. */
export function isSafePathSegment(value: string): boolean {
  const encoded = encodeURIComponent(value);
  return encoded !== '' && encoded !== '.' && encoded !== '..';
}
