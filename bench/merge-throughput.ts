/**
 * Merge throughput (issue 11, item 1): how fast one invocation merges a table partition's staged
 * parts, the figure behind the commit's fan-out decision (lambdas/core/merge-fan-out.ts,
 * MERGE_THROUGHPUT). The local load path stages a load (runLoad in process against the simulated
 * world, bench/lib/in-process-api.ts) and stops before its commit; the commit then hands every
 * merge off (a budget of 0), and each handed-off partition is merged alone, one after another, as
 * the Map's items do, with the loader's own reader (hyparquet) and writer (parquetjs-lite in a
 * worker thread, as deployed). Then the same merges run again through the commit (mergeParts,
 * 4 partitions at once) on a second copy of the staging.
 *
 *   node --import tsx bench/merge-throughput.ts [--users 2000] [--batch-size 100] [--no-save]
 *   node --import tsx bench/merge-throughput.ts --rss [--users 1000,2500,5000,10000] [--batches 20] [--wide-fields 40]
 *
 * Figures: staged rows and bytes merged, seconds, rows/s and MB/s (10^6 bytes of staged
 * Parquet), for all partitions together and for the slowest partition per row.
 * Results: bench/results/merge-throughput.md.
 *
 * `--rss`: the commit's memory instead of its rate. The load is staged twice (the world's narrow
 * rows, then every record with `--wide-fields` more 64-character fields), and each staging is
 * committed by a child process started with the commit Lambda's NODE_OPTIONS (lambdaNodeOptions:
 * the heap limits of lambdas/core/heap-budget.ts for its memory; Node gives them to the encoding
 * worker too) and the Lambda's worker writer, merging 4 partitions at once as the commit does.
 * The child's peak RSS is the kernel's high-water mark (`process.resourceUsage().maxRSS`), so no
 * sampling can miss it; staging runs in this process and is not counted. Each user count (a
 * comma-separated list) is staged in `--batches` batches. The child also reports the merged files'
 * row groups (rows each: those that closed before their file's last), so a change to the row
 * group rule shows what Athena will read.
 *
 * Pass (exit 1 otherwise): every commit, narrow and wide, completes, and its peak RSS stays within
 * RSS_PASS_FRACTION of the commit Lambda's memory.
 */
import { fork } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parquetMetadata } from 'hyparquet';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createWorkerPartWriterFactory } from '#adapters/parquet-worker-writer.ts';
import { commitOrHandOff } from '#core/commit.ts';
import { loaderSettings, selectResources } from '#core/config.ts';
import { DEFAULTS } from '#core/constants.ts';
import { loadIdFromTime, mergeItemsKey, mergeTaskKey } from '#core/layout.ts';
import { type MergeItem, mergeTask } from '#core/merge-fan-out.ts';
import type { MergedGroup } from '#core/merge-parts.ts';
import type { ObjectStore } from '#core/ports.ts';
import { runLoad } from '#core/run-load.ts';
import { readJson } from '#core/store-json.ts';
import { FUNCTION_DEFAULTS } from '#infra/constants.ts';
import { markdownTable } from './lib/format.ts';
import { describeMachine, recordRun } from './lib/history.ts';
import { createInProcessApi } from './lib/in-process-api.ts';
import { userIdentifiers } from './lib/user-identifiers.ts';

class StopBeforeCommit extends Error {}

interface Figures {
  readonly how: string;
  readonly partitions: number;
  readonly rows: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly slowest?: { table: string; rowsPerSecond: number; bytesPerSecond: number };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--rss-child') return rssChild(process.argv[3]!, process.argv[4]!);
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '2000' },
      'batch-size': { type: 'string', default: '100' },
      rss: { type: 'boolean', default: false },
      batches: { type: 'string', default: '20' },
      'wide-fields': { type: 'string', default: '40' },
      'no-save': { type: 'boolean', default: false },
    },
  });
  if (values.rss) {
    const counts = values.users.split(',').map(Number);
    const batches = Number(values.batches);
    if (counts.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(batches) || batches < 1)
      throw new Error('--users must be positive integers (comma-separated) and --batches a positive integer');
    return rssMain(counts, batches, Number(values['wide-fields']), !values['no-save']);
  }
  const users = Number(values.users);
  const batchSize = Number(values['batch-size']);
  if (!Number.isInteger(users) || users < 1 || !Number.isInteger(batchSize) || batchSize < 1)
    throw new Error('--users and --batch-size must be positive integers');
  const machine = describeMachine();
  const startedAt = new Date();
  const root = await mkdtemp(path.join(tmpdir(), 'paylink-merge-bench-'));
  const parts = createWorkerPartWriterFactory();
  const reader = createParquetPartReader();
  const clock = () => new Date();
  try {
    const lakeA = path.join(root, 'a');
    const store = createLocalStore(lakeA);
    const { loadId, seconds: stagedSeconds } = await stage(lakeA, users, batchSize, 0, startedAt);
    console.error(`staged ${users} users in ${stagedSeconds.toFixed(0)} s`);
    const lakeB = path.join(root, 'b');
    await cp(lakeA, lakeB, { recursive: true });

    // The Map's way: the commit hands every merge off, each partition merged alone.
    const outcome = await commitOrHandOff(loadId, {
      store,
      parts,
      reader,
      clock,
      mergeFanOut: { remainingSeconds: () => 900, maxMergeSeconds: 0 },
    });
    if (!('handedOff' in outcome)) throw new Error('the commit did not hand its merge off');
    const items = (await readJson<MergeItem[]>(store, mergeItemsKey(loadId)))!;
    const sizes = await Promise.all(items.map((item) => taskSize(store, item)));
    const tasks: {
      group: Awaited<ReturnType<typeof mergeTask>>;
      rows: number;
      bytes: number;
      seconds: number;
    }[] = [];
    const mapStarted = performance.now();
    for (const [i, item] of items.entries()) {
      const started = performance.now();
      const group = await mergeTask(item, { store, parts, reader });
      tasks.push({ group, ...sizes[i]!, seconds: (performance.now() - started) / 1000 });
    }
    const mapSeconds = (performance.now() - mapStarted) / 1000;
    const slowest = [...tasks]
      .filter((t) => t.rows >= 1000)
      .sort((a, b) => a.rows / a.seconds - b.rows / b.seconds)[0];
    const mapFigures: Figures = {
      how: 'one partition at a time (a Map item each)',
      partitions: tasks.length,
      rows: tasks.reduce((n, t) => n + t.rows, 0),
      bytes: tasks.reduce((n, t) => n + t.bytes, 0),
      seconds: mapSeconds,
      ...(slowest === undefined
        ? {}
        : {
            slowest: {
              table: slowest.group.table,
              rowsPerSecond: slowest.rows / slowest.seconds,
              bytesPerSecond: slowest.bytes / slowest.seconds,
            },
          }),
    };

    // The commit's way: mergeParts inside one commit, 4 partitions at once.
    const storeB = createLocalStore(lakeB);
    let commitMerge: readonly MergedGroup[] = [];
    const commitStarted = performance.now();
    let mergedAt = 0;
    await commitOrHandOff(loadId, {
      store: storeB,
      parts,
      reader,
      clock,
      onMerged: (groups) => {
        commitMerge = groups;
        mergedAt = performance.now();
      },
    });
    const commitFigures: Figures = {
      how: 'inside the commit (settle + merge, 4 partitions at once)',
      partitions: commitMerge.length,
      rows: mapFigures.rows,
      bytes: mapFigures.bytes,
      seconds: (mergedAt - commitStarted) / 1000,
    };

    const mb = (bytes: number) => (bytes / 1e6).toFixed(2);
    const table = markdownTable(
      [
        'merged',
        'partitions',
        'staged rows',
        'staged MB',
        'seconds',
        'rows/s',
        'MB/s',
        'slowest partition (rows/s, MB/s)',
      ],
      [mapFigures, commitFigures].map((f) => [
        f.how,
        String(f.partitions),
        f.rows.toLocaleString('en-US'),
        mb(f.bytes),
        f.seconds.toFixed(1),
        Math.round(f.rows / f.seconds).toLocaleString('en-US'),
        mb(f.bytes / f.seconds),
        f.slowest === undefined
          ? '-'
          : `${f.slowest.table}: ${Math.round(f.slowest.rowsPerSecond).toLocaleString('en-US')}, ${mb(f.slowest.bytesPerSecond)}`,
      ]),
    );
    const command = `node --import tsx bench/merge-throughput.ts ${process.argv.slice(2).join(' ')}`.trim();
    await recordRun('merge-throughput', {
      machine,
      command,
      startedAt,
      notes: [
        `- ${users} users staged by runLoad in process (in-process simulated API, batch size ${batchSize}), stopped before the commit; worker-thread parquetjs-lite writer, hyparquet reader, local lake`,
        '- the commit row: from the commit call to the end of its merge (it settles the schema first, so it is a lower bound of the merge rate)',
      ],
      table,
      save: !values['no-save'],
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** A handed-off partition's staged rows and bytes, from its task document. */
async function taskSize(store: ObjectStore, item: MergeItem): Promise<{ rows: number; bytes: number }> {
  const task = await readJson<{ inputs: { rows: number; bytes: number }[] }>(
    store,
    mergeTaskKey(item.loadId, item.table, item.dt, item.slice),
  );
  return {
    rows: task?.inputs.reduce((n, f) => n + f.rows, 0) ?? 0,
    bytes: task?.inputs.reduce((n, f) => n + f.bytes, 0) ?? 0,
  };
}

const SELF = fileURLToPath(import.meta.url);

/** Stages `users` in batches of `batchSize` into a new local lake and stops before the commit. */
async function stage(
  dest: string,
  users: number,
  batchSize: number,
  wideFields: number,
  startedAt: Date,
): Promise<{ loadId: string; seconds: number }> {
  const loadId = loadIdFromTime(startedAt);
  const started = performance.now();
  await runLoad(
    {
      loadId,
      startedAt,
      users: [...userIdentifiers('paylink', users)].map((identifier) => ({ identifier })),
      resources: selectResources(loaderSettings().catalog),
      batchSize,
      concurrency: DEFAULTS.concurrency,
    },
    {
      api: createInProcessApi('paylink', { wideFields }),
      store: createLocalStore(dest),
      parts: createWorkerPartWriterFactory(),
      reader: createParquetPartReader(),
      clock: () => new Date(),
      onCommit: () => {
        throw new StopBeforeCommit();
      },
    },
  ).catch((error: unknown) => {
    if (!(error instanceof StopBeforeCommit)) throw error;
  });
  return { loadId, seconds: (performance.now() - started) / 1000 };
}

interface RssReply {
  readonly peakRssBytes: number;
  readonly baselineRssBytes: number;
  readonly partitions: number;
  readonly parts: number;
  readonly seconds: number;
  readonly rowGroups: RowGroupStats;
}

/** Rows per row group of the lake's data files, those before each file's last (which is a rest). */
interface RowGroupStats {
  readonly files: number;
  readonly full: number;
  readonly minRows: number;
  readonly medianRows: number;
  readonly maxRows: number;
}

/** A commit's peak RSS may use this share of the commit Lambda's memory, at most. */
const RSS_PASS_FRACTION = 0.75;

async function rowGroupStats(store: ObjectStore): Promise<RowGroupStats> {
  const keys = (await store.list('')).filter((k) => k.endsWith('.parquet') && !k.startsWith('_'));
  const rows: number[] = [];
  for (const key of keys) {
    const bytes = (await store.get(key))!;
    const meta = parquetMetadata(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    );
    for (const group of meta.row_groups.slice(0, -1)) rows.push(Number(group.num_rows));
  }
  rows.sort((a, b) => a - b);
  return {
    files: keys.length,
    full: rows.length,
    minRows: rows[0] ?? 0,
    medianRows: rows[Math.floor(rows.length / 2)] ?? 0,
    maxRows: rows.at(-1) ?? 0,
  };
}

/** The child: commits the staged load as the commit Lambda does, and reports its peak RSS. */
async function rssChild(dest: string, loadId: string): Promise<void> {
  const baselineRssBytes = process.memoryUsage().rss;
  const started = performance.now();
  let merged: readonly MergedGroup[] = [];
  const store = createLocalStore(dest);
  const outcome = await commitOrHandOff(loadId, {
    store,
    parts: createWorkerPartWriterFactory(),
    reader: createParquetPartReader(),
    clock: () => new Date(),
    onMerged: (groups) => {
      merged = groups;
    },
  });
  if ('handedOff' in outcome) throw new Error('the commit handed its merge off');
  const seconds = (performance.now() - started) / 1000;
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const reply: RssReply = {
    peakRssBytes,
    baselineRssBytes,
    partitions: merged.length,
    parts: merged.reduce((n, g) => n + g.inputs, 0),
    seconds,
    rowGroups: await rowGroupStats(store),
  };
  process.send!(reply);
}

function commitInChild(
  dest: string,
  loadId: string,
  v8Flags: readonly string[],
): Promise<RssReply | { error: string }> {
  return new Promise((resolve, reject) => {
    const proc = fork(SELF, ['--rss-child', dest, loadId], {
      execArgv: ['--import', 'tsx', ...v8Flags],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    proc.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
      process.stderr.write(chunk);
    });
    let reply: RssReply | undefined;
    proc.once('message', (m: RssReply) => {
      reply = m;
    });
    proc.once('error', reject);
    proc.once('close', (code, signal) => {
      if (reply !== undefined) return resolve(reply);
      // An out-of-memory names itself: that is the figure, not a bench failure.
      if (/ERR_WORKER_OUT_OF_MEMORY/.test(stderr)) return resolve({ error: 'worker out of memory' });
      if (/heap out of memory|Reached heap limit/.test(stderr))
        return resolve({ error: 'main thread out of memory' });
      resolve({ error: signal === null ? `exit ${code}` : `signal ${signal}` });
    });
  });
}

async function rssMain(
  counts: readonly number[],
  batches: number,
  wideFields: number,
  save: boolean,
): Promise<void> {
  if (!Number.isInteger(wideFields) || wideFields < 1)
    throw new Error('--wide-fields must be a positive integer');
  const { lambdaNodeOptions } = await import('#infra/constructs/loader-function.ts');
  const memoryMiB = FUNCTION_DEFAULTS.commit.memoryMiB;
  const v8Flags = lambdaNodeOptions('commit.ts', memoryMiB).split(' ');
  const limitBytes = memoryMiB * 2 ** 20 * RSS_PASS_FRACTION;
  const machine = describeMachine();
  const startedAt = new Date();
  const root = await mkdtemp(path.join(tmpdir(), 'paylink-merge-rss-'));
  const rows: string[][] = [];
  const failures: string[] = [];
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  try {
    for (const users of counts) {
      const batchSize = Math.ceil(users / batches);
      for (const wide of [0, wideFields]) {
        const dest = path.join(root, `u${users}-w${wide}`);
        const staged = await stage(dest, users, batchSize, wide, new Date());
        console.error(
          `staged ${users} users (wide fields ${wide}) in ${staged.seconds.toFixed(0)} s; committing`,
        );
        const r = await commitInChild(dest, staged.loadId, v8Flags);
        const label = wide === 0 ? 'narrow' : `wide (+${wide} x 64 chars)`;
        const users_ = users.toLocaleString('en-US');
        if ('error' in r) failures.push(`${users_} users, ${label}: ${r.error}`);
        else if (r.peakRssBytes > limitBytes)
          failures.push(
            `${users_} users, ${label}: peak RSS ${mib(r.peakRssBytes)} MiB over ${mib(limitBytes)}`,
          );
        rows.push(
          'error' in r
            ? [users_, label, '-', '-', `failed: ${r.error}`, '-', '-', '-']
            : [
                users_,
                label,
                String(r.partitions),
                r.parts.toLocaleString('en-US'),
                mib(r.peakRssBytes),
                mib(r.baselineRssBytes),
                r.rowGroups.full === 0
                  ? `- (${r.rowGroups.files} files of one row group)`
                  : `${r.rowGroups.full}: ${r.rowGroups.minRows.toLocaleString('en-US')} / ${r.rowGroups.medianRows.toLocaleString('en-US')} / ${r.rowGroups.maxRows.toLocaleString('en-US')}`,
                r.seconds.toFixed(1),
              ],
        );
        console.error(rows.at(-1)!.join(' | '));
        await rm(dest, { recursive: true, force: true });
      }
    }
    const table = markdownTable(
      [
        'users',
        'rows',
        'partitions merged',
        'staged parts merged',
        'peak RSS MiB',
        'RSS at start MiB',
        "row groups before each file's last: count: min / median / max rows",
        'commit seconds',
      ],
      rows,
    );
    const command = `node --import tsx bench/merge-throughput.ts ${process.argv.slice(2).join(' ')}`.trim();
    await recordRun('merge-throughput', {
      machine,
      command,
      startedAt,
      notes: [
        `- commit memory: each user count staged in ${batches} batches (in-process simulated API, every default resource), stopped before the commit; the commit then runs in a child process with the commit Lambda's NODE_OPTIONS for ${memoryMiB} MiB (\`${v8Flags.join(' ')}\`), the worker-thread writer and the hyparquet reader, merging 4 partitions at once; peak RSS is the child's maxRSS (main thread and encoding worker together)`,
        `- pass: every commit completes with a peak RSS within ${RSS_PASS_FRACTION * 100}% of ${memoryMiB} MiB (${mib(limitBytes)} MiB): ${failures.length === 0 ? 'passed' : `**failed**: ${failures.join('; ')}`}`,
      ],
      table,
      save,
    });
    if (failures.length > 0) {
      console.error(`merge-throughput --rss failed: ${failures.join('; ')}`);
      process.exitCode = 1;
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
