/**
 * Data-quality signals of a committed load, one definition for the deployed alarms (the commit
 * handler emits them as metrics) and `paylink-loader status` (which flags them locally):
 *
 * - **failed-user share**: failed users / users of the load, in percent.
 * - **quiet feed**: a table's rows in this load below `quietFraction` x its *trailing median*:
 *   the median of its rows per loaded user over the last `trailingLoads` committed loads of the
 *   same series (see `seriesOf`) before this one, times this load's loaded users (a load that
 *   did not write the table counts 0). It is only judged with at least `minTrailingLoads` such
 *   loads. A table that stays empty until its median is 0 too is judged against the loads
 *   before it went empty, so a dead feed stays flagged; past DEAD_FEED_LOADS loads, against the
 *   median the load before recorded with its flag (`quietFeeds`), until it recovers. A load
 *   flagged quiet is no part of its table's baseline, so a trickle does not become its own
 *   median; a lower level still judged after DEAD_FEED_LOADS flagged loads is the new normal
 *   (`newLevelFeeds`). A feed never
 *   fed is never quiet. A table whose resource the load did not fetch (an endpoint finding) is
 *   not judged: endpoint unavailable says why it is empty.
 *   Median, not mean: one unusually large or empty load does not move it (`tableTrends`).
 *   Judged only when at least MIN_EXPECTED_ROWS rows were expected: a small load says little.
 * - **endpoint unavailable**: resources the load disabled with an endpoint finding.
 * - **outside its window**: the run ended (committed) later than `runWindowSeconds` after the
 *   slot it was scheduled for (its `startedAt`).
 *
 * Pure but for `readEarlierLoads` (the commit's reader of the reports); nothing reads a clock.
 */

import { committedLoadIds } from './committed-loads.ts';
import { LAKE } from './constants.ts';
import { safeErrorMessage } from './errors.ts';
import { EVENTS_TABLE } from './event-claims.ts';
import { readCommittedSchema } from './lake-schema.ts';
import { loadIdTime, loadsPrefix } from './layout.ts';
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
  /** A table is judged only when this many rows were expected of the load (default MIN_EXPECTED_ROWS). */
  readonly minExpectedRows?: number;
  /**
   * The failed-user share is judged only for a load of at least this many users (default
   * MIN_USERS_FOR_FAILED_SHARE): one failure in a load of 2 users is 50%, and says little.
   */
  readonly minUsersForFailedShare?: number;
}

/**
 * The fewest users a load must have for its failed-user share to be judged (flagged, and written
 * as the metric the FailedUserShare alarm watches). Below it one failed user is a share of 10% or
 * more: a `changed` load of a few users would alarm on every single failure.
 */
export const MIN_USERS_FOR_FAILED_SHARE = 10;

/** The most `minUsersForFailedShare` may be: a bound on typos, far above a load worth judging. */
export const MAX_USERS_FOR_FAILED_SHARE = 100_000;

/**
 * Whether a load's failed-user share is judged: enough users (`minUsersForFailedShare`), or every
 * user of at least 2 failed. A dead key or a broken API fails every user of a 3-user hourly
 * `changed` run too: that says more than one failure in 3, and must not go unflagged.
 */
export function failedShareJudged(
  load: Pick<LoadFigures, 'users' | 'failedUserCount'>,
  settings: Pick<QualitySettings, 'minUsersForFailedShare'>,
): boolean {
  if (load.users <= 0) return false;
  return (
    load.users >= minUsersForFailedShareOf(settings) ||
    (load.users >= 2 && load.failedUserCount >= load.users)
  );
}

const minUsersForFailedShareOf = (settings: Pick<QualitySettings, 'minUsersForFailedShare'>) =>
  settings.minUsersForFailedShare ?? MIN_USERS_FOR_FAILED_SHARE;

/**
 * Why a load's failed-user share was not judged (`failedShareJudged` false), in words: `6 users <
 * 10` (status's text and JSON); undefined when it was judged.
 */
export function failedShareNotJudgedReason(
  load: Pick<LoadFigures, 'users' | 'failedUserCount'>,
  settings: Pick<QualitySettings, 'minUsersForFailedShare'>,
): string | undefined {
  if (failedShareJudged(load, settings)) return undefined;
  if (load.users <= 0) return 'no users';
  return `${load.users} ${load.users === 1 ? 'user' : 'users'} < ${minUsersForFailedShareOf(settings)}`;
}

/** Defaults of the stack's `dataQuality` config and of `status`. */
export const QUALITY_DEFAULTS: QualitySettings = {
  trailingLoads: 7,
  minTrailingLoads: 2,
  quietFraction: 0.5,
  failedUserSharePercent: 5,
};

/**
 * Which users a load selected: every listed user, only those with new webhook events, or the
 * users an earlier load failed (`load --users-from-failed`: a series of its own, never compared
 * with the loads of every user).
 */
export type UsersSelection = 'all' | 'changed' | 'failed';

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
  readonly endpointFindings?: readonly {
    readonly resource: string;
    /** The load's resources under it, not fetched either (endpoint-health.ts); absent in older reports. */
    readonly notFetched?: readonly string[];
  }[];
  /**
   * The tables this load's commit judged quiet (`quietFeedRecords`): the next load of the series
   * carries the judgement forward (`tableTrends`). Absent in reports written before commits
   * recorded it, and when the commit could not judge.
   */
  readonly quietFeeds?: readonly QuietFeedRecord[];
  /**
   * The feed tables this load's commit judged (a ratio against a median, `judgedFeedTables`),
   * quiet or not: a table named here and not in `quietFeeds` was judged not quiet (recovered); a
   * table not named was not judged (too few rows expected, no loaded user, its endpoint
   * disabled), so the load neither clears nor carries its flag. Absent in reports written before
   * commits recorded it (then `quietFeeds` alone: an array means every table was judged) and
   * when the commit could not judge.
   */
  readonly judgedFeeds?: readonly string[];
  /**
   * The feed tables whose lower level this load's commit accepted as their new normal
   * (`TableTrend.newLevel`): quiet for DEAD_FEED_LOADS loads in a row at a level still judged,
   * and not quiet against the loads of its own window. The quiet flags of loads before it no
   * longer keep those loads out of the table's baseline. Absent when none.
   */
  readonly newLevelFeeds?: readonly string[];
}

/** A quiet feed as a load's report records it (`LoadFigures.quietFeeds`). */
export interface QuietFeedRecord {
  readonly table: string;
  readonly rows: number;
  /** The rows expected of that load (its loaded users): what the next load scales to its own. */
  readonly trailingMedian: number;
  /** Earlier loads that median was taken over. */
  readonly trailingLoads: number;
  /** The first load of the quiet run: that load, or the one a load before it recorded. */
  readonly since: string;
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
    usersSelection:
      load.usersSelection === 'changed' || load.usersSelection === 'failed' ? load.usersSelection : 'all',
    tables: [...(load.resources ?? [])].sort(),
  };
}

/**
 * Whether a load of series `later` covers series `earlier`: same schedule, all users or the same
 * selection, and at least its tables. Only such a load speaks for the other's series: `status`
 * keeps a series' newest load as its verdict until a covering load of the same schedule, and the
 * commit writes a run's judgement under its schedule's alarms only when the run covers the
 * schedule's own series (a subset started by hand does not, `judgementScheduleOf`).
 */
export function coversSeries(later: Series, earlier: Series): boolean {
  return (
    later.schedule !== undefined &&
    later.schedule === earlier.schedule &&
    (later.usersSelection === 'all' || later.usersSelection === earlier.usersSelection) &&
    earlier.tables.every((t) => later.tables.includes(t))
  );
}

/**
 * What the Schedule dimension of a run's judgement metrics gets when the run is no load of its
 * schedule's series: `<schedule>:manual`. No alarm watches it.
 */
export const MANUAL_SCHEDULE_SUFFIX = ':manual';

/**
 * The Schedule dimension of a run's judgement metrics (FailedUserShare, LowestRowsToTrailingMedian,
 * RowsToTrailingMedian, EndpointUnavailable, TrailingLoadsUnreadable: what the schedule's per-load
 * alarms hold their state by), or undefined for the schedule's own. A run that does not cover its
 * schedule's own series (`coversSeries`: a run started by hand with
 * `"resources":["accounts"]`, or `changed` users on an `all` schedule) is judged in a series of
 * its own: under the schedule's dimension its clean judgement would set QuietFeed back to OK while
 * a table it did not load is still dead. Its judgement goes under `<schedule>:manual` instead.
 * `status --fail-on-signals` keeps the same rule (quality-report.ts).
 */
export function judgementScheduleOf(run: Series, schedule: Series): string | undefined {
  if (run.schedule === undefined || coversSeries(run, schedule)) return undefined;
  return `${run.schedule}${MANUAL_SCHEDULE_SUFFIX}`;
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

/**
 * The fewest rows a load must be expected to have (its trailing median) for its table to be
 * judged. Rows per user vary between users: a load of 2 users expected to have 3 orders that had
 * none is noise, one expected to have 300 is a quiet feed.
 */
export const MIN_EXPECTED_ROWS = 20;

export interface TableTrend {
  readonly table: string;
  readonly rows: number;
  /**
   * The rows expected of this load: the median of rows per loaded user over the loads compared
   * with, times this load's loaded users (see `tableTrends`). Undefined when not judged.
   */
  readonly trailingMedian: number | undefined;
  /** Earlier loads the median was taken over. */
  readonly trailingLoads: number;
  /**
   * rows / trailing median; undefined (not judged, never quiet) without a median or with a median
   * below MIN_EXPECTED_ROWS.
   */
  readonly ratio: number | undefined;
  readonly quiet: boolean;
  /**
   * Set when the table has been empty for several loads, its trailing median has fallen to 0 and
   * it is judged against the loads before it went empty: the first load of that empty run.
   */
  readonly emptySince?: string;
  /**
   * Set when the table is judged against the median the load before it recorded with its quiet
   * flag (`QuietFeedRecord`): that load's id. A dead feed whose fed loads are past what the scan
   * reads (DEAD_FEED_LOADS) stays flagged this way, one load to the next, until it recovers.
   */
  readonly carriedFrom?: string;
  /**
   * Set when quiet: the first load of the quiet run (this one, or the one the load before it
   * recorded), as the load's report records it.
   */
  readonly quietSince?: string;
  /**
   * Set when the load did not fetch the table's resource (an endpoint finding disabled it or a
   * resource above it): not judged, so one cause raises EndpointUnavailable, not QuietFeed too.
   */
  readonly disabled?: true;
  /**
   * Set when the table was not judged (no ratio): why, with the numbers that decided it, so a
   * reader tells "judged and fine" from "not judged" (status --json `notJudgedReason`).
   */
  readonly notJudged?: NotJudgedReason;
  /**
   * Set when the table had been flagged quiet on DEAD_FEED_LOADS loads in a row and this load is
   * judged against its own window instead (the loads at the lower level) and is not quiet: the
   * lower level is accepted as the new normal (the load's report records it, `newLevelFeeds`).
   */
  readonly newLevel?: true;
}

/**
 * Why a table was not judged for a quiet feed, by a stable code:
 * - `endpoint_unavailable`: the load did not fetch its resource (an endpoint finding);
 * - `no_loaded_users`: every user of the load failed, so no rows were expected of it;
 * - `too_few_loads`: fewer earlier loads of its series fetched it than `minTrailingLoads`;
 * - `median_below_min_rows`: the rows expected of the load (its trailing median) are fewer than
 *   `minExpectedRows` (0 for a table never fed).
 */
export type NotJudgedReason =
  | { readonly code: 'endpoint_unavailable' }
  | { readonly code: 'no_loaded_users' }
  | { readonly code: 'too_few_loads'; readonly trailingLoads: number; readonly minTrailingLoads: number }
  | {
      readonly code: 'median_below_min_rows';
      readonly trailingMedian: number;
      readonly minExpectedRows: number;
    };

/**
 * Resources a load did not fetch because of an endpoint finding: those disabled, and the
 * resources under them (`action_history` under a disabled `accounts`). Reports written before
 * findings named the resources under them give the disabled ones only.
 */
export function unfetchedResources(load: Pick<LoadFigures, 'endpointFindings'>): ReadonlySet<string> {
  const out = new Set<string>();
  for (const f of load.endpointFindings ?? []) {
    out.add(f.resource);
    for (const r of f.notFetched ?? []) out.add(r);
  }
  return out;
}

/** The table's resource: a child table (`orders__items`) belongs to its root's (`orders`). */
const resourceOf = (table: string) => table.split('__')[0]!;

/** `fetched(loads, table)`: the loads (of `all`) that fetched the table's resource. */
function fetchedIn(all: readonly LoadFigures[]) {
  const unfetched = new Map(all.map((l) => [l, unfetchedResources(l)]));
  return (loads: readonly LoadFigures[], table: string): LoadFigures[] =>
    loads.filter((l) => !unfetched.get(l)?.has(resourceOf(table)));
}

/** Users whose data the load holds: its users less those that failed. */
export function loadedUsers(load: Pick<LoadFigures, 'users' | 'failedUserCount'>): number {
  return Math.max(0, load.users - load.failedUserCount);
}

const perUser = (load: LoadFigures, table: string) => (load.rowsByTable[table] ?? 0) / loadedUsers(load);

/**
 * Rows too few to judge a table by or to compare it with: none, or under `minExpectedRows`
 * (MIN_EXPECTED_ROWS). One rule for the judgement (`tableTrends`) and the scan that reads the
 * loads it needs (`enoughEarlier`).
 */
function isLow(rows: number, settings: Pick<QualitySettings, 'minExpectedRows'>): boolean {
  return rows === 0 || rows < (settings.minExpectedRows ?? MIN_EXPECTED_ROWS);
}

/** The median of a table's rows per loaded user over `loads`, times `users`. */
const scaledMedian = (loads: readonly LoadFigures[], table: string, users: number) =>
  median(loads.map((l) => perUser(l, table))) * users;

/** Of `loads`, in their order, those whose rows of `table` scaled to `users` were not low. */
const fedLoads = <T extends LoadFigures>(
  loads: readonly T[],
  table: string,
  users: number,
  settings: Pick<QualitySettings, 'minExpectedRows'>,
): T[] => loads.filter((l) => !isLow(perUser(l, table) * users, settings));

/**
 * The loads that count towards a table's baseline, of `mine` (its loads, newest first): all but
 * those whose own report flagged the table quiet (`quietFeeds`), so a feed down to a trickle
 * that is still judged (at or above `minExpectedRows`) does not become its own baseline after
 * about half the window and clear its flag while it never recovered. The flags of loads older
 * than the newest load that accepted the table's lower level (`newLevelFeeds`) no longer count:
 * from there the lower level is the normal. `run`: the loads kept out before the newest one that
 * counts (the quiet run the load follows; all of `mine` when none counts).
 */
function baselineOf(
  mine: readonly LoadFigures[],
  table: string,
): { readonly counts: (l: LoadFigures) => boolean; readonly run: number } {
  const accepted = mine.findIndex((l) => acceptedLevel(l, table));
  const out = new Set(
    (accepted < 0 ? mine : mine.slice(0, accepted)).filter((l) =>
      recordedQuiet(l).some((r) => r.table === table),
    ),
  );
  const counts = (l: LoadFigures) => !out.has(l);
  const newest = mine.findIndex(counts);
  return { counts, run: newest < 0 ? mine.length : newest };
}

/** Whether a load's commit accepted the table's lower level as its new normal (`newLevelFeeds`). */
function acceptedLevel(load: LoadFigures, table: string): boolean {
  const accepted: unknown = load.newLevelFeeds;
  return Array.isArray(accepted) && accepted.includes(table);
}

/**
 * Rows of each feed table against its trailing median. `earlier`: committed loads of the same
 * series committed before `load`, newest commit first (`scanEarlier`).
 *
 * - Rows are compared per loaded user (users less failed users): a load of fewer users (a
 *   `changed` load on a quiet day, a load where many users failed) is not a quieter feed. The
 *   median of rows per loaded user over the first `trailingLoads` earlier loads that loaded a
 *   user, times this load's loaded users, is the table's trailing median.
 * - A table that stays empty, or down to a trickle, stays quiet: once its trailing median itself
 *   is too low to judge (0, or under `minExpectedRows`: it has been low for about half the
 *   window), the table is judged against the newest `trailingLoads` earlier loads that were not
 *   low, past up to DEAD_FEED_LOADS low ones (so a feed back at a fraction of its level after an
 *   outage is quiet too). A load with rows between two outages is one of
 *   those, so a single recovery does not make the next outage the new normal. A feed that was
 *   never fed, or was always small, is never quiet.
 * - A load whose own report flagged the table quiet is no part of its baseline: a feed down to a
 *   trickle still judged (at or above `minExpectedRows`) stays flagged while it stays down, and
 *   clears on a load at or above `quietFraction` of its level. After DEAD_FEED_LOADS such loads
 *   in a row, a level still judged is taken as the new normal (`newLevel`, recorded in the
 *   report): a real step down ends its flag, without an operator's step.
 * - Low for longer than that (no load to compare with is within reach): a table the newest
 *   earlier load that fetched it flagged quiet (its report's `quietFeeds`) is judged against the
 *   median recorded there, scaled to this load's users (`carriedFrom`), so a dead feed stays
 *   flagged until a load is no longer quiet against it.
 * - Not judged (no median): fewer than `minTrailingLoads` loads to compare with, or a load that
 *   loaded no user (the failed-user share speaks for it). Not judged either (a median, no
 *   ratio): a trailing median below MIN_EXPECTED_ROWS, too few rows to call missing ones quiet.
 *
 * Tables: those of this load and of the loads compared with, sorted by name.
 */
export function tableTrends(
  load: LoadFigures,
  earlier: readonly LoadFigures[],
  settings: QualitySettings,
): TableTrend[] {
  const usable = earlier.filter((l) => loadedUsers(l) > 0);
  const window = usable.slice(0, settings.trailingLoads);
  const tables = new Set<string>();
  for (const l of [load, ...window])
    for (const t of Object.keys(l.rowsByTable)) if (isFeedTable(t)) tables.add(t);
  for (const t of emptyRunTables(load, usable)) tables.add(t);
  // A feed dead for longer than the scan reads is in no report found but the quiet flags.
  for (const l of window) for (const r of recordedQuiet(l)) if (isFeedTable(r.table)) tables.add(r.table);
  // A resource this load disabled (or did not fetch under one) is listed, disabled, even when no
  // load ever wrote a row of it: on a lake's first load, or a series' first, it is in no report,
  // and the endpoint-unavailable signal would name a table the rows per table leave out. Its
  // root table is the resource's own name (a child table's resource is its root's, `resourceOf`).
  const unfetched = unfetchedResources(load);
  for (const resource of unfetched) if (isFeedTable(resource)) tables.add(resource);
  const users = loadedUsers(load);
  const fetched = fetchedIn(usable);
  const minLoads = Math.max(1, settings.minTrailingLoads);
  return [...tables].sort().map((table): TableTrend => {
    const rows = load.rowsByTable[table] ?? 0;
    const unjudged = { table, rows, trailingMedian: undefined, ratio: undefined, quiet: false };
    // Its endpoint was found unusable (EndpointUnavailable says so): its rows say nothing of the feed.
    if (unfetched.has(resourceOf(table)))
      return {
        ...unjudged,
        trailingLoads: fetched(window, table).length,
        disabled: true,
        notJudged: { code: 'endpoint_unavailable' },
      };
    // Nor do its zero rows in an earlier load that did not fetch it: not a median's datapoint.
    const win = fetched(window, table);
    if (users === 0)
      return { ...unjudged, trailingLoads: win.length, notJudged: { code: 'no_loaded_users' } };
    if (win.length < minLoads)
      return {
        ...unjudged,
        trailingLoads: win.length,
        notJudged: { code: 'too_few_loads', trailingLoads: win.length, minTrailingLoads: minLoads },
      };
    const mine = fetched(usable, table);
    // The newest earlier load that judged the table, and its quiet flag if it raised one. A load
    // that did not judge it (too few users loaded, a commit whose judgement failed) is passed
    // over: it neither clears the flag nor breaks the chain that carries it. The walk is bounded
    // by the loads the scan read (about DEAD_FEED_LOADS + trailingLoads).
    const previous = mine.find((l) => judgedTable(l, table));
    const flagged =
      previous === undefined ? undefined : recordedQuiet(previous).find((r) => r.table === table);
    // Loads of the window in which the table was empty (an outage under way) do not pull its
    // median down: with enough loads that had rows in the window, the median is theirs, so a
    // table at 0 three loads into an outage is shown and judged against its level (58), not
    // half of it. (Empty, not low: lowness is scaled to this load's users, and a small load
    // would drop the loads it is compared with.)
    // Loads that flagged the table quiet are no part of its baseline (a trickle would otherwise
    // become its own normal after about half the window): the newest `trailingLoads` loads that
    // count stand in for the window. Not past DEAD_FEED_LOADS flagged loads in a row: there a
    // level that is still judged is taken as the new normal (`newLevel`), the way out of a real
    // step down; a dead feed, low, stays flagged below (`carriedTrend`).
    const baseline = baselineOf(mine, table);
    let own = win;
    let longRun = false;
    if (!win.every(baseline.counts)) {
      const counted = mine.filter(baseline.counts).slice(0, settings.trailingLoads);
      if (baseline.run < DEAD_FEED_LOADS && counted.length >= Math.max(1, settings.minTrailingLoads))
        own = counted;
      else longRun = baseline.run >= DEAD_FEED_LOADS;
    }
    const low = isLow(scaledMedian(win, table, users), settings);
    // Low for most of the window, the loads that were not low are the baseline, or none (below).
    const from = low ? win : own;
    const fedWin = from.filter((l) => (l.rowsByTable[table] ?? 0) > 0);
    // An outage under way since fewer fed loads than `minTrailingLoads` (one fed load, then
    // `--empty orders`): the window's empty loads are this empty run itself, the newest loads of
    // the window, so they are left out too; the median is never taken over the loads it judges
    // (median(47, 0) = 23.5 would be half the feed's level).
    const emptyRun =
      rows === 0 &&
      fedWin.length > 0 &&
      from.slice(0, from.length - fedWin.length).every((l) => (l.rowsByTable[table] ?? 0) === 0);
    let base =
      fedWin.length < from.length && (fedWin.length >= settings.minTrailingLoads || emptyRun) ? fedWin : from;
    // Low in this load and the loads before it: the first low load of the run (status's "empty
    // since"), found past the low loads at the head of the series.
    // The run's loads, newest first; where it starts is settled once the level is known (below).
    let lowRun: readonly LoadFigures[] = low ? [] : lowRunOf(load, mine, table, users, settings);
    let lowBranchRun = false;
    if (low) {
      // Low for most of the window (a feed gone dead or down to a trickle, maybe back now at a
      // fraction of its level): compare with the loads that were not low, newest first, past the
      // low ones (a load with rows between two outages is one of them, so one blip does not make
      // the outage the new normal, and an outage does not make a partial recovery the normal),
      // and past the loads flagged quiet (a return at a trickle is not the normal either).
      const fed = fedLoads(mine, table, users, settings)
        .filter(baseline.counts)
        .slice(0, settings.trailingLoads);
      const newest = fed.length === 0 ? -1 : mine.indexOf(fed[0]!);
      // Fewer fed loads than `minTrailingLoads` are enough when the series is only those and this
      // low run (a feed that went quiet after one load): the run's loads are what is judged, never
      // the median's datapoints. A sparse table, low before its fed loads too, is not judged so.
      const onlyThisRun =
        fed.length > 0 && mine.slice(newest).every((l) => !isLow(perUser(l, table) * users, settings));
      if (
        newest >= 0 &&
        newest <= DEAD_FEED_LOADS &&
        (fed.length >= settings.minTrailingLoads || onlyThisRun)
      ) {
        base = fed;
        // The outage in progress: the low loads since the newest load compared with (this one
        // when the load before it was fed).
        lowRun = mine.slice(0, newest);
        lowBranchRun = true;
      } else if (previous !== undefined && flagged !== undefined) {
        // The loads it was fed in are further back than the scan reads (DEAD_FEED_LOADS): the load
        // before this one flagged it quiet and recorded the median it judged by, so the judgement
        // carries forward, one load to the next, until the feed recovers. Reads stay bounded.
        const median = (flagged.trailingMedian / loadedUsers(previous)) * users;
        if (!isLow(median, settings)) return carriedTrend(table, rows, median, flagged, previous, settings);
      }
    }
    const trailingMedian = scaledMedian(base, table, users);
    // Too few rows to call missing ones quiet (and never a median of 0: 0/0 is no ratio).
    const ratio = isLow(trailingMedian, settings) ? undefined : rows / trailingMedian;
    const quiet = ratio !== undefined && ratio < settings.quietFraction;
    // Where the run starts: its oldest load whose rows said something of the feed. A load that
    // did not judge the table and of which too few rows were expected at this level (a load of 1
    // loaded user: 1.45 orders) starts no quiet run: "since" never names a load shown "-".
    const level = trailingMedian / users;
    const start = lowRun
      .filter(
        (l) =>
          !Array.isArray(l.judgedFeeds) || judgedTable(l, table) || !isLow(level * loadedUsers(l), settings),
      )
      .at(-1)?.loadId;
    const emptySince = lowBranchRun ? (start ?? load.loadId) : start;
    // Judged against its own window after DEAD_FEED_LOADS flagged loads, and at that level: the
    // new normal, recorded so the loads after it count the flagged ones again.
    const newLevel = longRun && !lowBranchRun && lowRun.length === 0 && ratio !== undefined && !quiet;
    return {
      table,
      rows,
      trailingMedian,
      trailingLoads: base.length,
      ratio,
      quiet,
      ...(ratio === undefined
        ? {
            notJudged: {
              code: 'median_below_min_rows' as const,
              trailingMedian,
              minExpectedRows: settings.minExpectedRows ?? MIN_EXPECTED_ROWS,
            },
          }
        : {}),
      ...(emptySince === undefined || !quiet ? {} : { emptySince }),
      ...(quiet ? { quietSince: emptySince ?? flagged?.since ?? load.loadId } : {}),
      ...(newLevel ? { newLevel: true as const } : {}),
    };
  });
}

/**
 * The run of low loads this one ends (`mine`: the table's earlier loads, newest first), within
 * DEAD_FEED_LOADS, newest first; empty when this load is not low or the load before it was not
 * (a run of one load is no "since").
 */
function lowRunOf(
  load: LoadFigures,
  mine: readonly LoadFigures[],
  table: string,
  users: number,
  settings: Pick<QualitySettings, 'minExpectedRows'>,
): LoadFigures[] {
  if (!isLow(load.rowsByTable[table] ?? 0, settings)) return [];
  const run: LoadFigures[] = [];
  for (const l of mine.slice(0, DEAD_FEED_LOADS)) {
    if (!isLow(perUser(l, table) * users, settings)) break;
    run.push(l);
  }
  return run;
}

/** A table judged against the median the load before recorded with its quiet flag. */
function carriedTrend(
  table: string,
  rows: number,
  trailingMedian: number,
  flagged: QuietFeedRecord,
  previous: LoadFigures,
  settings: QualitySettings,
): TableTrend {
  const ratio = rows / trailingMedian;
  const quiet = ratio < settings.quietFraction;
  return {
    table,
    rows,
    trailingMedian,
    trailingLoads: flagged.trailingLoads,
    ratio,
    quiet,
    carriedFrom: previous.loadId,
    ...(quiet ? { emptySince: flagged.since, quietSince: flagged.since } : {}),
  };
}

/**
 * A report's quiet-feed records that are well formed (a report is read back from the lake: one
 * written by hand, or damaged, carries nothing rather than failing the judgement).
 */
function recordedQuiet(load: LoadFigures): QuietFeedRecord[] {
  const records: unknown = load.quietFeeds;
  if (!Array.isArray(records)) return [];
  return records.filter(
    (r): r is QuietFeedRecord =>
      typeof r === 'object' &&
      r !== null &&
      typeof r.table === 'string' &&
      typeof r.since === 'string' &&
      Number.isFinite(r.trailingMedian) &&
      r.trailingMedian > 0 &&
      Number.isInteger(r.trailingLoads),
  );
}

/**
 * Whether a load's commit judged `table` (`LoadFigures.judgedFeeds`): named there or flagged
 * quiet. A report written before commits named the tables judged counts as judging every table
 * when it recorded quiet feeds at all (what commits before did); one with no record did not judge.
 */
function judgedTable(load: LoadFigures, table: string): boolean {
  if (recordedQuiet(load).some((r) => r.table === table)) return true;
  const judged: unknown = load.judgedFeeds;
  if (Array.isArray(judged)) return judged.includes(table);
  return Array.isArray(load.quietFeeds);
}

/** The tables a judgement judged (a ratio), quiet or not (`LoadFigures.judgedFeeds`), sorted. */
export function judgedFeedTables(tables: readonly TableTrend[]): string[] {
  return tables.flatMap((t) => (t.ratio === undefined ? [] : [t.table])).sort();
}

/** What a load's report records of its judgement: its quiet feeds and the tables it judged. */
export interface QualityRecord {
  readonly quietFeeds: readonly QuietFeedRecord[];
  readonly judgedFeeds: readonly string[];
  /** Tables whose lower level the judgement accepted (`TableTrend.newLevel`); absent when none. */
  readonly newLevelFeeds?: readonly string[];
}

export function qualityRecord(tables: readonly TableTrend[]): QualityRecord {
  const newLevel = tables.flatMap((t) => (t.newLevel === true ? [t.table] : [])).sort();
  return {
    quietFeeds: quietFeedRecords(tables),
    judgedFeeds: judgedFeedTables(tables),
    ...(newLevel.length === 0 ? {} : { newLevelFeeds: newLevel }),
  };
}

/** What a load's report records of its quiet feeds (`LoadFigures.quietFeeds`), from its judgement. */
export function quietFeedRecords(tables: readonly TableTrend[]): QuietFeedRecord[] {
  return tables.flatMap((t) =>
    t.quiet && t.trailingMedian !== undefined && t.quietSince !== undefined
      ? [
          {
            table: t.table,
            rows: t.rows,
            trailingMedian: t.trailingMedian,
            trailingLoads: t.trailingLoads,
            since: t.quietSince,
          },
        ]
      : [],
  );
}

/**
 * Tables this load wrote no row to that earlier loads of the series fed: the load's resources and
 * their child tables (`accounts__bills`) alike. A report lists only the tables it wrote rows to, so
 * a child table that went empty is named by the earlier loads alone, and must stay judged while it
 * stays empty, as a root table does.
 */
function emptyRunTables(load: LoadFigures, earlier: readonly LoadFigures[]): string[] {
  const tables = new Set<string>();
  for (const l of earlier)
    for (const [t, rows] of Object.entries(l.rowsByTable))
      if (rows > 0 && isFeedTable(t) && (load.rowsByTable[t] ?? 0) === 0) tables.add(t);
  return [...tables];
}

/**
 * How many earlier loads of its series a table may have been empty for and still be judged
 * against the loads before its empty run. Beyond it, the scan stops looking for them: a table
 * that was never fed would otherwise have the commit read every report it may (REPORTS_SCANNED)
 * on every load, looking for a load that fed it. A dead feed stays flagged past it by the flag
 * the load before recorded (`QuietFeedRecord`), carried forward one load to the next.
 */
export const DEAD_FEED_LOADS = 50;

export interface LoadSignals {
  /** Failed users / users, in percent (0 for a load of no users). */
  readonly failedUserSharePercent: number;
  readonly failedUserShareHigh: boolean;
  /** The share was judged: the load had at least `minUsersForFailedShare` users. */
  readonly failedUserShareJudged: boolean;
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
  const shareJudged = failedShareJudged(load, settings);
  return {
    failedUserSharePercent: share,
    failedUserShareHigh: shareJudged && share > settings.failedUserSharePercent,
    failedUserShareJudged: shareJudged,
    tables,
    quietTables: tables.filter((t) => t.quiet).map((t) => t.table),
    lowestRatio: ratios.length > 0 ? Math.min(...ratios) : undefined,
    endpointUnavailable: [...new Set((load.endpointFindings ?? []).map((f) => f.resource))].sort(),
    runSeconds,
    outsideWindow:
      settings.runWindowSeconds === undefined ? undefined : runSeconds > settings.runWindowSeconds,
  };
}

/**
 * `a` committed before `b`: by commit time, then load id. The order a reader of the lake sees
 * loads appear in, and the commit of `b` saw: a re-run that started first but committed last
 * was not there for the loads committed before it, and they are there for it.
 */
export function committedBefore(a: LoadFigures, b: LoadFigures): boolean {
  if (a.loadId === b.loadId) return false;
  return a.committedAt < b.committedAt || (a.committedAt === b.committedAt && a.loadId < b.loadId);
}

/** Oldest commit first (`committedBefore`): the order of `status`'s last loads. */
export function byCommit<T extends LoadFigures>(loads: readonly T[]): T[] {
  return [...loads].sort((a, b) => (a.loadId === b.loadId ? 0 : committedBefore(a, b) ? -1 : 1));
}

/** The most earlier loads a table's median may be taken over (`trailingLoads`). */
export const MAX_TRAILING_LOADS = 50;

/** Feed tables some report wrote a row to. */
function fedTables(reports: readonly LoadFigures[]): string[] {
  const tables = new Set<string>();
  for (const r of reports)
    for (const [t, rows] of Object.entries(r.rowsByTable)) if (rows > 0 && isFeedTable(t)) tables.add(t);
  return [...tables];
}

/** `scanEarlier` over reports in any order (`status`, tests): newest start first, as the commit reads them. */
export function earlierLoads<T extends LoadFigures>(
  load: LoadFigures,
  reports: readonly T[],
  settings: Pick<QualitySettings, 'trailingLoads' | 'minExpectedRows'>,
): T[] {
  return earlierScanOf(load, reports, settings).loads;
}

/**
 * A committed load whose report could not be read: its id, and its commit time when its
 * `_dlt_loads` row gives it (`inserted_at`), so "earlier" is by commit order, as for the others.
 */
export interface UnreadableReport {
  readonly loadId: string;
  readonly committedAt?: string | undefined;
}

/**
 * `earlierLoads`, with the committed loads whose report could not be read (`unreadable`) placed
 * where the commit reads them: by the start time in the id (a custom id: last, as the commit
 * does). Returns which of them the scan passed: the load's judgement lacks them. One committed
 * after the load is passed over (its commit could not have read it): by its commit time when
 * known (a custom id such as `backfill-1` committed later is no earlier load), else by the start
 * time in its id (a custom id then counts as earlier: it may have been).
 */
export function earlierScanOf<T extends LoadFigures>(
  load: LoadFigures,
  reports: readonly T[],
  settings: Pick<QualitySettings, 'trailingLoads' | 'minExpectedRows'>,
  unreadable: readonly UnreadableReport[] = [],
): { loads: T[]; unreadable: string[] } {
  const startOf = (id: string) => loadIdTime(id)?.toISOString();
  const missing = unreadable
    .filter((u) => {
      if (u.loadId === load.loadId) return false;
      if (u.committedAt !== undefined)
        return (
          u.committedAt < load.committedAt || (u.committedAt === load.committedAt && u.loadId < load.loadId)
        );
      const at = startOf(u.loadId);
      return at === undefined || at < load.startedAt;
    })
    .map((u) => u.loadId);
  if (missing.length === 0)
    return {
      loads: scanEarlier(load, newestFirst(reports), settings, fedTables(reports)).loads,
      unreadable: [],
    };
  const entries: { at: string; id: string; report: T | undefined }[] = [
    ...reports.map((r) => ({ at: r.startedAt, id: r.loadId, report: r as T | undefined })),
    ...missing.map((id) => ({ at: startOf(id) ?? '', id, report: undefined })),
  ];
  entries.sort((a, b) => (a.at === b.at ? (a.id < b.id ? 1 : -1) : a.at < b.at ? 1 : -1));
  const scan = scanEarlier(
    load,
    entries.map((e) => e.report),
    settings,
    fedTables(reports),
  );
  return { loads: scan.loads, unreadable: scan.unreadableAt.map((at) => entries[at]!.id) };
}

/** Newest start first, then load id: the order reports are read in (a load id is its start time). */
function newestFirst<T extends LoadFigures>(loads: readonly T[]): T[] {
  return [...loads].sort((a, b) =>
    a.startedAt === b.startedAt ? (a.loadId < b.loadId ? 1 : -1) : a.startedAt < b.startedAt ? 1 : -1,
  );
}

/**
 * Reports read, newest start first, looking for a load's earlier loads: bounds the commit's
 * time and requests (about a second of parallel GETs). A series whose last `trailingLoads` loads
 * are further back than this (a daily schedule next to a 5-minute one: 2,016 reports a week)
 * is judged over the loads found, and not at all below `minTrailingLoads`.
 */
export const REPORTS_SCANNED = 1000;

export interface EarlierScan<T extends LoadFigures> {
  /** The loads compared with: same series, committed before the load, newest commit first. */
  readonly loads: T[];
  /** Readable reports looked at. */
  readonly reportsRead: number;
  /** Nothing more is needed: enough loads found, or REPORTS_SCANNED read. */
  readonly done: boolean;
  /**
   * Positions (in the reports given) of the unreadable ones the scan passed before it stopped:
   * any of them may have been one of the loads compared with, so the judgement is incomplete.
   */
  readonly unreadableAt: readonly number[];
}

const isReport = (r: unknown): r is LoadFigures =>
  typeof r === 'object' &&
  r !== null &&
  typeof (r as LoadFigures).loadId === 'string' &&
  typeof (r as LoadFigures).rowsByTable === 'object' &&
  (r as LoadFigures).rowsByTable !== null;

/**
 * The loads `load` is compared with, from committed loads' reports read newest start first
 * (undefined: unreadable, skipped and named in `unreadableAt`; those not committed before `load` are passed over), taken
 * newest commit first (`committedBefore`). One rule for the commit
 * (`readEarlierLoads`, reading the reports a few at a time) and `status` (all in memory), so
 * both judge a load over the same loads. Scans until it has the series' last `trailingLoads`
 * loads that loaded a user and, for a table of the load's resources that is empty now, the
 * `trailingLoads` loads before its run of empty loads (`tableTrends`); at most REPORTS_SCANNED
 * readable reports of loads committed before it.
 */
export function scanEarlier<T extends LoadFigures>(
  load: LoadFigures,
  reportsNewestFirst: readonly (T | undefined)[],
  settings: Pick<QualitySettings, 'trailingLoads' | 'minExpectedRows'>,
  knownTables: readonly string[] = [],
): EarlierScan<T> {
  // A child table empty for longer than the window is in no report found: the lake's tables name it.
  const roots = new Set(load.resources ?? []);
  const candidates = knownTables.filter((t) => roots.has(t.split('__')[0]!));
  const series = seriesOf(load);
  const found: T[] = [];
  const unreadableAt: number[] = [];
  let reportsRead = 0;
  for (const [at, report] of reportsNewestFirst.entries()) {
    // Unreadable: its series and commit time are unknown, so it may have been one of the loads
    // compared with; counted (the commit's TrailingLoadsUnreadable), the scan goes on without it.
    if (!isReport(report)) {
      if (reportsRead < REPORTS_SCANNED) unreadableAt.push(at);
      continue;
    }
    // Loads committed later are not counted: `status` judges an old load over what its commit
    // could read (a re-run that started earlier but committed later was not there yet).
    if (!committedBefore(report, load)) continue;
    if (reportsRead >= REPORTS_SCANNED)
      return { loads: latestCommitFirst(found), reportsRead, done: true, unreadableAt };
    reportsRead += 1;
    if (seriesOf(report) !== series) continue;
    found.push(report);
    if (enoughEarlier(load, latestCommitFirst(found), settings, candidates))
      return { loads: latestCommitFirst(found), reportsRead, done: true, unreadableAt };
  }
  return {
    loads: latestCommitFirst(found),
    reportsRead,
    done: reportsRead >= REPORTS_SCANNED,
    unreadableAt,
  };
}

const latestCommitFirst = <T extends LoadFigures>(loads: readonly T[]): T[] => byCommit(loads).reverse();

function enoughEarlier(
  load: LoadFigures,
  found: readonly LoadFigures[],
  settings: Pick<QualitySettings, 'trailingLoads' | 'minExpectedRows'>,
  knownTables: readonly string[],
): boolean {
  const usable = found.filter((l) => loadedUsers(l) > 0);
  const n = settings.trailingLoads;
  if (usable.length < n) return false;
  const users = loadedUsers(load);
  // Not judged (tableTrends): nothing to look for.
  if (users === 0) return true;
  const window = usable.slice(0, n);
  const tables = new Set([...(load.resources ?? []), ...knownTables, ...fedTables(found)]);
  const unfetched = unfetchedResources(load);
  const fetched = fetchedIn(usable);
  for (const table of tables) {
    if (!isFeedTable(table)) continue;
    // Not judged in this load (tableTrends): nothing to look for.
    if (unfetched.has(resourceOf(table))) continue;
    const win = fetched(window, table);
    // Not fetched in the whole window: not judged either (tableTrends), nothing to look for.
    if (win.length === 0) continue;
    const mine = fetched(usable, table);
    const baseline = baselineOf(mine, table);
    // Loads of the window flagged it quiet: the newest `n` loads that count are wanted instead
    // (tableTrends), while the quiet run is shorter than DEAD_FEED_LOADS; bounded as below.
    if (
      !win.every(baseline.counts) &&
      baseline.run < DEAD_FEED_LOADS &&
      mine.filter(baseline.counts).length < n &&
      usable.length <= DEAD_FEED_LOADS + n
    )
      return false;
    if (!isLow(scaledMedian(win, table, users), settings)) continue;
    // Low in most of the window: the newest `n` loads that were not low are wanted too,
    // past as many as DEAD_FEED_LOADS low ones; a table low in all of those loads (never fed,
    // or dead longer) is not judged and needs nothing more. Loads that did not fetch it are
    // passed over; the scan still stops DEAD_FEED_LOADS + n loads back whatever they were.
    if (usable.length > DEAD_FEED_LOADS + n) continue;
    const fed = fedLoads(mine, table, users, settings).filter(baseline.counts).length;
    if (fed >= n || (fed === 0 && mine.length > DEAD_FEED_LOADS)) continue;
    return false;
  }
  return true;
}

/**
 * `scanEarlier` straight from a lake: committed loads only (a `_dlt_loads` row,
 * committed-loads.ts: a report of a commit that stopped after publishing it, or of a retracted
 * run, is no load), reading their reports 16 at a time, newest start first.
 *
 * Order without reading every report: a dlt-style load id is its start time (`loadIdTime`); a
 * custom one (`--load-id backfill-1`) says nothing, so those reports are read first for their
 * `startedAt` (at most REPORTS_SCANNED of them, the last by key; they are rare). A load id sorted
 * as text put letter ids after every numeric one, so old custom-id loads were compared with
 * forever. Cost: at most REPORTS_SCANNED custom-id reports plus the scan's own REPORTS_SCANNED.
 */
export async function readEarlierLoads(
  store: ObjectStore,
  load: LoadFigures,
  settings: Pick<QualitySettings, 'trailingLoads' | 'minExpectedRows'>,
): Promise<EarlierLoadsRead> {
  const committed = await committedLoadIds(store);
  // The lake's tables name child tables that no recent report lists (empty for longer than the
  // window); without a readable registry only the tables the reports name are followed.
  const known = await readCommittedSchema(store).then(
    (registry) => registry.tables(),
    () => [],
  );
  const ids = (await store.list(loadsPrefix))
    .filter((k) => k.endsWith('.json'))
    .map((k) => k.slice(loadsPrefix.length, -'.json'.length))
    // Every committed load but this one.
    .filter((id) => committed.has(id) && id !== load.loadId)
    .sort();
  // A report that cannot be read (damaged JSON, AccessDenied, an S3 error after the client's
  // retries, gone since the listing) is kept as undefined with its reason: the scan passes over
  // it and the commit reports it, never drops it silently (a quiet feed would go unflagged).
  const reasons = new Map<string, string>();
  const read = async (id: string): Promise<LoadFigures | undefined> => {
    try {
      const report = await readJson<LoadFigures>(store, `${loadsPrefix}${id}.json`);
      if (report === undefined) reasons.set(id, 'gone since the listing');
      else if (!isReport(report)) reasons.set(id, 'not a load report');
      return report;
    } catch (error) {
      // An S3 error's words, or ours; never a parser's quote of the damaged report.
      reasons.set(id, safeErrorMessage(error));
      return undefined;
    }
  };
  const custom = ids.filter((id) => loadIdTime(id) === undefined).slice(-REPORTS_SCANNED);
  const customReports = new Map<string, LoadFigures | undefined>();
  for (let i = 0; i < custom.length; i += READ_CHUNK) {
    const chunk = custom.slice(i, i + READ_CHUNK);
    const got = await Promise.all(chunk.map(read));
    for (const [j, id] of chunk.entries()) customReports.set(id, got[j]);
  }
  const startOf = (id: string): number => {
    const t = loadIdTime(id)?.getTime() ?? Date.parse(customReports.get(id)?.startedAt ?? '');
    return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
  };
  const ordered = ids
    .filter((id) => loadIdTime(id) !== undefined || customReports.has(id))
    .map((id) => ({ id, at: startOf(id) }))
    .sort((a, b) => (a.at === b.at ? (a.id < b.id ? 1 : -1) : b.at - a.at))
    .map((e) => e.id);
  const reports: (LoadFigures | undefined)[] = [];
  let scan: EarlierScan<LoadFigures> = { loads: [], reportsRead: 0, done: false, unreadableAt: [] };
  for (let i = 0; i < ordered.length && !scan.done; i += READ_CHUNK) {
    const chunk = await Promise.all(
      ordered
        .slice(i, i + READ_CHUNK)
        .map((id) => (customReports.has(id) ? Promise.resolve(customReports.get(id)) : read(id))),
    );
    reports.push(...chunk);
    scan = scanEarlier(load, reports, settings, known);
  }
  // `reports` is in the order of `ordered`: a position is a load id.
  const unreadable = scan.unreadableAt.map((at) => {
    const loadId = ordered[at]!;
    return { loadId, reason: reasons.get(loadId) ?? 'unreadable' };
  });
  return { ...scan, unreadable };
}

/** `readEarlierLoads`'s scan, with the reports it could not read named. */
export interface EarlierLoadsRead extends EarlierScan<LoadFigures> {
  /** Committed loads whose report could not be read, in scan order, with why. */
  readonly unreadable: readonly { readonly loadId: string; readonly reason: string }[];
}

const READ_CHUNK = 16;
