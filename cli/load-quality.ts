/**
 * `status --load-id <id>`'s data-quality section: that one load judged as plain `status` judges
 * it (quality-report.ts `loadQuality`, lambdas/core/quality.ts), against the loads of its series
 * committed before it (its commit's trailing median), with the same settings. Without it, looking
 * at one load showed no quiet feed where `status` flagged the same table quiet.
 */
import { parquetReadObjects } from 'hyparquet';
import { plural } from '#core/capacity.ts';
import type { LoadMarker } from '#core/commit.ts';
import { LakeStateError } from '#core/errors.ts';
import { dltLoadsKey, dltLoadsPrefix, loadIdOfDltLoadsKey, loadsPrefix } from '#core/layout.ts';
import { forEachConcurrent } from '#core/pool.ts';
import type { ObjectStore } from '#core/ports.ts';
import type { UnreadableReport } from '#core/quality.ts';
import { readJson } from '#core/store-json.ts';
import {
  flagWords,
  formatLoadTables,
  type LoadQuality,
  loadQuality,
  type QualityOptions,
} from './quality-report.ts';

/**
 * The committed load `loadId` judged against the committed loads before it; null when it is not
 * committed (a report without a commit point, staged, running: no commit judged it) or its own
 * report cannot be read. Reads every committed load's report, as plain `status` does.
 */
export async function judgeOneLoad(
  store: ObjectStore,
  loadId: string,
  options: QualityOptions,
): Promise<LoadQuality | null> {
  const committed = new Set(
    (await store.list(dltLoadsPrefix)).map(loadIdOfDltLoadsKey).filter((id) => id !== undefined),
  );
  if (!committed.has(loadId)) return null;
  const reports: LoadMarker[] = [];
  const damaged: string[] = [];
  const ids = (await store.list(loadsPrefix))
    .filter((key) => key.endsWith('.json'))
    .map((key) => key.slice(loadsPrefix.length, -'.json'.length))
    .filter((id) => committed.has(id));
  await forEachConcurrent(ids, 16, async (id) => {
    // A damaged report is one of the loads it may have been compared with: judged without it,
    // and said (`unreadableEarlier`), as plain status and the commit's TrailingLoadsUnreadable do.
    const marker = await readJson<LoadMarker>(store, `${loadsPrefix}${id}.json`).catch((error: unknown) => {
      if (!(error instanceof LakeStateError)) throw error;
      damaged.push(id);
      return undefined;
    });
    if (marker !== undefined) reports.push(marker);
  });
  const load = reports.find((r) => r.loadId === loadId);
  if (load === undefined) return null;
  const unreadable: UnreadableReport[] = [];
  for (const id of damaged.sort()) unreadable.push({ loadId: id, committedAt: await insertedAt(store, id) });
  return loadQuality(load, reports, options, unreadable);
}

/**
 * A committed load's commit time from its `_dlt_loads` row (`inserted_at`); undefined when the
 * row cannot be read (then its place is guessed from its id, quality.ts `earlierScanOf`).
 */
export async function insertedAt(store: ObjectStore, loadId: string): Promise<string | undefined> {
  try {
    const bytes = await store.get(dltLoadsKey(loadId));
    if (bytes === undefined) return undefined;
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const [row] = await parquetReadObjects({ file, columns: ['inserted_at'] });
    const at: unknown = row?.inserted_at;
    const time = at instanceof Date ? at : typeof at === 'string' ? new Date(at) : undefined;
    return time !== undefined && !Number.isNaN(time.getTime()) ? time.toISOString() : undefined;
  } catch {
    // A damaged row is `verify`'s finding; here it only costs the commit order of one load.
    return undefined;
  }
}

/** `status --load-id`'s data-quality section in words; `quality` null: not judged, and why. */
export function formatOneLoadQuality(quality: LoadQuality | null, options: QualityOptions): string[] {
  if (quality === null)
    return ['', 'Data quality: not judged (the load is not committed, or its report cannot be read).'];
  const off = options.signalsOff ?? [];
  const out = [
    '',
    `Data quality (against ${plural(quality.trailingLoads, 'earlier load')} of its series committed before it; trailing median over up to ${options.trailingLoads}, judged from ${plural(options.minTrailingLoads, 'load')}; quiet below ${options.quietFraction} x; failed users above ${options.failedUserSharePercent}%):`,
    `  failed users ${quality.failedUserSharePercent}%${quality.failedUserShareNotJudged === undefined ? '' : ` (not judged: ${quality.failedUserShareNotJudged})`}`,
  ];
  if (off.length > 0)
    out.push(`  signals off (the stack's dataQuality, no alarm; not flagged): ${off.join(', ')}`);
  if (quality.flags.length === 0) out.push('  flags: none');
  else for (const flag of quality.flags) out.push(`  flag: ${flagWords(flag, quality.loadId)}`);
  const unreadable = quality.unreadableEarlier ?? [];
  if (unreadable.length > 0)
    out.push(
      `  judgement incomplete: without ${plural(unreadable.length, 'earlier load')} whose report could not be read: ${unreadable.slice(0, 5).join(', ')}${unreadable.length > 5 ? ', ...' : ''}`,
    );
  out.push(...formatLoadTables(quality, off));
  return out;
}
