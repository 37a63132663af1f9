/**
 * Files sized for Athena (issue 11, item 1): what a committed load leaves per table. The whole
 * local load path (runLoad: plan -> batches of the default size -> commit, which merges each
 * table partition's parts into one file, lambdas/core/merge-parts.ts) against the simulated world
 * in this process (bench/lib/in-process-api.ts: no HTTP, no rate limit), into a local lake, with
 * the loader's own writer (parquet-worker-writer.ts) and reader. Then the lake is listed.
 *
 *   node --import tsx bench/files-per-table.ts [--users 10000,100000] [--batch-size <n>] [--quick] [--no-save]
 *
 * Figures per size: data tables, the most files any table has in one partition (target 1, or
 * files of >= 128 MB each when a partition is larger), the median and the range of the data
 * files' sizes, and the parts staged before the merge (what each table had without it: one per
 * batch and part rotation). Default sizes: 10,000 users (100,000 take about 10x as long: pass
 * them with --users; they do not fit `npm run bench`'s 10 minutes on the 2-core machine).
 * `--batch-size` (default the loader's, 500): at least two batches are needed for the merge to
 * have anything to merge, so a small smoke size (bench:quick: 500 users) runs with a smaller one.
 * Results: bench/results/files-per-table.md.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createWorkerPartWriterFactory } from '#adapters/parquet-worker-writer.ts';
import { loaderSettings, selectResources } from '#core/config.ts';
import { DEFAULTS } from '#core/constants.ts';
import { loadIdFromTime } from '#core/layout.ts';
import type { PartWriterFactory } from '#core/ports.ts';
import { runLoad } from '#core/run-load.ts';
import { markdownTable } from './lib/format.ts';
import { describeMachine, median, recordRun } from './lib/history.ts';
import { createInProcessApi } from './lib/in-process-api.ts';
import { userIdentifiers } from './lib/user-identifiers.ts';

const KiB = 1024;

interface SizeResult {
  readonly users: number;
  readonly batches: number;
  readonly tables: number;
  readonly maxFilesPerPartition: number;
  readonly files: number;
  readonly stagedParts: number;
  readonly sizes: number[];
  readonly seconds: number;
}

async function measure(users: number, batchSize: number): Promise<SizeResult> {
  const root = await mkdtemp(path.join(tmpdir(), 'paylink-files-bench-'));
  try {
    const store = createLocalStore(root);
    // Parts opened before the commit starts are the batches' staged parts; the merge opens the rest.
    const writer = createWorkerPartWriterFactory();
    let stagedParts = 0;
    let committing = false;
    const parts: PartWriterFactory = {
      open: (s, key, columns) => {
        if (!committing) stagedParts += 1;
        return writer.open(s, key, columns);
      },
    };
    const startedAt = new Date();
    const started = performance.now();
    await runLoad(
      {
        loadId: loadIdFromTime(startedAt),
        startedAt,
        users: [...userIdentifiers('paylink', users)].map((identifier) => ({ identifier })),
        resources: selectResources(loaderSettings().catalog),
        batchSize,
        concurrency: DEFAULTS.concurrency,
      },
      {
        api: createInProcessApi('paylink'),
        store,
        parts,
        reader: createParquetPartReader(),
        clock: () => new Date(),
        onCommit: () => {
          committing = true;
        },
      },
    );
    const seconds = (performance.now() - started) / 1000;
    // Data files: <table>/<partition>/<file>.parquet; the lake's own folders start with `_`.
    const keys = (await store.list('')).filter((k) => !k.startsWith('_') && k.endsWith('.parquet'));
    const perPartition = new Map<string, number>();
    for (const key of keys) {
      const partition = path.posix.dirname(key);
      perPartition.set(partition, (perPartition.get(partition) ?? 0) + 1);
    }
    const sizes = await Promise.all(keys.map(async (key) => (await stat(path.join(root, key))).size));
    return {
      users,
      batches: Math.ceil(users / batchSize),
      tables: new Set(keys.map((k) => k.split('/')[0])).size,
      maxFilesPerPartition: Math.max(0, ...perPartition.values()),
      files: keys.length,
      stagedParts,
      sizes,
      seconds,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string' },
      'batch-size': { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-save': { type: 'boolean', default: false },
    },
  });
  const sizes = (values.users ?? (values.quick ? '1000' : '10000')).split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--users must be positive integers');
  const batchSize = Number(values['batch-size'] ?? DEFAULTS.batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`--batch-size must be a positive integer (got "${values['batch-size']}")`);
  const machine = describeMachine();
  const startedAt = new Date();
  const results: SizeResult[] = [];
  for (const users of sizes) {
    const r = await measure(users, batchSize);
    results.push(r);
    console.error(
      `${users} users in ${r.batches} batch(es): ${r.files} files, at most ${r.maxFilesPerPartition} per table partition, ${r.seconds.toFixed(0)} s`,
    );
  }
  const kib = (n: number) => (n / KiB).toFixed(1);
  const table = markdownTable(
    [
      'users',
      'batches',
      'data tables',
      'files',
      'most files in one table partition',
      'parts staged before the merge',
      'median file KiB',
      'smallest - largest KiB',
      'total MiB',
      'load s',
    ],
    results.map((r) => [
      r.users.toLocaleString('en-US'),
      String(r.batches),
      String(r.tables),
      String(r.files),
      String(r.maxFilesPerPartition),
      String(r.stagedParts),
      kib(median(r.sizes)),
      `${kib(Math.min(...r.sizes))} - ${kib(Math.max(...r.sizes))}`,
      (r.sizes.reduce((a, b) => a + b, 0) / KiB / KiB).toFixed(1),
      r.seconds.toFixed(0),
    ]),
  );
  const command = `node --import tsx bench/files-per-table.ts ${process.argv.slice(2).join(' ')}`.trim();
  await recordRun('files-per-table', {
    machine,
    command,
    startedAt,
    notes: [
      `- runLoad in process (in-process simulated API, batch size ${batchSize}${batchSize === DEFAULTS.batchSize ? ' (the default)' : ` (default ${DEFAULTS.batchSize})`}, concurrency ${DEFAULTS.concurrency}, worker-thread writer, merge at commit) into a local lake; one load per size`,
    ],
    table,
    save: !values['no-save'],
  });
}

await main();
