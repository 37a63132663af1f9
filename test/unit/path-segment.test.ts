import { describe, expect, it } from 'vitest';
import { resolveCatalog } from '#core/config.ts';
import { UnsafePathSegmentError, unitPath } from '#core/load-user.ts';
import { isSafePathSegment } from '#core/path-segment.ts';

const resource = (table: string) => {
  const found = resolveCatalog().find((r) => r.table === table);
  if (found === undefined) throw new Error(`no resource ${table}`);
  return found;
};

describe('path segments', () => {
  it('are safe unless empty, `.` or `..` once encoded', () => {
    for (const value of ['', '.', '..']) expect(isSafePathSegment(value)).toBe(false);
    for (const value of ['...', 'a..b', '.hidden', '%2e%2e', '../x', '/', '?', '#', 'Zoë 🙂'])
      expect(isSafePathSegment(value)).toBe(true);
  });

  it('keep every URL built from an id to its own segment, and refuse the others by what they are', () => {
    // A URL parser resolves what is left: each value stays where it was put.
    for (const id of ['../x', '%2e%2e', 'a/b?c#d'])
      expect(new URL(`https://h${unitPath(resource('tasks'), 'u', id)}`).pathname.split('/')).toHaveLength(4);
    const refusal = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return error instanceof UnsafePathSegmentError ? error.code : 'other';
      }
      return 'none';
    };
    expect(refusal(() => unitPath(resource('tasks'), 'u', '..'))).toBe('unsafe_task_id');
    expect(refusal(() => unitPath(resource('user_tasks'), '.', undefined))).toBe('unsafe_identifier');
    expect(refusal(() => unitPath(resource('account'), 'u', '..'))).toBe('unsafe_path_key');
    // A path without the identifier does not care what it is.
    expect(unitPath(resource('orders'), '..', undefined)).toBe('/pay-link/orders');
  });
});
