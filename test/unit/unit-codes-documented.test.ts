/**
 * The `user_loads.error_code` values a unit gets for 404s of the keys it fans out over (stale
 * task ids, parents gone, parents still listed) and for unsafe task ids are README's to explain,
 * and the ones that decide whether a user counts as failed are in docs/operations.md's
 * FailedUsers row, so an operator who finds one in `user_loads` or in a metric can look it up.
 * The codes are read from the loader's constants, never a hand list.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as loadUser from '#core/load-user.ts';

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Every exported `*_NOT_FOUND` / `UNSAFE_*` code of load-user.ts. */
const codes = Object.entries(loadUser as Record<string, unknown>)
  .filter(([name, value]) => /^(?:[A-Z]+_NOT_FOUND|UNSAFE_[A-Z_]+)$/.test(name) && typeof value === 'string')
  .map(([, value]) => value as string);

describe('user_loads error codes of 404d keys', () => {
  it('are all named in README, each with its status', () => {
    expect(codes.sort()).toEqual(['child_not_found', 'parent_not_found', 'task_not_found', 'unsafe_task_id']);
    const readme = read('README.md');
    for (const code of codes) expect(readme, code).toContain(`\`error_code\` \`${code}\``);
    // The one of them that fails the user says so next to it.
    expect(readme).toMatch(/The unit fails with `error_code` `child_not_found`/);
  });

  it('are in the FailedUsers row of docs/operations.md: which count as failed users and which do not', () => {
    const row = read('docs/operations.md')
      .split('\n')
      .find((line) => line.startsWith('| FailedUsers by `ErrorCode`'));
    expect(row).toBeDefined();
    for (const code of ['task_not_found', 'parent_not_found', 'child_not_found'])
      expect(row, code).toContain(`\`${code}\``);
  });
});
