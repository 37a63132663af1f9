/**
 * Peak memory of one batch as the user count grows (issue 11, item 5: 1k vs 30k users in one
 * batch, target <= 1.15x): the write path of normalize-encode (`loadUser` -> `typeRow` ->
 * `TableSinks` -> parquetjs-lite parts in a local store, default part limits), all users in ONE
 * batch, each size in a fresh Node process. The peak is the kernel's maximum resident set size
 * of that process (`process.resourceUsage().maxRSS`), so no sampling can miss it.
 *
 *   node --import tsx bench/batch-memory.ts [--users 1000,30000] [--heap-mib 0,256] [--writer worker|in-thread]
 *        [--quick] [--no-save]
 *
 * Each size runs with V8's default heap sizing (heap-mib 0) and with `--max-old-space-size`
 * capped (256 MiB: half a 512 MiB Lambda): V8 collects lazily and grows its heap while the
 * machine has memory to spare, so an uncapped peak grows with the length of a run even when
 * what the run holds does not (bench/README.md, normalize-encode "Peak memory"); the capped run
 * shows whether the batch fits a fixed size whatever its users. Results: bench/results/batch-memory.md.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { markdownTable } from './lib/format.ts';
import { describeMachine, recordRun } from './lib/history.ts';

const SELF = fileURLToPath(import.meta.url);
export const PEAK_RATIO_TARGET = 1.15;
const MiB = 1024 * 1024;

interface CaseResult {
  readonly users: number;
  readonly heapMib: number;
  readonly ok: boolean;
  readonly peakRssBytes: number;
  readonly baselineRssBytes: number;
  readonly rows: number;
  readonly parts: number;
  readonly seconds: number;
}

async function child(users: number): Promise<void> {
  const { runInProcessCase } = await import('./lib/in-process-case.ts');
  const baselineRssBytes = process.memoryUsage().rss;
  const started = performance.now();
  const measured = await runInProcessCase({
    kind: 'write-path',
    users,
    seed: 'paylink',
    heapCheckpoints: 0,
    writer: process.argv[4] === 'in-thread' ? 'in-thread' : 'worker',
  });
  process.send!({
    users,
    ok: true,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    baselineRssBytes,
    rows: measured.rows,
    parts: measured.parts,
    seconds: (performance.now() - started) / 1000,
  });
}

function inChild(users: number, heapMib: number, writer: string): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const execArgv = ['--import', 'tsx', ...(heapMib > 0 ? [`--max-old-space-size=${heapMib}`] : [])];
    const proc = fork(SELF, ['--child', String(users), writer], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let reply: Omit<CaseResult, 'heapMib'> | undefined;
    proc.once('message', (m: Omit<CaseResult, 'heapMib'>) => {
      reply = m;
    });
    proc.once('error', reject);
    proc.once('close', () =>
      resolve(
        reply === undefined
          ? { users, heapMib, ok: false, peakRssBytes: 0, baselineRssBytes: 0, rows: 0, parts: 0, seconds: 0 }
          : { ...reply, heapMib },
      ),
    );
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(Number(process.argv[3]));
  const { values } = parseArgs({
    options: {
      users: { type: 'string' },
      'heap-mib': { type: 'string', default: '0,256' },
      writer: { type: 'string', default: 'worker' },
      quick: { type: 'boolean', default: false },
      'no-save': { type: 'boolean', default: false },
    },
  });
  const sizes = (values.users ?? (values.quick ? '1000,5000' : '1000,30000')).split(',').map(Number);
  const heaps = values['heap-mib'].split(',').map(Number);
  const writer = values.writer;
  if (writer !== 'worker' && writer !== 'in-thread') throw new Error('--writer must be worker or in-thread');
  const machine = describeMachine();
  const startedAt = new Date();
  const results: CaseResult[] = [];
  for (const heapMib of heaps)
    for (const users of sizes) {
      const r = await inChild(users, heapMib, writer);
      results.push(r);
      console.error(
        `${users} users, heap ${heapMib || 'default'}: ${r.ok ? `peak RSS ${(r.peakRssBytes / MiB).toFixed(0)} MiB, ${r.seconds.toFixed(0)} s` : 'FAILED (out of memory?)'}`,
      );
    }
  const rows = results.map((r) => {
    const first = results.find((x) => x.heapMib === r.heapMib && x.users === sizes[0]);
    const ratio = first?.ok && r.ok ? r.peakRssBytes / first.peakRssBytes : undefined;
    return [
      r.heapMib ? `${r.heapMib} MiB` : 'default',
      r.users.toLocaleString('en-US'),
      r.ok ? r.rows.toLocaleString('en-US') : '-',
      r.ok ? String(r.parts) : '-',
      r.ok ? (r.baselineRssBytes / MiB).toFixed(0) : '-',
      r.ok ? (r.peakRssBytes / MiB).toFixed(0) : 'failed',
      ratio === undefined ? '-' : `${ratio.toFixed(2)}x`,
      ratio === undefined || r.users === sizes[0] ? '-' : ratio <= PEAK_RATIO_TARGET ? 'met' : 'NOT met',
      r.ok ? r.seconds.toFixed(0) : '-',
    ];
  });
  const table = markdownTable(
    [
      'V8 old space',
      'users in the batch',
      'rows',
      'parts',
      'RSS at start MiB',
      'peak RSS MiB',
      `vs ${sizes[0]!.toLocaleString('en-US')} users`,
      `<= ${PEAK_RATIO_TARGET}x`,
      'seconds',
    ],
    rows,
  );
  const command = `node --import tsx bench/batch-memory.ts ${process.argv.slice(2).join(' ')}`.trim();
  await recordRun('batch-memory', {
    machine,
    command,
    startedAt,
    notes: [
      `- write path (normalize + type + parquetjs-lite parts, default limits, writer: ${writer === 'worker' ? 'worker thread, as the loader' : 'main thread'}) with every user in one batch, one fresh process per row; peak = kernel maxRSS (all threads)`,
    ],
    table,
    save: !values['no-save'],
  });
}

await main();
