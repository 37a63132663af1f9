/**
 * Child-process entry: receives one CaseSpec over IPC, runs it between a GC and a final memory
 * sample, with live-heap checkpoints along the way, replies with its CaseResult (or an error
 * message) and exits. run-in-child.ts starts it with --expose-gc.
 */
import { performance } from 'node:perf_hooks';
import { DEFAULTS } from '#core/constants.ts';
import { type CaseResult, type CaseSpec, caseLabel, type Measured } from './cases.ts';
import { runEndToEndCase } from './end-to-end-case.ts';
import { runInProcessCase } from './in-process-case.ts';
import { LiveHeapProbe } from './live-heap.ts';
import { collectGarbage, MemorySampler } from './memory-sampler.ts';

export type ChildReply =
  | { readonly ok: true; readonly result: CaseResult }
  | { readonly ok: false; readonly error: string };

async function runCase(spec: CaseSpec): Promise<CaseResult> {
  const gcExposed = collectGarbage();
  const probe = LiveHeapProbe.start(spec.users, spec.heapCheckpoints);
  const sampler = new MemorySampler();
  const started = performance.now();
  const measured: Measured =
    spec.kind === 'end-to-end' ? await runEndToEndCase(spec, probe) : await runInProcessCase(spec, probe);
  const wallMs = performance.now() - started;
  const memory = sampler.stop();
  const seconds = measured.measuredMs / 1000;
  return {
    ...measured,
    kind: spec.kind,
    label: caseLabel(spec),
    users: spec.users,
    partMaxRows: spec.partMaxRows ?? DEFAULTS.parquet.partMaxRows,
    wallMs,
    rowsPerSecond: measured.rows / seconds,
    usersPerSecond: spec.users / seconds,
    memory,
    liveHeap: probe?.report(),
    gcExposed,
  };
}

/** Exits once the reply is out: an idle keep-alive socket must not hold the process open. */
function reply(message: ChildReply): void {
  process.send?.(message, undefined, undefined, () => process.exit(message.ok ? 0 : 1));
}

process.once('message', (spec: CaseSpec) => {
  runCase(spec).then(
    (result) => reply({ ok: true, result }),
    (error: unknown) =>
      reply({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
