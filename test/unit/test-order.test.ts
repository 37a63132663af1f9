/**
 * The suite's own file order (vitest.config.ts): on a fresh checkout, with no cache of past
 * durations, the slowest files start first whatever their size, and every file named as slow
 * still exists (a renamed file would silently go back to starting last).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { TestSpecification, Vitest } from 'vitest/node';
import { SLOWEST_FIRST, SlowestFirst } from '../../vitest.config.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What BaseSequencer reads of a file: its project and module id. */
const spec = (file: string) =>
  ({
    moduleId: join(ROOT, file),
    project: { name: '', config: { sequence: { groupOrder: 0 }, isolate: true } },
  }) as unknown as TestSpecification;

/** No cache at all (a fresh CI checkout); `sizes`: file sizes vitest has seen, largest first. */
const sequencer = (sizes: Record<string, number> = {}) =>
  new SlowestFirst({
    config: { root: ROOT },
    cache: {
      getFileTestResults: () => undefined,
      getFileStats: (key: string) => {
        const size = sizes[key.replace(/^:/, '')];
        return size === undefined ? undefined : { size };
      },
    },
  } as unknown as Vitest);

describe('the suite file order', () => {
  it('names only files that exist', () => {
    expect(SLOWEST_FIRST.filter((file) => !existsSync(join(ROOT, file)))).toEqual([]);
  });

  it('starts the slowest files first, slowest first, then the others in vitest order (largest first)', async () => {
    const others = ['test/unit/big.test.ts', 'test/unit/small.test.ts'];
    const sizes = Object.fromEntries([
      ...SLOWEST_FIRST.map((file) => [file, 300] as const),
      [others[0]!, 90_000],
      [others[1]!, 1_000],
    ]);
    const files = [...others, ...[...SLOWEST_FIRST].reverse()].map(spec);
    const sorted = await sequencer(sizes).sort(files);
    expect(sorted.map((s) => s.moduleId.slice(ROOT.length))).toEqual([...SLOWEST_FIRST, ...others]);
  });
});
