/**
 * V8 heap limits sized from the memory a process may use: a Lambda function's configured
 * memory (the stack writes them into NODE_OPTIONS, infra/constructs/loader-function.ts).
 *
 * Why the stack sets them: without a space flag in NODE_OPTIONS, the Lambda Node.js runtime's
 * bootstrap (/var/runtime/bootstrap) adds `--max-old-space-size` of 90% of the function's memory
 * and `--max-semi-space-size` of 5% of it. Those flags are process-wide: V8 gives them to every
 * isolate, and a flag overrides a worker's `resourceLimits` (nodejs/node#43991, documented in
 * Node's worker_threads API since nodejs/node#43992). load-batch and commit run two isolates
 * (the main thread and the Parquet encoding worker), so each may grow to 90% of the memory and a
 * young generation of 3 x 5% (307 MiB at 2,048 MiB): together they can outgrow the function,
 * which Lambda then ends with Runtime.OutOfMemory, not a JavaScript error.
 *
 * The encoding worker's `resourceLimits` cannot lower that: in Lambda the flags are always set
 * (by the stack, or else by the runtime). The CLI sets no flag, so there the worker gets
 * `resourceLimits` (workerHeapMib).
 *
 * The budget: `reserveFraction` of the memory for what is not V8 heap (Buffers and
 * ArrayBuffers: parquetjs-lite's per-value Buffers, the encoded chunks in flight, the S3
 * multipart upload's part buffers; code, stacks, the runtime), then per isolate a young
 * generation of 3 x `semiSpaceMib` (V8's own 64-bit default semi space: the runtime's 5%
 * would spend 307 MiB per isolate on young objects at 2,048 MiB), and the rest split evenly
 * between the isolates' old spaces.
 */
import { ConfigError } from './errors.ts';

export const HEAP_BUDGET = {
  /** Of the memory, kept for what is not V8 heap (see above). */
  reserveFraction: 0.25,
  /** `--max-semi-space-size` (MiB). V8's young generation holds up to three semi spaces. */
  semiSpaceMib: 16,
  /** An old space below this cannot hold a batch's own structures: refuse the memory setting. */
  minOldSpaceMib: 64,
  /**
   * The CLI's encoding worker, old space (MiB): what each isolate of load-batch gets (2,048 MiB,
   * two isolates; test/infra/stack-heap.test.ts holds them equal). The CLI sets no V8 flag, so
   * the worker's `resourceLimits` hold there; left to V8 the worker's heap grows toward the
   * machine's default limit (4 GiB on the 23.5 GiB bench machine) though what it holds does not.
   */
  cliWorkerOldSpaceMib: 720,
} as const;

export interface HeapLimits {
  /** `--max-old-space-size`, MiB, for every isolate of the process. */
  readonly oldSpaceMib: number;
  /** `--max-semi-space-size`, MiB, for every isolate of the process. */
  readonly semiSpaceMib: number;
}

/**
 * The limits for a process of `memoryMiB` running `isolates` V8 isolates (1: the main thread
 * only; 2: with the encoding worker). Throws a ConfigError when the memory leaves less than
 * HEAP_BUDGET.minOldSpaceMib of old space per isolate.
 */
export function heapLimits(memoryMiB: number, isolates: 1 | 2): HeapLimits {
  if (!Number.isInteger(memoryMiB) || memoryMiB < 1)
    throw new ConfigError('memoryMiB', `must be a positive whole number of MiB (got ${memoryMiB})`);
  const { reserveFraction, semiSpaceMib, minOldSpaceMib } = HEAP_BUDGET;
  const heapsMib = memoryMiB - Math.ceil(memoryMiB * reserveFraction);
  const oldSpaceMib = Math.floor((heapsMib - isolates * 3 * semiSpaceMib) / isolates);
  if (oldSpaceMib < minOldSpaceMib)
    throw new ConfigError(
      'memoryMiB',
      `${memoryMiB} MiB leaves ${oldSpaceMib} MiB of V8 old space per isolate (${isolates} isolate${isolates === 1 ? '' : 's'}); at least ${minOldSpaceMib} MiB is needed`,
    );
  return { oldSpaceMib, semiSpaceMib };
}

/** The limits as Node options (NODE_OPTIONS accepts both flags). */
export function heapNodeOptions(limits: HeapLimits): string[] {
  return [`--max-old-space-size=${limits.oldSpaceMib}`, `--max-semi-space-size=${limits.semiSpaceMib}`];
}

/**
 * The CLI's worker old space from PAYLINK_WORKER_HEAP_MIB, HEAP_BUDGET.cliWorkerOldSpaceMib when
 * unset. A `--max-old-space-size` in NODE_OPTIONS overrides it (Node gives the flag to every thread).
 */
export function workerHeapMib(value: string | undefined): number {
  if (value === undefined || value === '') return HEAP_BUDGET.cliWorkerOldSpaceMib;
  const mib = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(mib) || mib < 16)
    throw new ConfigError(
      'PAYLINK_WORKER_HEAP_MIB',
      `must be a whole number of MiB, at least 16 (got '${value}')`,
    );
  return mib;
}
