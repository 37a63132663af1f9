/**
 * Data-quality signals of a committed load, one definition for the deployed alarms (the commit
 * handler emits them as metrics) and `paylink-loader status` (which flags them locally):
 *
 * - **failed-user share**: failed users / users of the load, in percent.
 * - **quiet feed**: a table's rows in this load below `quietFraction` x its *trailing median*.
 *   The trailing median of a table is the median of its row counts over the last
 *   `trailingLoads` committed loads of the same series (see `seriesOf`) before this one; a load
 *   that did not write the table counts 0. It is only judged with at least `minTrailingLoads`
 *   such loads, and not at all when the median is 0 (a feed that is always empty is not going
 *   quiet). Median, not mean: one unusually large or empty load does not move it.
 * - **endpoint unavailable**: resources the load disabled with an endpoint finding.
 * - **outside its window**: the run ended (committed) later than `runWindowSeconds` after the
 *   slot it was scheduled for (its `startedAt`).
 *
 * Pure: the callers read the markers; nothing here touches a store or a clock.
 */
import { LAKE } from './constants.ts';
import { EVENTS_TABLE } from './event-claims.ts';
import { loadsPrefix } from './layout.ts';
import type { ObjectStore } from './ports.ts';
import { readJson } from './store-json.ts';

export interface QualitySettings {
  /** Committed loads of the same series the trailing median is taken over (N). */
  readonly trailingLoads: number;
  /** Fewer earlier loads than this: no trailing median yet, nothing judged. */
  readonly minTrailingLoads: number;
  /** A table is quiet when rows < quietFraction x trailing median (0.5: less than half). */
  readonly quietFraction: number;
  /** The failed-user share (percent) above which a load is flagged. */
  readonly failedUserSharePercent: number;
}

/** Defaults of the stack's `dataQuality` config and of `status`. */
export const QUALITY_DEFAULTS: QualitySettings = {
  trailingLoads: 7,
  minTrailingLoads: 2,
  quietFraction: 0.5,
  failedUserSharePercent: 5,
};

/** Which users a load selected: every listed user, or only those with new webhook events. */
export type UsersSelection = 'all' | 'changed';

/** What the signals need from a load report (`_loads/<id>.json`, lambdas/core/commit.ts LoadMarker). */
export interface LoadFigures {
  readonly loadId: string;
  readonly startedAt: string;
  readonly committedAt: string;
  readonly resources?: readonly string[];
  /** The schedule that ran it (deployed), or the CLI's local name; reports written before markers named it have none. */
  readonly schedule?: unknown;
  /** `all` or `changed`; absent in reports written before markers named it (then `all`). */
  readonly usersSelection?: unknown;
  readonly users: number;
  readonly failedUserCount: number;
  readonly rowsByTable: Readonly<Record<string, number>>;
  readonly endpointFindings?: readonly { readonly resource: string }[];
}

/** The loads a load is compared with, spelled out (`status` names it; `seriesOf` is its key). */
export interface Series {
  /** Undefined for reports that do not name their schedule (written before markers did). */
  readonly schedule: string | undefined;
  readonly usersSelection: UsersSelection;
  /** The tables the load selected, sorted. */
  readonly tables: readonly string[];
}

export function seriesFacts(load: Pick<LoadFigures, 'schedule' | 'usersSelection' | 'resources'>): Series {
  return {
    schedule: typeof load.schedule === 'string' ? load.schedule : undefined,
    usersSelection: load.usersSelection === 'changed' ? 'changed' : 'all',
    tables: [...(load.resources ?? [])].sort(),
  };
}

/**
 * The loads a load is compared with: same schedule, same users selection and same tables. A
 * `changed` load (only the users with new webhook events) is never compared with full loads,
 * whose row counts are those of every user; what a load fetches decides its row counts too, so
 * a `--resources orders` load is not compared with a full load. Reports that do not name their
 * schedule (written before markers did) form series of their own, by tables.
 */
export function seriesOf(load: Pick<LoadFigures, 'schedule' | 'usersSelection' | 'resources'>): string {
  const s = seriesFacts(load);
  const tables = `tables:${s.tables.join(',')}`;
  return s.schedule === undefined ? tables : `schedule:${s.schedule} users:${s.usersSelection} ${tables}`;
}

/**
 * Tables fed by PayLink's API: the loader's own bookkeeping tables are not feeds, and neither
 * are the webhook events a load commits (`webhook_events` and its child tables): their rows
 * count the events that arrived since the last commit, which vary with user activity, so a
 * daily load after a quiet day would be called quiet.
 */
export function isFeedTable(table: string): boolean {
  return (
    table !== LAKE.userLoadsTable &&
    !table.startsWith('_dlt') &&
    table !== EVENTS_TABLE &&
    !table.startsWith(`${EVENTS_TABLE}__`)
  );
}

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface TableTrend {
  readonly table: string;
  readonly rows: number;
  /** Undefined until `minTrailingLoads` earlier loads exist. */
  readonly trailingMedian: number | undefined;
  /** Earlier loads the median was taken over. */
  readonly trailingLoads: number;
  /** rows / trailing median; undefined without a median or with a median of 0. */
  readonly ratio: number | undefined;
  readonly quiet: boolean;
}

/**
 * Rows of each feed table against its trailing median. `earlier`: committed loads of the same
 * series that started before `load`, newest first (only the first `trailingLoads` are used).
 * Tables: those of this load and of the loads compared with, sorted by name.
 */
export function tableTrends(
  load: LoadFigures,
  earlier: readonly LoadFigures[],
  settings: QualitySettings,
): TableTrend[] {
  const window = earlier.slice(0, settings.trailingLoads);
  const tables = new Set<string>();
  for (const l of [load, ...window])
    for (const t of Object.keys(l.rowsByTable)) if (isFeedTable(t)) tables.add(t);
  return [...tables].sort().map((table) => {
    const rows = load.rowsByTable[table] ?? 0;
    if (window.length < settings.minTrailingLoads || window.length === 0)
      return {
        table,
        rows,
        trailingMedian: undefined,
        trailingLoads: window.length,
        ratio: undefined,
        quiet: false,
      };
    const trailingMedian = median(window.map((l) => l.rowsByTable[table] ?? 0));
    const ratio = trailingMedian > 0 ? rows / trailingMedian : undefined;
    return {
      table,
      rows,
      trailingMedian,
      trailingLoads: window.length,
      ratio,
      quiet: ratio !== undefined && ratio < settings.quietFraction,
    };
  });
}

export interface LoadSignals {
  /** Failed users / users, in percent (0 for a load of no users). */
  readonly failedUserSharePercent: number;
  readonly failedUserShareHigh: boolean;
  readonly tables: readonly TableTrend[];
  readonly quietTables: readonly string[];
  /** The smallest rows / trailing median over the tables that have one (what the alarm watches). */
  readonly lowestRatio: number | undefined;
  readonly endpointUnavailable: readonly string[];
  /** Scheduled slot (startedAt) to commit, in seconds. */
  readonly runSeconds: number;
  /** Undefined when no window was given. */
  readonly outsideWindow: boolean | undefined;
}

export function loadSignals(
  load: LoadFigures,
  earlier: readonly LoadFigures[],
  settings: QualitySettings & { readonly runWindowSeconds?: number | undefined },
): LoadSignals {
  const share = load.users > 0 ? (load.failedUserCount / load.users) * 100 : 0;
  const tables = tableTrends(load, earlier, settings);
  const ratios = tables.flatMap((t) => (t.ratio === undefined ? [] : [t.ratio]));
  const runSeconds = Math.max(0, (Date.parse(load.committedAt) - Date.parse(load.startedAt)) / 1000);
  return {
    failedUserSharePercent: share,
    failedUserShareHigh: share > settings.failedUserSharePercent,
    tables,
    quietTables: tables.filter((t) => t.quiet).map((t) => t.table),
    lowestRatio: ratios.length > 0 ? Math.min(...ratios) : undefined,
    endpointUnavailable: [...new Set((load.endpointFindings ?? []).map((f) => f.resource))].sort(),
    runSeconds,
    outsideWindow:
      settings.runWindowSeconds === undefined ? undefined : runSeconds > settings.runWindowSeconds,
  };
}

/** `a` is an earlier load than `b`: by start time, then load id. */
export function startedBefore(a: LoadFigures, b: LoadFigures): boolean {
  if (a.loadId === b.loadId) return false;
  return a.startedAt < b.startedAt || (a.startedAt === b.startedAt && a.loadId < b.loadId);
}

/**
 * The loads `load` is compared with, from the lake's reports in load-id order (oldest first):
 * same series, started before it, newest first, at most `trailingLoads`.
 */
export function earlierLoads<T extends LoadFigures>(
  load: LoadFigures,
  reports: readonly T[],
  settings: Pick<QualitySettings, 'trailingLoads'>,
): T[] {
  const series = seriesOf(load);
  return reports
    .filter((l) => startedBefore(l, load) && seriesOf(l) === series)
    .sort((a, b) =>
      a.startedAt === b.startedAt ? (a.loadId < b.loadId ? 1 : -1) : a.startedAt < b.startedAt ? 1 : -1,
    )
    .slice(0, settings.trailingLoads);
}

/** Load reports read, newest first, looking for a load's earlier loads: bounds the commit's time. */
export const REPORTS_SCANNED = 50;

/**
 * `earlierLoads` straight from a lake's reports (`_loads/<id>.json`), newest load id first,
 * reading at most REPORTS_SCANNED of them: what the commit compares its load with. Load ids
 * sort by time (layout.ts), so the newest reports are the last keys. Reads only reports; a
 * report that cannot be parsed is skipped.
 */
export async function readEarlierLoads(
  store: ObjectStore,
  load: LoadFigures,
  settings: Pick<QualitySettings, 'trailingLoads'>,
): Promise<LoadFigures[]> {
  const keys = (await store.list(loadsPrefix)).filter((k) => k.endsWith('.json')).sort();
  const series = seriesOf(load);
  const found: LoadFigures[] = [];
  for (const key of keys.slice(-REPORTS_SCANNED).reverse()) {
    if (found.length >= settings.trailingLoads) break;
    const report = await readJson<LoadFigures>(store, key).catch(() => undefined);
    if (report === undefined || typeof report.loadId !== 'string' || report.rowsByTable === undefined)
      continue;
    if (seriesOf(report) !== series || !startedBefore(report, load)) continue;
    found.push(report);
  }
  return earlierLoads(load, found, settings);
}
