/**
 * Peak memory of one batch as the user count grows (issue 11, item 5: 1k vs 30k users in one
 * batch, target <= 1.15x): the write path of normalize-encode (`loadUser` -> `typeRow` ->
 * `TableSinks` -> parquetjs-lite parts in a local store, default part limits), all users in ONE
 * batch, each size in a fresh Node process. The peak is the kernel's maximum resident set size
 * of that process (`process.resourceUsage().maxRSS`), so no sampling can miss it.
 *
 *   node --import tsx bench/batch-memory.ts [--users 1000,30000] [--settings lambda,cli,lambda-runtime,v8-default]
 *        [--heap-mib N] [--semi-mib N] [--worker-heap-mib N] [--wide N] [--writer worker|in-thread]
 *        [--quick] [--no-save]
 *
 * Each size runs with the heap settings the product runs with (`--settings`, default `lambda`:
 * load-batch's NODE_OPTIONS as the stack writes them; see namedSettings): V8 collects lazily and
 * grows its heap toward its limit, so the peak of a long batch depends on the limits as much as
 * on what the batch holds (bench/README.md). `--wide N` adds N fields to every record, to check
 * that the limits hold rows wider than the simulated world's. Results: bench/results/batch-memory.md.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { workerHeapMib } from '#core/heap-budget.ts';
import { FUNCTION_DEFAULTS } from '#infra/constants.ts';
import { markdownTable } from './lib/format.ts';
import { describeMachine, recordRun } from './lib/history.ts';
import { WIDE_VALUE_CHARS } from './lib/in-process-api.ts';

const SELF = fileURLToPath(import.meta.url);
export const PEAK_RATIO_TARGET = 1.15;
const MiB = 1024 * 1024;

interface CaseResult {
  readonly users: number;
  readonly settings: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly peakRssBytes: number;
  readonly baselineRssBytes: number;
  readonly rows: number;
  readonly parts: number;
  readonly seconds: number;
}

/** One run's settings: how the process is started and the worker's limits. */
interface RunSettings {
  /** The label in the table. */
  readonly label: string;
  /** V8 flags of the process (NODE_OPTIONS in Lambda), beyond tsx. */
  readonly v8Flags: readonly string[];
  readonly workerResourceLimits?: {
    readonly maxOldGenerationSizeMb?: number;
    readonly maxYoungGenerationSizeMb?: number;
  };
}

interface ChildSpec {
  readonly users: number;
  readonly writer: 'worker' | 'in-thread';
  readonly wideFields: number;
  readonly workerResourceLimits?: RunSettings['workerResourceLimits'];
}

async function child(spec: ChildSpec): Promise<void> {
  const { runInProcessCase } = await import('./lib/in-process-case.ts');
  const baselineRssBytes = process.memoryUsage().rss;
  const started = performance.now();
  const measured = await runInProcessCase({
    kind: 'write-path',
    users: spec.users,
    seed: 'paylink',
    heapCheckpoints: 0,
    writer: spec.writer,
    wideFields: spec.wideFields,
    ...(spec.workerResourceLimits === undefined ? {} : { workerResourceLimits: spec.workerResourceLimits }),
  });
  process.send!({
    users: spec.users,
    ok: true,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    baselineRssBytes,
    rows: measured.rows,
    parts: measured.parts,
    seconds: (performance.now() - started) / 1000,
  });
}

function inChild(spec: ChildSpec, settings: RunSettings): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const execArgv = ['--import', 'tsx', ...settings.v8Flags];
    const proc = fork(
      SELF,
      ['--child', JSON.stringify({ ...spec, workerResourceLimits: settings.workerResourceLimits })],
      {
        execArgv,
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      },
    );
    let stderr = '';
    proc.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
      process.stderr.write(chunk);
    });
    let reply: Omit<CaseResult, 'settings' | 'error'> | undefined;
    proc.once('message', (m: Omit<CaseResult, 'settings' | 'error'>) => {
      reply = m;
    });
    proc.once('error', reject);
    proc.once('close', (code, signal) =>
      resolve(
        reply === undefined
          ? {
              users: spec.users,
              settings: settings.label,
              ok: false,
              error: failureOf(stderr, code, signal),
              peakRssBytes: 0,
              baselineRssBytes: 0,
              rows: 0,
              parts: 0,
              seconds: 0,
            }
          : { ...reply, settings: settings.label },
      ),
    );
  });
}

/** Why a child gave no figures, in a few words (an out-of-memory names itself). */
function failureOf(stderr: string, code: number | null, signal: NodeJS.Signals | null): string {
  if (/ERR_WORKER_OUT_OF_MEMORY/.test(stderr)) return 'worker out of memory';
  if (/heap out of memory|Reached heap limit/.test(stderr)) return 'main thread out of memory';
  return signal === null ? `exit ${code}` : `signal ${signal}`;
}

/** The Lambda runtime's own heap flags (/var/runtime/bootstrap) when NODE_OPTIONS sets neither. */
function lambdaRuntimeFlags(memoryMiB: number): string[] {
  const newSpace = Math.floor(memoryMiB / 10);
  return [
    `--max-old-space-size=${memoryMiB - newSpace}`,
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
  ];
}

/**
 * The settings a product process runs with:
 * - `lambda`: load-batch as deployed: the NODE_OPTIONS the stack writes for its memory
 *   (lambdaNodeOptions: source maps and the heap limits of lambdas/core/heap-budget.ts; Node
 *   gives the flags to the worker too);
 * - `lambda-runtime`: load-batch before the stack set them: the runtime's bootstrap flags for
 *   its memory (90% old space, 5% semi space, for every isolate);
 * - `cli`: `paylink-loader load`: no V8 flag, the worker's old space capped as the CLI does;
 * - `v8-default`: no flag and no worker cap (what the CLI did before the cap).
 */
function namedSettings(
  name: string,
  lambdaNodeOptions: (handlerFile: string, memoryMiB: number) => string,
): RunSettings {
  const memoryMiB = FUNCTION_DEFAULTS.loadBatch.memoryMiB;
  switch (name) {
    case 'lambda': {
      const flags = lambdaNodeOptions('load-batch.ts', memoryMiB).split(' ');
      return { label: `load-batch ${memoryMiB} MiB: ${flags.join(' ')}`, v8Flags: flags };
    }
    case 'lambda-runtime':
      return {
        label: `load-batch ${memoryMiB} MiB, runtime's flags: ${lambdaRuntimeFlags(memoryMiB).join(' ')}`,
        v8Flags: lambdaRuntimeFlags(memoryMiB),
      };
    case 'cli': {
      const worker = workerHeapMib(process.env.PAYLINK_WORKER_HEAP_MIB);
      return {
        label: `CLI: no V8 flag, worker old space ${worker} MiB`,
        v8Flags: [],
        workerResourceLimits: { maxOldGenerationSizeMb: worker },
      };
    }
    case 'v8-default':
      return { label: 'V8 default, no worker cap', v8Flags: [] };
    default:
      throw new Error(`--settings: unknown '${name}' (lambda, lambda-runtime, cli, v8-default)`);
  }
}

function customSettings(heap?: string, semi?: string, worker?: string): RunSettings {
  const v8Flags = [
    ...(heap ? [`--max-old-space-size=${heap}`] : []),
    ...(semi ? [`--max-semi-space-size=${semi}`] : []),
  ];
  return {
    label: [...v8Flags, ...(worker ? [`worker old ${worker} MiB`] : [])].join(' ') || 'V8 default',
    v8Flags,
    ...(worker ? { workerResourceLimits: { maxOldGenerationSizeMb: Number(worker) } } : {}),
  };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(JSON.parse(process.argv[3]!) as ChildSpec);
  const { values } = parseArgs({
    options: {
      users: { type: 'string' },
      settings: { type: 'string', default: 'lambda' },
      'heap-mib': { type: 'string' },
      'semi-mib': { type: 'string' },
      'worker-heap-mib': { type: 'string' },
      wide: { type: 'string', default: '0' },
      writer: { type: 'string', default: 'worker' },
      quick: { type: 'boolean', default: false },
      'no-save': { type: 'boolean', default: false },
    },
  });
  const sizes = (values.users ?? (values.quick ? '1000,5000' : '1000,30000')).split(',').map(Number);
  const writer = values.writer;
  if (writer !== 'worker' && writer !== 'in-thread') throw new Error('--writer must be worker or in-thread');
  const wideFields = Number(values.wide);
  if (!Number.isInteger(wideFields) || wideFields < 0)
    throw new Error('--wide must be a whole number of fields');
  // Imported here, not at the top: the children run this file too, and must not load aws-cdk-lib.
  const { lambdaNodeOptions } = await import('#infra/constructs/loader-function.ts');
  const runs =
    values.settings === ''
      ? []
      : values.settings.split(',').map((name) => namedSettings(name, lambdaNodeOptions));
  if (
    values['heap-mib'] !== undefined ||
    values['semi-mib'] !== undefined ||
    values['worker-heap-mib'] !== undefined
  )
    runs.push(customSettings(values['heap-mib'], values['semi-mib'], values['worker-heap-mib']));
  const machine = describeMachine();
  const startedAt = new Date();
  const results: CaseResult[] = [];
  for (const settings of runs)
    for (const users of sizes) {
      const r = await inChild({ users, writer, wideFields }, settings);
      results.push(r);
      console.error(
        `${users} users, ${settings.label}: ${r.ok ? `peak RSS ${(r.peakRssBytes / MiB).toFixed(0)} MiB, ${r.seconds.toFixed(0)} s` : `FAILED (${r.error})`}`,
      );
    }
  const rows = results.map((r) => {
    const first = results.find((x) => x.settings === r.settings && x.users === sizes[0]);
    const ratio = first?.ok && r.ok ? r.peakRssBytes / first.peakRssBytes : undefined;
    return [
      r.settings,
      r.users.toLocaleString('en-US'),
      r.ok ? r.rows.toLocaleString('en-US') : '-',
      r.ok ? String(r.parts) : '-',
      r.ok ? (r.baselineRssBytes / MiB).toFixed(0) : '-',
      r.ok ? (r.peakRssBytes / MiB).toFixed(0) : `failed: ${r.error}`,
      ratio === undefined ? '-' : `${ratio.toFixed(2)}x`,
      ratio === undefined || r.users === sizes[0] ? '-' : ratio <= PEAK_RATIO_TARGET ? 'met' : 'NOT met',
      r.ok ? r.seconds.toFixed(0) : '-',
    ];
  });
  const table = markdownTable(
    [
      'heap settings',
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
      `- records: ${wideFields === 0 ? "the simulated world's" : `${wideFields} more fields of ${WIDE_VALUE_CHARS} characters each (--wide)`}`,
    ],
    table,
    save: !values['no-save'],
  });
}

await main();
