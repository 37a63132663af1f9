/**
 * `status --load-id <id>`'s data-quality section: that one load judged as plain `status` judges
 * it (quality-report.ts `loadQuality`, lambdas/core/quality.ts), against the loads of its series
 * committed before it (its commit's trailing median), with the same settings. Without it, looking
 * at one load showed no quiet feed where `status` flagged the same table quiet.
 */
import { plural } from '#core/capacity.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readCommittedReports } from './committed-reports.ts';
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
  // A damaged report is one of the loads it may have been compared with: judged without it,
  // and said (`unreadableEarlier`), as plain status and the commit's TrailingLoadsUnreadable do.
  const { reports, unreadable } = await readCommittedReports(store);
  const load = reports.find((r) => r.loadId === loadId);
  if (load === undefined) return null;
  return loadQuality(load, reports, options, unreadable);
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
