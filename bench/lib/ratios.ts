/**
 * Ratios between cases of one run. Absolute figures move with the machine and its load;
 * ratios measured minutes apart on the same machine are what a change should be judged by.
 */
import { DEFAULTS } from '#core/constants.ts';
import type { CaseKind, CaseResult } from './cases.ts';
import { percent, ratio } from './format.ts';

/**
 * Memory is bounded when the largest world's live heap (max after a full GC at the checkpoints,
 * live-heap.ts) is at most this much above the smallest world's.
 */
export const MEMORY_RATIO_MAX = 1.5;
/** Encode should be the bottleneck: normalize+type at least this many times faster. */
export const NORMALIZE_SPEEDUP_MIN = 3;

export interface RatioLine {
  readonly name: string;
  readonly value: number;
  readonly display: string;
  readonly target?: { readonly text: string; readonly met: boolean };
}

export function computeRatios(results: readonly CaseResult[], rotationPartMaxRows: number): RatioLine[] {
  const find = (kind: CaseKind, users: number, partMaxRows?: number) =>
    results.find(
      (r) =>
        r.kind === kind && r.users === users && (partMaxRows === undefined || r.partMaxRows === partMaxRows),
    );
  const sizes = [...new Set(results.filter((r) => r.kind !== 'end-to-end').map((r) => r.users))].sort(
    (a, b) => a - b,
  );
  const small = sizes[0];
  const large = sizes.at(-1);
  const lines: RatioLine[] = [];
  if (small === undefined || large === undefined) return lines;
  const defaultParts = DEFAULTS.parquet.partMaxRows;

  for (const users of sizes) {
    const run = find('write-path', users, defaultParts);
    if (run?.stages === undefined) continue;
    const share = run.stages.encode / run.measuredMs;
    lines.push({
      name: `encode share of write-path time, ${users} users`,
      value: share,
      display: percent(share),
    });
  }

  const normalize = find('normalize-type', large);
  const encode = find('encode-only', large);
  if (normalize && encode) {
    const speedup = normalize.rowsPerSecond / encode.rowsPerSecond;
    lines.push({
      name: `normalize+type rows/s / encode-only rows/s, ${large} users`,
      value: speedup,
      display: ratio(speedup),
      target: { text: `>= ${NORMALIZE_SPEEDUP_MIN}x`, met: speedup >= NORMALIZE_SPEEDUP_MIN },
    });
  }

  if (large > small) {
    const scale = `${large}/${small} users`;
    const pair = (kind: CaseKind, partMaxRows?: number) =>
      [find(kind, small, partMaxRows), find(kind, large, partMaxRows)] as const;
    const writePaths = [
      { name: 'write path, default parts', cases: pair('write-path', defaultParts) },
      {
        name: `write path, parts <= ${rotationPartMaxRows} rows`,
        cases: pair('write-path', rotationPartMaxRows),
      },
    ];
    for (const { name, cases } of writePaths) liveHeapGrowth(lines, scale, name, cases, true);
    // Controls: no sinks (the harness and normalize hold nothing per user), and encode fed in chunks.
    liveHeapGrowth(lines, scale, 'normalize+type only', pair('normalize-type'), false);
    liveHeapGrowth(lines, scale, 'encode only', pair('encode-only'), false);
    for (const { name, cases } of writePaths) peakGrowth(lines, scale, name, cases);

    const [a, b] = pair('write-path', defaultParts);
    if (a && b) {
      const speed = b.rowsPerSecond / a.rowsPerSecond;
      lines.push({ name: `write-path rows/s ${scale}`, value: speed, display: ratio(speed) });
    }
  }

  const e2e = results.find((r) => r.kind === 'end-to-end');
  const inProcess = e2e && find('write-path', e2e.users, defaultParts);
  if (e2e && inProcess) {
    const share = e2e.rowsPerSecond / inProcess.rowsPerSecond;
    lines.push({
      name: `end-to-end rows/s / in-process write-path rows/s, ${e2e.users} users`,
      value: share,
      display: ratio(share),
    });
  }
  return lines;
}

type Pair = readonly [CaseResult | undefined, CaseResult | undefined];

/** Max live heap after GC, largest world over smallest; the bounded-memory target when `target`. */
function liveHeapGrowth(
  lines: RatioLine[],
  scale: string,
  name: string,
  [a, b]: Pair,
  target: boolean,
): void {
  if (a?.liveHeap === undefined || b?.liveHeap === undefined) return;
  const live = b.liveHeap.maxBytes / a.liveHeap.maxBytes;
  lines.push({
    name: `max live heap after GC ${scale}, ${name}`,
    value: live,
    display: ratio(live),
    ...(target ? { target: { text: `<= ${MEMORY_RATIO_MAX}x`, met: live <= MEMORY_RATIO_MAX } } : {}),
  });
  if (!target) return;
  // Stricter view: growth of what the case added over the process's own heap.
  const grown =
    (b.liveHeap.maxBytes - b.liveHeap.baselineBytes) / (a.liveHeap.maxBytes - a.liveHeap.baselineBytes);
  lines.push({ name: `live heap over baseline ${scale}, ${name}`, value: grown, display: ratio(grown) });
  // Outside the V8 heap: Buffer pool slabs pinned by buffered values (README, "Live heap table").
  const external = b.liveHeap.maxExternalBytes / a.liveHeap.maxExternalBytes;
  lines.push({
    name: `max live external after GC ${scale}, ${name}`,
    value: external,
    display: ratio(external),
  });
}

/** Sampled peaks: information only, they mostly show when V8 chose to collect. */
function peakGrowth(lines: RatioLine[], scale: string, name: string, [a, b]: Pair): void {
  if (a === undefined || b === undefined) return;
  const rss = b.memory.peak.rssBytes / a.memory.peak.rssBytes;
  lines.push({ name: `peak RSS ${scale}, ${name}`, value: rss, display: ratio(rss) });
  const heap = b.memory.peak.heapUsedBytes / a.memory.peak.heapUsedBytes;
  lines.push({ name: `peak heap used ${scale}, ${name}`, value: heap, display: ratio(heap) });
}
