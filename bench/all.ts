/**
 * Every benchmark, one after another, each in its own Node process: `npm run bench` (the full
 * figures, under 10 minutes on the 2-core machine) and `npm run bench:quick` (smoke sizes, under
 * 2 minutes). Each appends its dated section to bench/results/<name>.md; this prints how long
 * each took. Extra arguments after `--` go to every benchmark (`-- --no-save`).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Bench {
  readonly name: string;
  readonly file: string;
  readonly full: readonly string[];
  readonly quick: readonly string[];
  /** Node flags the benchmark needs beyond tsx. */
  readonly node?: readonly string[];
}

const BENCHES: readonly Bench[] = [
  { name: 'cold-start', file: 'cold-start.ts', full: [], quick: ['--quick'] },
  { name: 'encoders', file: 'encoders.ts', full: [], quick: ['--quick'] },
  {
    name: 'rate-limit',
    file: 'rate-limit.ts',
    full: ['--reference-writer'],
    quick: ['--quick', '--seconds', '6'],
  },
  // Quick: 500 users in 5 batches, so each table has several parts and the merge runs (at the
  // default batch size 500 users are one batch: one part per table, nothing to merge).
  {
    name: 'files-per-table',
    file: 'files-per-table.ts',
    full: [],
    quick: ['--users', '500', '--batch-size', '100'],
  },
  // 2,000 users: the size of the figures behind MERGE_THROUGHPUT, ~22 s (16 s of CPU) at load 6.
  { name: 'merge-throughput', file: 'merge-throughput.ts', full: [], quick: ['--users', '200'] },
  // The commit's peak RSS under its Lambda's heap flags, narrow and wide rows (+40 fields of 64
  // characters): 2,500 users is where the rows-only row groups took 530 MiB, over the pass line.
  {
    name: 'merge-throughput --rss',
    file: 'merge-throughput.ts',
    full: ['--rss', '--users', '2500'],
    quick: ['--rss', '--users', '100', '--batches', '5'],
  },
  {
    name: 'batch-memory',
    file: 'batch-memory.ts',
    // The target (1k vs 30k users, <= 1.15x) is load-batch's, under its NODE_OPTIONS (the stack's).
    // The CLI's worker cap runs in bench:quick (1,000 and 2,000 users): at 30,000 users it added
    // 88 s and took the full run past its 10 minutes (692 s, idle, 2026-12-01).
    full: ['--settings', 'lambda'],
    quick: ['--users', '1000,2000', '--settings', 'lambda,cli'],
  },
  {
    name: 'normalize-encode',
    file: 'normalize-encode.ts',
    // 1,000 and 2,500 users: how each stage scales, at half the 5,000-user run's 89 s (idle).
    full: ['--users', '1000,2500', '--e2e-users', '0'],
    quick: ['--quick', '--users', '200,500', '--e2e-users', '0'],
    node: ['--expose-gc'],
  },
  { name: 'webhook-receiver', file: 'webhook-receiver.ts', full: [], quick: ['--quick'] },
  {
    name: 'plan-memory',
    file: 'plan-memory.ts',
    full: ['--users', '100000,1000000', '--modes', 'stream'],
    quick: ['--users', '100000', '--modes', 'stream'],
    node: ['--expose-gc'],
  },
];

function run(bench: Bench, args: readonly string[]): Promise<number | null> {
  const file = fileURLToPath(new URL(bench.file, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(bench.node ?? []), '--import', 'tsx', file, ...args], {
      stdio: 'inherit',
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}

const quick = process.argv.includes('--quick');
const extra = process.argv.slice(2).filter((a) => a !== '--quick');
const started = performance.now();
const timings: string[] = [];
let failed = false;
for (const bench of BENCHES) {
  const t = performance.now();
  const code = await run(bench, [...(quick ? bench.quick : bench.full), ...extra]);
  failed ||= code !== 0;
  timings.push(
    `${bench.name}: ${((performance.now() - t) / 1000).toFixed(0)} s${code === 0 ? '' : ` (exit ${code})`}`,
  );
}
console.log(
  `\n${quick ? 'bench:quick' : 'bench'}: ${((performance.now() - started) / 1000).toFixed(0)} s in all (${timings.join(', ')})`,
);
process.exitCode = failed ? 1 : 0;
