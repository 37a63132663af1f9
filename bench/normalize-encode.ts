/**
 * Benchmark: normalize + type + Parquet encode on simulated PayLink worlds, with live heap and peak memory,
 * plus one end-to-end load over loopback HTTP. See bench/README.md.
 *
 *   npm run bench:normalize-encode -- [--users 1000,10000] [--quick] [--e2e-users N] [--part-max-rows N] [--heap-checkpoints N] [--no-save]
 */
import { fileURLToPath } from 'node:url';
import { loaderSettings, selectResources } from '#core/config.ts';
import { DEFAULTS } from '#core/constants.ts';
import { SIMULATOR_DEFAULTS } from '#simulator/options.ts';
import { startSimulator } from '#simulator/server.ts';
import { type CaseResult, type CaseSpec, caseLabel } from './lib/cases.ts';
import { END_TO_END_RATE_LIMIT } from './lib/end-to-end-case.ts';
import { mebibytes, seconds } from './lib/format.ts';
import { describeMachine } from './lib/machine.ts';
import { collectGarbage } from './lib/memory-sampler.ts';
import { BENCH_USAGE, type BenchOptions, parseBenchOptions, UsageError } from './lib/options.ts';
import { computeRatios } from './lib/ratios.ts';
import { type BenchRun, defaultSettings, renderRun } from './lib/report.ts';
import { saveResults } from './lib/results-files.ts';
import { runInChild } from './lib/run-in-child.ts';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const RESULTS_NAME = 'normalize-encode';

/** In-process cases, grouped by kind, smallest world first. */
function inProcessCases(options: BenchOptions): CaseSpec[] {
  const { users, seed, rotationPartMaxRows, heapCheckpoints } = options;
  const base = { seed, heapCheckpoints };
  return [
    ...users.map((n): CaseSpec => ({ ...base, kind: 'write-path', users: n })),
    ...users.map((n): CaseSpec => ({ ...base, kind: 'normalize-type', users: n })),
    ...users.map((n): CaseSpec => ({ ...base, kind: 'encode-only', users: n })),
    ...users.map(
      (n): CaseSpec => ({ ...base, kind: 'write-path', users: n, partMaxRows: rotationPartMaxRows }),
    ),
  ];
}

async function runCase(spec: CaseSpec): Promise<CaseResult> {
  process.stderr.write(`  ${caseLabel(spec)}, ${spec.users} users ... `);
  collectGarbage();
  const result = await runInChild(spec);
  const live = result.liveHeap ? `, max live heap ${mebibytes(result.liveHeap.maxBytes)}` : '';
  process.stderr.write(`${seconds(result.wallMs)} s${live}\n`);
  return result;
}

async function runEndToEnd(options: BenchOptions): Promise<CaseResult> {
  // The simulator lives in this process; the loader in the case's child process.
  const simulator = await startSimulator({ seed: options.seed });
  try {
    return await runCase({
      kind: 'end-to-end',
      users: options.endToEndUsers,
      seed: options.seed,
      heapCheckpoints: options.heapCheckpoints,
      simulator: {
        url: simulator.url,
        apiKey: SIMULATOR_DEFAULTS.apiKey,
        apiSecret: SIMULATOR_DEFAULTS.apiSecret,
      },
    });
  } finally {
    await simulator.close();
  }
}

function commandLine(argv: readonly string[]): string {
  const args = argv.join(' ');
  if (process.env['npm_lifecycle_event'] === 'bench:normalize-encode')
    return `npm run bench:normalize-encode${args ? ` -- ${args}` : ''}`;
  return ['node', ...process.execArgv, 'bench/normalize-encode.ts', ...argv].join(' ');
}

async function main(argv: readonly string[]): Promise<void> {
  const options = parseBenchOptions(argv);
  if (options.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return;
  }
  const date = new Date().toISOString();
  const started = performance.now();
  const machine = describeMachine();
  process.stderr.write(`normalize-encode benchmark (${options.quick ? 'quick' : 'full'} run)\n`);
  const cases: CaseResult[] = [];
  for (const spec of inProcessCases(options)) cases.push(await runCase(spec));
  if (options.endToEndUsers > 0) cases.push(await runEndToEnd(options));

  const run: BenchRun = {
    date,
    command: commandLine(argv),
    machine,
    settings: {
      seed: options.seed,
      resources: selectResources(loaderSettings().catalog).tables,
      ...defaultSettings(),
      rotationPartMaxRows: options.rotationPartMaxRows,
      heapCheckpoints: options.heapCheckpoints,
      endToEnd: {
        users: options.endToEndUsers,
        concurrency: DEFAULTS.concurrency,
        batchSize: DEFAULTS.batchSize,
        rateLimit: END_TO_END_RATE_LIMIT,
      },
    },
    totalMs: performance.now() - started,
    cases,
    ratios: computeRatios(cases, options.rotationPartMaxRows),
  };
  const markdown = renderRun(run);
  process.stdout.write(`\n${markdown}`);
  if (options.save) {
    const written = await saveResults(RESULTS_DIR, RESULTS_NAME, run, markdown);
    process.stderr.write(`\nwritten: ${written.join(', ')}\n`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) process.stderr.write(`${error.message}\n\n${BENCH_USAGE}\n`);
  else
    process.stderr.write(
      `benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
