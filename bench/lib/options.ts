/** Flags of `npm run bench`. */
import { parseArgs } from 'node:util';

export const BENCH_USAGE = `npm run bench:normalize-encode -- [--users 1000,10000] [--quick] [--e2e-users N] [--part-max-rows N] [--heap-checkpoints N] [--seed S] [--no-save]

  --users a,b          world sizes (users) for the in-process cases (default 1000,10000)
  --quick              a short run: users 200,2000, end-to-end 200 users, rotation at 500 rows
  --e2e-users N        users of the end-to-end case over HTTP (default 1000; 0 skips it)
  --part-max-rows N    part size of the rotation cases (default 2000: below the 10,000-row row group)
  --heap-checkpoints N live-heap checkpoints per case, a forced GC each (default 10: every 10% of users; 0: none)
  --seed S             simulator world seed (default paylink)
  --no-save            print only; leave bench/results/ untouched
  --help               this text`;

export interface BenchOptions {
  /** Ascending, distinct. */
  readonly users: readonly number[];
  readonly endToEndUsers: number;
  readonly rotationPartMaxRows: number;
  readonly heapCheckpoints: number;
  readonly seed: string;
  readonly quick: boolean;
  readonly save: boolean;
  readonly help: boolean;
}

/**
 * Rotation cases use parts smaller than a row group (DEFAULTS.parquet.rowGroupRows): closing a
 * part flushes its rows, so the rows buffered per table are bounded by the part size. Parts
 * larger than a row group buffer no less than the default (row groups flush first).
 */
const FULL = { users: [1_000, 10_000], endToEndUsers: 1_000, rotationPartMaxRows: 2_000 } as const;
const QUICK = { users: [200, 2_000], endToEndUsers: 200, rotationPartMaxRows: 500 } as const;
/** Every 10% of users: enough points to see a plateau, ~0.1 s of forced GC each at most. */
const HEAP_CHECKPOINTS = 10;

export class UsageError extends Error {}

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const quick = values.quick ?? false;
  const preset = quick ? QUICK : FULL;
  const users =
    values.users === undefined
      ? [...preset.users]
      : [...new Set(values.users.split(',').map((raw) => count('--users', raw.trim(), 1)))].sort(
          (a, b) => a - b,
        );
  return {
    users,
    endToEndUsers:
      values['e2e-users'] === undefined ? preset.endToEndUsers : count('--e2e-users', values['e2e-users'], 0),
    rotationPartMaxRows:
      values['part-max-rows'] === undefined
        ? preset.rotationPartMaxRows
        : count('--part-max-rows', values['part-max-rows'], 1),
    heapCheckpoints:
      values['heap-checkpoints'] === undefined
        ? HEAP_CHECKPOINTS
        : count('--heap-checkpoints', values['heap-checkpoints'], 0),
    seed: values.seed ?? 'paylink',
    quick,
    save: !(values['no-save'] ?? false),
    help: values.help ?? false,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    options: {
      users: { type: 'string' },
      quick: { type: 'boolean' },
      'e2e-users': { type: 'string' },
      'part-max-rows': { type: 'string' },
      'heap-checkpoints': { type: 'string' },
      seed: { type: 'string' },
      'no-save': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function count(flag: string, raw: string, min: number): number {
  const n = Number(raw);
  if (raw === '' || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${flag} must be an integer >= ${min}`);
  }
  return n;
}
