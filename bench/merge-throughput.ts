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
 *
 * Figures: staged rows and bytes merged, seconds, rows/s and MB/s (10^6 bytes of staged
 * Parquet), for all partitions together and for the slowest partition per row.
 * Results: bench/results/merge-throughput.md.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
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
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '2000' },
      'batch-size': { type: 'string', default: '100' },
      'no-save': { type: 'boolean', default: false },
    },
  });
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
    const loadId = loadIdFromTime(startedAt);
    const staging = performance.now();
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
        api: createInProcessApi('paylink'),
        store,
        parts,
        reader,
        clock,
        onCommit: () => {
          throw new StopBeforeCommit();
        },
      },
    ).catch((error: unknown) => {
      if (!(error instanceof StopBeforeCommit)) throw error;
    });
    console.error(`staged ${users} users in ${((performance.now() - staging) / 1000).toFixed(0)} s`);
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

await main();
