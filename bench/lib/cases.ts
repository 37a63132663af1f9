/**
 * What the benchmark runs and what each run reports. A case runs in a child process of its own
 * (run-in-child.ts), so its memory figures are not inflated by an earlier case's heap or RSS.
 */
import type { LiveHeapReport } from './live-heap.ts';
import type { MemoryReport } from './memory-sampler.ts';

export type CaseKind = 'write-path' | 'normalize-type' | 'encode-only' | 'end-to-end';

/** Where an end-to-end case loads from: a simulator the parent process runs. */
export interface SimulatorTarget {
  readonly url: string;
  readonly apiKey: string;
  readonly apiSecret: string;
}

export interface CaseSpec {
  readonly kind: CaseKind;
  readonly users: number;
  readonly seed: string;
  /** Part rotation threshold; undefined: the loader's default (DEFAULTS.parquet.partMaxRows). */
  readonly partMaxRows?: number;
  /** Live-heap checkpoints (a full GC each) spread evenly over the users; 0: none. */
  readonly heapCheckpoints: number;
  /** end-to-end only. */
  readonly simulator?: SimulatorTarget;
  /**
   * The part writer: parquetjs-lite on the main thread (default here: the encode stage's time is
   * then the encoder's) or in a worker thread (what the loader uses: parquet-worker-writer.ts).
   */
  readonly writer?: 'in-thread' | 'worker';
  /** In-process cases: extra string fields per record (in-process-api.ts `wideFields`). */
  readonly wideFields?: number;
  /** Worker writer only: the worker's V8 heap limits (parquet-worker-writer.ts). */
  readonly workerResourceLimits?: {
    readonly maxOldGenerationSizeMb?: number;
    readonly maxYoungGenerationSizeMb?: number;
  };
}

/** Milliseconds per stage of the in-process cases. `source` is the simulated world, not our code. */
export interface StageMs {
  source: number;
  normalize: number;
  type: number;
  encode: number;
}

/** What a case measured itself (the child adds wall time and memory). */
export interface Measured {
  /** Data rows (root and child tables; not `user_loads`). */
  readonly rows: number;
  readonly parts: number;
  readonly parquetBytes: number;
  readonly requests: number;
  /** In-process cases only. */
  readonly stages?: StageMs;
  /** The time the case's rate is computed from (see `measuredMs`); never includes forced GCs. */
  readonly measuredMs: number;
}

export interface CaseResult extends Measured {
  readonly kind: CaseKind;
  readonly label: string;
  readonly users: number;
  readonly partMaxRows: number;
  readonly wallMs: number;
  readonly rowsPerSecond: number;
  readonly usersPerSecond: number;
  readonly memory: MemoryReport;
  /** Undefined when gc() is not exposed or the run asked for no checkpoints. */
  readonly liveHeap: LiveHeapReport | undefined;
  readonly gcExposed: boolean;
}

const LABELS: Readonly<Record<CaseKind, string>> = {
  'write-path': 'write path (normalize+type+encode)',
  'normalize-type': 'normalize+type only',
  'encode-only': 'encode only',
  'end-to-end': 'end-to-end over HTTP (runLoad)',
};

export function caseLabel(spec: Pick<CaseSpec, 'kind' | 'partMaxRows'>): string {
  const base = LABELS[spec.kind];
  return spec.partMaxRows === undefined ? base : `${base}, parts <= ${spec.partMaxRows} rows`;
}

/** The stages a kind's rate is about: the code under test, never the simulated source. */
export function measuredMs(kind: CaseKind, stages: StageMs): number {
  switch (kind) {
    case 'write-path':
      return stages.normalize + stages.type + stages.encode;
    case 'normalize-type':
      return stages.normalize + stages.type;
    case 'encode-only':
      return stages.encode;
    case 'end-to-end':
      throw new RangeError('end-to-end cases are measured by wall time');
  }
}
