/** The run as Markdown: printed on stdout and appended to bench/results/normalize-encode.md. */
import { DEFAULTS } from '#core/constants.ts';
import type { CaseResult } from './cases.ts';
import { gibibytes, integer, markdownTable, mebibytes, NONE, percent, seconds } from './format.ts';
import type { MachineInfo } from './machine.ts';
import type { RatioLine } from './ratios.ts';

export interface BenchRun {
  readonly date: string;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly settings: {
    readonly seed: string;
    readonly resources: readonly string[];
    readonly rowGroupRows: number;
    readonly bufferedRowsBudget: number;
    readonly minRowGroupRows: number;
    readonly defaultPartMaxRows: number;
    readonly rotationPartMaxRows: number;
    readonly heapCheckpoints: number;
    readonly endToEnd: {
      readonly users: number;
      readonly concurrency: number;
      readonly batchSize: number;
      readonly rateLimit: number;
    };
  };
  readonly totalMs: number;
  readonly cases: readonly CaseResult[];
  readonly ratios: readonly RatioLine[];
}

export function renderRun(run: BenchRun): string {
  const { machine, settings } = run;
  const inProcess = run.cases.filter((c) => c.kind !== 'end-to-end');
  const endToEnd = run.cases.filter((c) => c.kind === 'end-to-end');
  const parts = [
    `## ${run.date}`,
    [
      `- Machine: ${machine.os}, ${machine.cpuModel}, ${machine.cores} cores, ${gibibytes(machine.totalMemoryBytes)} RAM, Node ${machine.node}${machine.revision ? `, HEAD ${machine.revision}` : ''}; load average ${machine.loadAverage.toFixed(2)} at start`,
      `- Command: \`${run.command}\``,
      `- Seed \`${settings.seed}\`; resources ${settings.resources.join(', ')}; row groups of at most ${integer(settings.rowGroupRows)} rows sharing a budget of ${integer(settings.bufferedRowsBudget)} buffered rows across open parts (never below ${integer(settings.minRowGroupRows)}); parts rotate at ${integer(settings.defaultPartMaxRows)} rows (default) or ${integer(settings.rotationPartMaxRows)} rows (rotation cases)`,
      `- Total time ${seconds(run.totalMs)} s; every case in a fresh Node process${run.cases.every((c) => c.gcExposed) ? ', GC before each' : ' (gc() unavailable: run with --expose-gc)'}; ${liveHeapSetting(run)}`,
    ].join('\n'),
    '### Throughput (in-process: no HTTP; "source" is simulated data generation, excluded from rates)',
    throughputTable(inProcess),
  ];
  const live = run.cases.filter((c) => c.liveHeap !== undefined);
  if (live.length > 0) {
    parts.push(
      '### Live heap (heapUsed after a full GC at each checkpoint; baseline = after GC, before the case)',
      liveHeapTable(live),
      '### Live heap at each checkpoint (users done: MiB)',
      liveHeapCurves(live),
    );
  }
  parts.push(
    '### Peak memory (sampled every 20 ms, garbage included; baseline = the process after GC, before the case)',
    memoryTable(run.cases),
  );
  if (endToEnd.length > 0) {
    parts.push(
      `### End-to-end over loopback HTTP (runLoad, concurrency ${settings.endToEnd.concurrency}, batches of ${settings.endToEnd.batchSize}, client limit ${integer(settings.endToEnd.rateLimit)} req/s; load s = wall time minus the checkpoints' forced GCs)`,
      endToEndTable(endToEnd),
    );
  }
  parts.push('### Ratios (same run)', ratioList(run.ratios));
  return `${parts.join('\n\n')}\n`;
}

function throughputTable(cases: readonly CaseResult[]): string {
  const stage = (c: CaseResult, name: 'normalize' | 'type' | 'encode') => {
    const counted =
      c.kind === 'write-path' ||
      (c.kind === 'normalize-type' && name !== 'encode') ||
      (c.kind === 'encode-only' && name === 'encode');
    return counted && c.stages ? seconds(c.stages[name]) : NONE;
  };
  return markdownTable(
    [
      'case',
      'users',
      'rows',
      'rows/s',
      'measured s',
      'normalize s',
      'type s',
      'encode s',
      'encode share',
      'source s',
    ],
    cases.map((c) => [
      c.label,
      integer(c.users),
      integer(c.rows),
      integer(c.rowsPerSecond),
      seconds(c.measuredMs),
      stage(c, 'normalize'),
      stage(c, 'type'),
      stage(c, 'encode'),
      c.kind === 'write-path' && c.stages ? percent(c.stages.encode / c.measuredMs) : NONE,
      c.stages ? seconds(c.stages.source) : NONE,
    ]),
  );
}

function liveHeapSetting(run: BenchRun): string {
  const n = run.settings.heapCheckpoints;
  if (n === 0) return 'no live-heap checkpoints (--heap-checkpoints 0)';
  if (!run.cases.every((c) => c.gcExposed)) return 'no live heap (needs gc())';
  return `live heap: a full GC at ${n} checkpoints per case (every ${percent(1 / n)} of users), outside every timed stage`;
}

function liveHeapTable(cases: readonly CaseResult[]): string {
  return markdownTable(
    [
      'case',
      'users',
      'checkpoints',
      'baseline heap',
      'max live heap',
      'over baseline',
      'max at user',
      'max live external',
      'forced GC s',
    ],
    cases.map((c) => {
      const live = c.liveHeap!;
      return [
        c.label,
        integer(c.users),
        integer(live.points.length),
        mebibytes(live.baselineBytes),
        mebibytes(live.maxBytes),
        mebibytes(live.maxBytes - live.baselineBytes),
        integer(live.maxAtUsers),
        mebibytes(live.maxExternalBytes),
        seconds(live.gcMs),
      ];
    }),
  );
}

function liveHeapCurves(cases: readonly CaseResult[]): string {
  const mib = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);
  return cases
    .map((c) => {
      const points = c.liveHeap!.points.map((p) => `${integer(p.users)}: ${mib(p.heapUsedBytes)}`).join(', ');
      return `- ${c.label}, ${integer(c.users)} users: ${points}`;
    })
    .join('\n');
}

function memoryTable(cases: readonly CaseResult[]): string {
  return markdownTable(
    ['case', 'users', 'parts', 'Parquet', 'baseline RSS', 'peak RSS', 'RSS over baseline', 'peak heap used'],
    cases.map((c) => [
      c.label,
      integer(c.users),
      c.kind === 'normalize-type' ? NONE : integer(c.parts),
      c.kind === 'normalize-type' ? NONE : mebibytes(c.parquetBytes),
      mebibytes(c.memory.baseline.rssBytes),
      mebibytes(c.memory.peak.rssBytes),
      mebibytes(c.memory.peak.rssBytes - c.memory.baseline.rssBytes),
      mebibytes(c.memory.peak.heapUsedBytes),
    ]),
  );
}

function endToEndTable(cases: readonly CaseResult[]): string {
  return markdownTable(
    [
      'case',
      'users',
      'requests',
      'rows',
      'load s',
      'users/s',
      'requests/s',
      'rows/s',
      'max live heap',
      'peak RSS',
    ],
    cases.map((c) => [
      c.label,
      integer(c.users),
      integer(c.requests),
      integer(c.rows),
      seconds(c.measuredMs),
      integer(c.usersPerSecond),
      integer(c.requests / (c.measuredMs / 1000)),
      integer(c.rowsPerSecond),
      c.liveHeap ? mebibytes(c.liveHeap.maxBytes) : NONE,
      mebibytes(c.memory.peak.rssBytes),
    ]),
  );
}

function ratioList(ratios: readonly RatioLine[]): string {
  if (ratios.length === 0) return '(needs at least one size with every case)';
  return ratios
    .map(
      (r) =>
        `- ${r.name}: **${r.display}**${r.target ? ` (target ${r.target.text}: ${r.target.met ? 'met' : 'NOT met'})` : ''}`,
    )
    .join('\n');
}

/** Settings block of a run, from the loader's own defaults. */
export function defaultSettings(): Pick<
  BenchRun['settings'],
  'rowGroupRows' | 'bufferedRowsBudget' | 'minRowGroupRows' | 'defaultPartMaxRows'
> {
  const { rowGroupRows, bufferedRowsBudget, minRowGroupRows, partMaxRows } = DEFAULTS.parquet;
  return { rowGroupRows, bufferedRowsBudget, minRowGroupRows, defaultPartMaxRows: partMaxRows };
}
