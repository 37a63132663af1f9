/**
 * The data-quality part of `paylink-loader status`: the same signals the deployed stack alarms
 * on (lambdas/core/quality.ts), computed from the lake's load reports for the last loads.
 */
import { plural } from '#core/capacity.ts';
import { ConfigError } from '#core/errors.ts';
import {
  byCommit,
  coversSeries,
  earlierScanOf,
  failedShareNotJudgedReason,
  type LoadFigures,
  loadSignals,
  MAX_TRAILING_LOADS,
  MIN_EXPECTED_ROWS,
  MIN_USERS_FOR_FAILED_SHARE,
  type NotJudgedReason,
  QUALITY_DEFAULTS,
  type QualitySettings,
  type Series,
  seriesFacts,
  seriesOf,
  type UnreadableReport,
} from '#core/quality.ts';
import { MAX_EXPECTED_ROWS } from '#core/quality-config.ts';
import { type FlagRange, optionalNumberFlag } from './args.ts';
import { HOURS_SINCE_LOAD } from './flag-ranges.ts';
import { type StackQualityConfig, type StackQualityKey, stackQualitySettings } from './stack-config.ts';
import { renderTable } from './summary.ts';

export interface QualityOptions extends QualitySettings {
  /** Loads reported (the newest). */
  readonly last: number;
  /** Flag a load committed more than this many seconds after its start; undefined: not judged. */
  readonly runWindowSeconds: number | undefined;
  /**
   * Per schedule, when no `runWindowSeconds` is given: the stack's run windows (cdk.json
   * schedules, `status --stack-config`). A load of a schedule not named here is not judged.
   */
  readonly runWindowsBySchedule?: Readonly<Record<string, number>>;
  /**
   * Signals the stack's cdk.json switches off (`dataQuality.failedUserShare`, `quietFeed`,
   * `endpointUnavailable` false): the stack has no alarm for them, so status raises no flag for
   * them either (a table's rows against its median are still shown, as the metrics are still
   * written). `runOutsideWindow: false` leaves `runWindowsBySchedule` empty instead. Absent: none.
   */
  readonly signalsOff?: readonly SwitchableSignal[];
  /**
   * Per schedule: the seconds its newest committed load may be old, the stack's NoRecentSuccess
   * window (two periods, core/schedule-expression.ts `stalenessWindowSeconds`, cdk.json
   * schedules). A schedule named here with no committed load at all is flagged too.
   */
  readonly noRecentLoadBySchedule?: Readonly<Record<string, number>>;
  /**
   * The cdk.json was read because it is in the working folder, not named with --stack-config:
   * a schedule of it with no committed load in this lake is not flagged (a local lake beside a
   * CDK app holds `local` loads only; its deployed schedules load another bucket).
   */
  readonly staleSchedulesLoadedOnly?: boolean;
  /** `--max-hours-since-load`, in seconds: for every schedule of the lake, over the stack's. */
  readonly maxSecondsSinceLoad?: number;
}

/** The flags a cdk.json `dataQuality` switch turns off, by the flag's kind. */
export type SwitchableSignal = 'failed_user_share' | 'quiet_feed' | 'endpoint_unavailable';

/** The signals a stack's dataQuality switches off (no alarm), in the order flags are listed. */
export function signalsOffIn(q: {
  readonly failedUserShare: boolean;
  readonly quietFeed: boolean;
  readonly endpointUnavailable: boolean;
}): SwitchableSignal[] {
  return [
    ...(q.failedUserShare ? [] : ['failed_user_share' as const]),
    ...(q.quietFeed ? [] : ['quiet_feed' as const]),
    ...(q.endpointUnavailable ? [] : ['endpoint_unavailable' as const]),
  ];
}

export const QUALITY_OPTION_DEFAULTS: QualityOptions = {
  ...QUALITY_DEFAULTS,
  minExpectedRows: MIN_EXPECTED_ROWS,
  minUsersForFailedShare: MIN_USERS_FOR_FAILED_SHARE,
  last: 5,
  runWindowSeconds: undefined,
};

/** Flags of a load, as short words a script can match. */
export type QualityFlag =
  | { readonly kind: 'failed_user_share'; readonly percent: number }
  | {
      readonly kind: 'quiet_feed';
      readonly table: string;
      readonly rows: number;
      readonly trailingMedian: number;
      /** The table has been empty since this load (judged against the loads before it). */
      readonly emptySince?: string;
      /** The first load of the quiet run (as the load's report records it): this load, or an earlier one. */
      readonly since?: string;
    }
  | { readonly kind: 'endpoint_unavailable'; readonly resource: string }
  | { readonly kind: 'outside_window'; readonly runSeconds: number; readonly windowSeconds: number };

export interface LoadQuality {
  readonly loadId: string;
  /** The key of the loads it is compared with (quality.ts `seriesOf`): same schedule, users selection and tables. */
  readonly series: string;
  /** The same, spelled out: schedule (null in reports that do not name it), users selection, tables. */
  readonly schedule: string | null;
  readonly usersSelection: Series['usersSelection'];
  readonly seriesTables: readonly string[];
  readonly users: number;
  readonly failedUsers: number;
  readonly failedUserSharePercent: number;
  /**
   * Whether the share was judged (flagged when high, written as the FailedUserShare metric by the
   * deployed commit): a load of fewer than `minUsersForFailedShare` users is not, unless every
   * user of at least 2 failed (quality.ts `failedShareJudged`).
   */
  readonly failedUserShareJudged: boolean;
  /** Why it was not judged, when it was not: `6 users < 10`. */
  readonly failedUserShareNotJudged?: string;
  readonly runSeconds: number;
  /**
   * Earlier loads its trailing medians were taken over: the most any table used (the number the
   * commit logs), not the loads read only to look back past a table's empty run.
   */
  readonly trailingLoads: number;
  /**
   * Committed loads whose report could not be read and that may have been among those compared
   * with: the judgement is incomplete (the commit's TrailingLoadsUnreadable). Absent when none.
   */
  readonly unreadableEarlier?: readonly string[];
  readonly tables: readonly TableQuality[];
  readonly flags: readonly QualityFlag[];
}

/** A table of a load against its trailing median (quality.ts TableTrend), as `status --json` has it. */
export interface TableQuality {
  readonly table: string;
  readonly rows: number;
  /** The rows expected of this load (median rows per loaded user x its loaded users); null: not judged. */
  readonly trailingMedian: number | null;
  /** Earlier loads that median was taken over (the loads before its empty run, for a table that stayed empty). */
  readonly trailingLoads: number;
  /** rows / trailingMedian; null when not judged (median below MIN_EXPECTED_ROWS, or none). */
  readonly ratio: number | null;
  readonly quiet: boolean;
  /** A table empty for several loads: the first load of that run (judged against the loads before it). */
  readonly emptySince?: string;
  /** Set when quiet: the first load of the quiet run, as the load's report records it. */
  readonly since?: string;
  /**
   * The load did not fetch the table's resource (an endpoint finding disabled it, or a resource
   * above it): not judged, never quiet; the load's endpoint_unavailable flag says why.
   */
  readonly disabled?: true;
  /**
   * The table had been quiet on DEAD_FEED_LOADS loads in a row, at a level still judged: this
   * load took that lower level as the new normal (quality.ts `TableTrend.newLevel`).
   */
  readonly newLevel?: true;
  /**
   * Whether the table was judged for a quiet feed (a ratio against its trailing median): false
   * tells "not judged" from "judged and not quiet", which `quiet: false` alone cannot.
   */
  readonly judged: boolean;
  /** Why not, when `judged` is false: a stable code and the numbers (quality.ts `NotJudgedReason`). */
  readonly notJudgedReason?: NotJudgedReason;
}

/** `QualityOptions` as `status --json` prints them: the quiet fraction by its cdk.json name. */
export type QualityReportSettings = Omit<QualityOptions, 'quietFraction'> & {
  readonly quietFeedFraction: number;
};

/**
 * A schedule whose newest committed load is older than its window (`status` judges it only
 * with a window: the stack's schedules, or `--max-hours-since-load`): loads stopped, as the
 * stack's NoRecentSuccess alarm says. `schedule` null: the lake has no committed load at all.
 */
export interface NoRecentLoad {
  readonly kind: 'no_recent_load';
  readonly schedule: string | null;
  /** The schedule's newest committed load; null when none was ever committed. */
  readonly loadId: string | null;
  readonly committedAt: string | null;
  /** Seconds since that commit (null when none). */
  readonly secondsSince: number | null;
  readonly windowSeconds: number;
}

export interface QualityReport {
  readonly settings: QualityReportSettings;
  /** Where each setting came from: a flag, the stack's cdk.json (`status --stack-config`), or the default. */
  readonly sources?: SettingSources;
  /** The last `settings.last` committed loads, in the order they committed (oldest first). */
  readonly loads: readonly LoadQuality[];
  /**
   * The newest committed load of each schedule (reports that name none: of each series of
   * tables), judged: what `--fail-on-signals` exits on. In the order their newest loads committed.
   */
  readonly verdicts: readonly SeriesVerdict[];
  /**
   * Schedules whose loads stopped (`NoRecentLoad`): judged at `status`'s time, what
   * `--fail-on-signals` exits on too. Empty without a window or a time to judge at.
   */
  readonly noRecentLoad: readonly NoRecentLoad[];
}

/**
 * The newest load of a series and its flags, until a later load of its schedule covers it (all
 * users or the same selection, at least its tables): the state that schedule's alarms hold.
 */
export interface SeriesVerdict {
  readonly series: string;
  readonly schedule: string | null;
  readonly usersSelection: Series['usersSelection'];
  readonly seriesTables: readonly string[];
  readonly loadId: string;
  readonly flagged: boolean;
  readonly flags: readonly QualityFlag[];
}

/**
 * `reports`: the committed loads' reports, in any order. The last loads are the last to commit
 * (the order a reader saw them appear; a re-run that started first but committed last is the
 * latest), and each is compared with the loads the deployed commit compared it with (quality.ts
 * `scanEarlier`: committed before it).
 */
/** The run window a load is judged by: the flag's, else its schedule's in the stack's config. */
export function runWindowOf(load: LoadFigures, settings: QualityOptions): number | undefined {
  if (settings.runWindowSeconds !== undefined) return settings.runWindowSeconds;
  const windows = settings.runWindowsBySchedule;
  return windows !== undefined && typeof load.schedule === 'string' && Object.hasOwn(windows, load.schedule)
    ? windows[load.schedule]
    : undefined;
}

export function qualityReport(
  reports: readonly LoadFigures[],
  settings: QualityOptions,
  sources?: SettingSources,
  unreadable: readonly UnreadableReport[] = [],
  now?: Date,
): QualityReport {
  const committed = byCommit(reports);
  const judged = new Map<string, LoadQuality>();
  const judge = (load: LoadFigures): LoadQuality => {
    const known = judged.get(load.loadId);
    if (known !== undefined) return known;
    const quality = loadQuality(load, reports, settings, unreadable);
    judged.set(load.loadId, quality);
    return quality;
  };
  const loads = committed.slice(-settings.last).map(judge);
  // The newest load of each series, until a later load of the same schedule covers it (all
  // users, or the same selection, and at least its tables). A flagged daily load is not hidden
  // by a clean quarter-hourly load (another schedule); a one-off load (a --users-from-failed
  // retry, a --resources subset) is judged until a load that covers it, not for good; and a
  // subset load after a flagged full load does not hide the full load's flag (locally every load
  // is schedule `local`: a daily full load and an hourly subset share it).
  const newest = new Map<string, LoadFigures>();
  const covers = (later: LoadFigures, earlier: LoadFigures) =>
    coversSeries(seriesFacts(later), seriesFacts(earlier));
  // Reports that do not name their schedule (written before reports did) form series of their
  // own: once a later load names its schedule, the lake was upgraded and those series are
  // history, never a verdict that fails every later run.
  const lastNamed = committed.findLastIndex((l) => typeof l.schedule === 'string');
  for (const [i, load] of committed.entries()) {
    if (typeof load.schedule !== 'string' && i < lastNamed) continue;
    for (const [key, earlier] of newest) if (covers(load, earlier)) newest.delete(key);
    // Re-inserted: the series are in the order their newest loads committed.
    newest.delete(seriesOf(load));
    newest.set(seriesOf(load), load);
  }
  const verdicts = [...newest.values()].map((load): SeriesVerdict => {
    const q = judge(load);
    return {
      series: q.series,
      schedule: q.schedule,
      usersSelection: q.usersSelection,
      seriesTables: q.seriesTables,
      loadId: q.loadId,
      flagged: q.flags.length > 0,
      flags: q.flags,
    };
  });
  const { quietFraction, ...rest } = settings;
  return {
    settings: { ...rest, quietFeedFraction: quietFraction },
    ...(sources === undefined ? {} : { sources }),
    loads,
    verdicts,
    noRecentLoad: now === undefined ? [] : noRecentLoads(committed, settings, now),
  };
}

/**
 * The schedules whose newest committed load (by commit time) is older than their window at
 * `now`: `--max-hours-since-load` for every schedule of the lake and of the stack, else each
 * stack schedule's NoRecentSuccess window. A window with no load at all: flagged, loadId null.
 */
export function noRecentLoads(
  committed: readonly LoadFigures[],
  settings: Pick<
    QualityOptions,
    'noRecentLoadBySchedule' | 'maxSecondsSinceLoad' | 'staleSchedulesLoadedOnly'
  >,
  now: Date,
): NoRecentLoad[] {
  const byStack = settings.noRecentLoadBySchedule ?? {};
  const flag = settings.maxSecondsSinceLoad;
  const newest = new Map<string, LoadFigures>();
  for (const load of committed) if (typeof load.schedule === 'string') newest.set(load.schedule, load);
  const windows = new Map<string, number>();
  for (const [name, seconds] of Object.entries(byStack)) windows.set(name, flag ?? seconds);
  if (flag !== undefined) for (const name of newest.keys()) windows.set(name, flag);
  const out: NoRecentLoad[] = [];
  // An empty lake under --max-hours-since-load and no stack schedules: no load was ever committed.
  if (flag !== undefined && committed.length === 0 && windows.size === 0)
    out.push({
      kind: 'no_recent_load',
      schedule: null,
      loadId: null,
      committedAt: null,
      secondsSince: null,
      windowSeconds: flag,
    });
  for (const [schedule, windowSeconds] of windows) {
    const load = newest.get(schedule);
    if (load === undefined) {
      if (settings.staleSchedulesLoadedOnly === true) continue;
      out.push({
        kind: 'no_recent_load',
        schedule,
        loadId: null,
        committedAt: null,
        secondsSince: null,
        windowSeconds,
      });
      continue;
    }
    const since = (now.getTime() - Date.parse(load.committedAt)) / 1000;
    if (since > windowSeconds)
      out.push({
        kind: 'no_recent_load',
        schedule,
        loadId: load.loadId,
        committedAt: load.committedAt,
        secondsSince: Math.round(since),
        windowSeconds,
      });
  }
  return out;
}

/** A `no_recent_load` flag in words. */
export function noRecentLoadWords(f: NoRecentLoad): string {
  // Under a minute in seconds: --max-hours-since-load 0.001 is a 3.6 s window, not "0 h".
  const window = f.windowSeconds < 60 ? `${round(f.windowSeconds)} s` : `${round(f.windowSeconds / 3600)} h`;
  if (f.schedule === null) return `no load was ever committed (--max-hours-since-load ${window})`;
  if (f.loadId === null) return `schedule ${f.schedule}: no load was ever committed (window ${window})`;
  return `schedule ${f.schedule}: newest load ${f.loadId} committed ${f.committedAt}, ${round(f.secondsSince! / 3600)} h ago, over its ${window} window`;
}

/**
 * One load's signals over the loads its commit compared it with, as `status` reports them (and
 * `status --load-id`, load-quality.ts).
 */
export function loadQuality(
  load: LoadFigures,
  reports: readonly LoadFigures[],
  settings: QualityOptions,
  unreadable: readonly UnreadableReport[],
): LoadQuality {
  const scan = earlierScanOf(load, reports, settings, unreadable);
  const earlier = scan.loads;
  const signals = loadSignals(load, earlier, {
    ...settings,
    runWindowSeconds: runWindowOf(load, settings),
  });
  const failedPercent = sidedRound(signals.failedUserSharePercent, settings.failedUserSharePercent, 'above');
  const off = new Set<string>(settings.signalsOff ?? []);
  const raised: QualityFlag[] = [
    ...(signals.failedUserShareHigh ? [{ kind: 'failed_user_share', percent: failedPercent } as const] : []),
    ...signals.tables
      .filter((t) => t.quiet)
      .map(
        (t) =>
          ({
            kind: 'quiet_feed',
            table: t.table,
            rows: t.rows,
            trailingMedian: round(t.trailingMedian!),
            ...(t.emptySince === undefined ? {} : { emptySince: t.emptySince }),
            ...(t.quietSince === undefined ? {} : { since: t.quietSince }),
          }) as const,
      ),
    ...signals.endpointUnavailable.map((resource) => ({ kind: 'endpoint_unavailable', resource }) as const),
    ...(signals.outsideWindow
      ? [
          {
            kind: 'outside_window',
            runSeconds: round(signals.runSeconds),
            windowSeconds: runWindowOf(load, settings) ?? 0,
          } as const,
        ]
      : []),
  ];
  // A signal the stack has no alarm for raises no flag here either.
  const flags = raised.filter((f) => !off.has(f.kind));
  const facts = seriesFacts(load);
  const notJudged = failedShareNotJudgedReason(load, settings);
  return {
    loadId: load.loadId,
    series: seriesOf(load),
    schedule: facts.schedule ?? null,
    usersSelection: facts.usersSelection,
    seriesTables: facts.tables,
    users: load.users,
    failedUsers: load.failedUserCount,
    failedUserSharePercent: failedPercent,
    failedUserShareJudged: signals.failedUserShareJudged,
    ...(notJudged === undefined ? {} : { failedUserShareNotJudged: notJudged }),
    runSeconds: round(signals.runSeconds),
    // What the medians used (the commit's log line too): `earlier` also holds the loads
    // read only to look back past a table's empty run.
    trailingLoads: Math.max(0, ...signals.tables.map((t) => t.trailingLoads)),
    ...(scan.unreadable.length === 0 ? {} : { unreadableEarlier: scan.unreadable }),
    tables: signals.tables.map(
      (t): TableQuality => ({
        table: t.table,
        rows: t.rows,
        trailingMedian: t.trailingMedian === undefined ? null : round(t.trailingMedian),
        trailingLoads: t.trailingLoads,
        ratio: t.ratio === undefined ? null : sidedRound(t.ratio, settings.quietFraction),
        quiet: t.quiet,
        ...(t.emptySince === undefined ? {} : { emptySince: t.emptySince }),
        ...(t.quiet && t.quietSince !== undefined ? { since: t.quietSince } : {}),
        ...(t.disabled === true ? { disabled: true as const } : {}),
        ...(t.newLevel === true ? { newLevel: true as const } : {}),
        judged: t.ratio !== undefined,
        ...(t.ratio !== undefined || t.notJudged === undefined
          ? {}
          : { notJudgedReason: shownReason(t.notJudged) }),
      }),
    ),
    flags,
  };
}

/** A reason as `status` shows it: the trailing median rounded as in its column. */
function shownReason(reason: NotJudgedReason): NotJudgedReason {
  return reason.code === 'median_below_min_rows'
    ? { ...reason, trailingMedian: round(reason.trailingMedian) }
    : reason;
}

/** Why a table was not judged, in the flag column's words: `not judged (1 earlier load, fewer than 2)`. */
export function notJudgedWords(reason: NotJudgedReason): string {
  switch (reason.code) {
    case 'endpoint_unavailable':
      return 'disabled (endpoint unavailable)';
    case 'no_loaded_users':
      return 'not judged (no loaded user)';
    case 'too_few_loads':
      return `not judged (${plural(reason.trailingLoads, 'earlier load')}, fewer than ${reason.minTrailingLoads})`;
    case 'median_below_min_rows':
      return `not judged (${reason.trailingMedian} rows expected, fewer than ${reason.minExpectedRows})`;
  }
}

const round = (n: number) => Math.round(n * 100) / 100;
/** A trailing median as status shows it (and `load`'s summary, which must agree). */
export const roundMedian = round;

/**
 * `value` rounded to 2 decimals, or to as many more as keep it on its side of `threshold`: a
 * ratio of 0.499 under "quiet below 0.5" prints 0.499, never a 0.5 flagged QUIET; a failed share
 * of 5.004% under "failed users above 5%" (`side` 'above') prints 5.004, never a flagged 5.
 */
export function sidedRound(value: number, threshold: number, side: 'below' | 'above' = 'below'): number {
  const beyond = (v: number) => (side === 'below' ? v < threshold : v > threshold);
  for (let digits = 2; digits < 12; digits += 1) {
    const scale = 10 ** digits;
    const r = Math.round(value * scale) / scale;
    if (beyond(r) === beyond(value)) return r;
  }
  return value;
}

/** `loadId`: the flagged load; a quiet run that started with it needs no 'since'. */
export function flagWords(flag: QualityFlag, loadId?: string): string {
  switch (flag.kind) {
    case 'failed_user_share':
      return `failed users ${flag.percent}%`;
    case 'quiet_feed':
      return `quiet feed ${flag.table} (${flag.rows} rows, trailing median ${flag.trailingMedian}${flag.emptySince === undefined ? '' : `; ${flag.rows === 0 ? 'empty' : 'low'} since load ${flag.emptySince}`}${flag.since === undefined || flag.since === flag.emptySince || flag.since === loadId ? '' : `; quiet since load ${flag.since}`})`;
    case 'endpoint_unavailable':
      return `endpoint unavailable: ${flag.resource}`;
    case 'outside_window':
      return `committed ${flag.runSeconds} s after its start, outside its ${flag.windowSeconds} s window`;
  }
}

/** A load's series in words: `daily, changed users` (reports that name no schedule: their tables). */
export function seriesWords(l: Pick<LoadQuality, 'schedule' | 'usersSelection' | 'seriesTables'>): string {
  return l.schedule === null
    ? `tables ${l.seriesTables.join(',') || '-'}`
    : `${l.schedule}, ${l.usersSelection} users`;
}

/** A run window as an operator reads it: hours from an hour (77760 s: 21.6 h), else minutes. */
export function durationWords(seconds: number): string {
  return seconds >= 3600 ? `${round(seconds / 3600)} h` : `${round(seconds / 60)} min`;
}

type SeriesOfLoad = Pick<LoadQuality, 'schedule' | 'usersSelection' | 'seriesTables'>;

/**
 * `seriesWords` among other series (`all`): the tables are named when the series is a subset of
 * another of the same schedule and users (`local, all users, tables accounts`), so a full load's
 * series and a `--resources accounts` load's never read the same.
 */
export function seriesWordsAmong(all: readonly SeriesOfLoad[]): (l: SeriesOfLoad) => string {
  return (l) => {
    const words = seriesWords(l);
    if (l.schedule === null) return words;
    const subset = all.some(
      (o) =>
        o.schedule === l.schedule &&
        o.usersSelection === l.usersSelection &&
        o.seriesTables.some((t) => !l.seriesTables.includes(t)),
    );
    return subset ? `${words}, tables ${l.seriesTables.join(',') || '-'}` : words;
  };
}

/** The text section of `status`. */
export function formatQuality(report: QualityReport): string[] {
  const s = report.settings;
  // Loads that stopped come first: no load is the one signal the loads' own flags cannot show.
  const stopped =
    report.noRecentLoad.length === 0
      ? []
      : [
          "No recent load (--fail-on-signals exits 9; the NoRecentSuccess alarm's window: two schedule periods):",
          ...report.noRecentLoad.map((f) => `  ${noRecentLoadWords(f)}`),
          '',
        ];
  if (report.loads.length === 0)
    return [...stopped, 'Data quality: no committed loads yet; the signals start with the first load.'];
  const seriesLabel = seriesWordsAmong([...report.loads, ...report.verdicts]);
  const out = [
    `Data quality (last ${plural(report.loads.length, 'load')}; trailing median of each table's rows per loaded user over up to ${plural(s.trailingLoads, 'earlier load')} of the same series (schedule, users selection and tables), judged from ${plural(s.minTrailingLoads, 'load')}; quiet below ${s.quietFeedFraction} x; failed users above ${s.failedUserSharePercent}%):`,
    renderTable(
      ['load_id', 'series', 'users', 'failed_%', 'compared_with', 'flags'],
      report.loads.map((l) => [
        l.loadId,
        seriesLabel(l),
        String(l.users),
        // Said when some user failed: a share of 0 would raise no flag either way.
        l.failedUserShareNotJudged === undefined || l.failedUsers === 0
          ? String(l.failedUserSharePercent)
          : `${l.failedUserSharePercent} (not judged: ${l.failedUserShareNotJudged})`,
        plural(l.trailingLoads, 'load'),
        // Counted here, listed below: a cell of every flag's words made the table unreadable.
        l.flags.length === 0 ? '-' : plural(l.flags.length, 'flag'),
      ]),
    ),
  ];
  const sources = report.sources;
  if (sources !== undefined && Object.values(sources).some((from) => from !== 'default')) {
    const value: Record<SettingName, string> = {
      trailingLoads: String(s.trailingLoads),
      minTrailingLoads: String(s.minTrailingLoads),
      quietFeedFraction: String(s.quietFeedFraction),
      failedUserSharePercent: `${s.failedUserSharePercent}%`,
      minExpectedRows: String(s.minExpectedRows ?? MIN_EXPECTED_ROWS),
      minUsersForFailedShare: String(s.minUsersForFailedShare ?? MIN_USERS_FOR_FAILED_SHARE),
    };
    const words = SETTING_NAMES.map((name) => `${name} ${value[name]} (${sources[name]})`);
    // Said under the header: a judgement differs from the deployed alarm's only by these.
    out.splice(1, 0, `Settings: ${words.join(', ')}`);
  }
  const windows = s.runWindowsBySchedule;
  if (windows !== undefined)
    out.splice(
      1,
      0,
      `Run windows (the stack's schedules): ${Object.entries(windows)
        .map(([name, seconds]) => `${name} ${durationWords(seconds)}`)
        .join(', ')}`,
    );
  const off = s.signalsOff ?? [];
  if (off.length > 0)
    out.splice(1, 0, `Signals off (the stack's dataQuality, no alarm; not flagged here): ${off.join(', ')}`);
  const flagged = report.loads.filter((l) => l.flags.length > 0);
  if (flagged.length > 0) {
    out.push('', 'Flags:');
    for (const l of flagged)
      for (const flag of l.flags) out.push(`  ${l.loadId}  ${flagWords(flag, l.loadId)}`);
  }
  if (report.verdicts.length > 1) {
    // Each schedule has alarms of its own: the newest load of each, whatever committed after it.
    out.push(
      '',
      `Newest load of each series not covered by a later load (${report.verdicts.length}; --fail-on-signals exits 9 when one has a flag):`,
    );
    for (const v of report.verdicts)
      out.push(
        `  ${seriesLabel(v)}  ${v.loadId}  ${v.flags.length === 0 ? 'no flag' : v.flags.map((f) => flagWords(f, v.loadId)).join('; ')}`,
      );
  }
  const incomplete = report.loads.filter((l) => (l.unreadableEarlier?.length ?? 0) > 0);
  if (incomplete.length > 0) {
    // A quiet feed may hide behind an unreadable report: no flag is not "all well" for these.
    out.push(
      '',
      'Judgement incomplete (earlier load reports that could not be read; judged with the readable ones):',
    );
    for (const l of incomplete) {
      const ids = l.unreadableEarlier!;
      out.push(
        `  ${l.loadId}  without ${plural(ids.length, 'earlier load')}: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}`,
      );
    }
  }
  const latest = report.loads.at(-1)!;
  out.push(...formatLoadTables(latest, off));
  return [...stopped, ...out];
}

/**
 * A load's rows per table against their trailing medians, with each table's flag: quiet, not
 * judged and why, disabled. The last section of `status`, and of `status --load-id`. No line when
 * the load has no feed table.
 */
export function formatLoadTables(latest: LoadQuality, off: readonly SwitchableSignal[] = []): string[] {
  if (latest.tables.length === 0) return [];
  const out: string[] = [];
  const tables = latest.seriesTables.length > 0 ? ` (tables ${latest.seriesTables.join(', ')})` : '';
  out.push(
    '',
    latest.schedule === null
      ? `Rows per table in ${latest.loadId} against the trailing median of ${plural(latest.trailingLoads, 'earlier load')} of the same tables${tables}:`
      : `Rows per table in ${latest.loadId} against the trailing median of ${plural(latest.trailingLoads, 'earlier load')} of schedule ${latest.schedule}, ${latest.usersSelection} users${tables}:`,
    // The header speaks of rows per loaded user; the column is that median scaled to this load.
    `(trailing_median: the rows expected of this load, the median of rows per loaded user x its ${plural(Math.max(0, latest.users - latest.failedUsers), 'loaded user')})`,
  );
  out.push(
    renderTable(
      ['table', 'rows', 'trailing_median', 'ratio', 'flag'],
      latest.tables.map((t) => [
        t.table,
        String(t.rows),
        t.trailingMedian === null ? '-' : String(t.trailingMedian),
        t.ratio === null ? '-' : String(t.ratio),
        tableFlagWords(t, latest.loadId, off),
      ]),
    ),
  );
  return out;
}

/** The flag column of one table of `loadId`. */
function tableFlagWords(t: TableQuality, loadId: string, off: readonly SwitchableSignal[]): string {
  if (t.disabled === true) return 'disabled (endpoint unavailable)';
  if (!t.judged) return t.notJudgedReason === undefined ? '-' : notJudgedWords(t.notJudgedReason);
  if (t.quiet && off.includes('quiet_feed')) return 'quiet (signal off)';
  if (t.quiet)
    return t.emptySince === undefined
      ? t.since === undefined || t.since === loadId
        ? 'QUIET since this load'
        : `QUIET since ${t.since}`
      : `QUIET, ${t.rows === 0 ? 'empty' : 'low'} since ${t.emptySince}`;
  return t.newLevel === true ? 'new level accepted' : '-';
}

/** The quality flags of `status`, as typed. */
export interface QualityFlagValues {
  readonly last?: string | undefined;
  readonly 'trailing-loads'?: string | undefined;
  readonly 'min-trailing-loads'?: string | undefined;
  readonly 'quiet-fraction'?: string | undefined;
  readonly 'failed-share'?: string | undefined;
  readonly 'min-expected-rows'?: string | undefined;
  readonly 'run-window-minutes'?: string | undefined;
  readonly 'max-hours-since-load'?: string | undefined;
}

export const QUALITY_FLAGS = [
  'last',
  'trailing-loads',
  'min-trailing-loads',
  'quiet-fraction',
  'failed-share',
  'min-expected-rows',
  'run-window-minutes',
  'max-hours-since-load',
] as const satisfies readonly (keyof QualityFlagValues)[];

/** A decimal number as a person types it: digits, at most one point (no sign, exponent or hex). */

/** The most loads `--last` reports (each is compared with its own earlier loads). */
export const MAX_LAST = 10_000;

/**
 * The longest run window: a schedule's period is at most 3.5 days (synth: its staleness alarm
 * watches two periods, and CloudWatch watches 7 days at most), and a run ends within it.
 */
export const MAX_RUN_WINDOW_MINUTES = 3.5 * 24 * 60;

/** The settings a flag or the stack's cdk.json can set: flag, cdk.json key, QualityOptions key. */
const SETTINGS = [
  { flag: '--trailing-loads', stackKey: 'trailingLoads', option: 'trailingLoads' },
  { flag: '--min-trailing-loads', stackKey: 'minTrailingLoads', option: 'minTrailingLoads' },
  { flag: '--quiet-fraction', stackKey: 'quietFeedFraction', option: 'quietFraction' },
  { flag: '--failed-share', stackKey: 'failedUserSharePercent', option: 'failedUserSharePercent' },
  { flag: '--min-expected-rows', stackKey: 'minExpectedRows', option: 'minExpectedRows' },
] as const satisfies readonly {
  flag: `--${keyof QualityFlagValues}`;
  stackKey: StackQualityKey;
  option: keyof QualitySettings;
}[];

/**
 * A data-quality setting by its cdk.json name (`status --json` `settings` and `sources`): those a
 * flag sets, and `minUsersForFailedShare`, which only the stack's cdk.json sets.
 */
export type SettingName = StackQualityKey;
const SETTING_NAMES: readonly SettingName[] = [...SETTINGS.map((x) => x.stackKey), 'minUsersForFailedShare'];

/** Where each data-quality setting of `status` came from: `--quiet-fraction`, `cdk.json`, `default`. */
export type SettingSources = Readonly<Record<SettingName, string>>;

/** The flag wins, then the stack's cdk.json (keys it sets, or its defaults), then the CLI's default. */
export function settingSources(values: QualityFlagValues, stack?: StackQualityConfig): SettingSources {
  const out = {} as Record<SettingName, string>;
  for (const s of SETTINGS) {
    const typed = values[s.flag.slice(2) as keyof QualityFlagValues] !== undefined;
    out[s.stackKey] = typed
      ? s.flag
      : stack === undefined
        ? 'default'
        : stack.given.has(s.stackKey)
          ? `${stack.file} ${s.stackKey}`
          : `${stack.file} (the stack's default)`;
  }
  // No flag sets it: the stack's cdk.json, or the default.
  const key = 'minUsersForFailedShare';
  out[key] =
    stack === undefined
      ? 'default'
      : stack.given.has(key)
        ? `${stack.file} ${key}`
        : `${stack.file} (the stack's default)`;
  return out;
}

/** The defaults of the options, with the stack's dataQuality (cdk.json) in place of ours. */
function baseOptions(stack: StackQualityConfig | undefined): QualityOptions {
  if (stack === undefined) return QUALITY_OPTION_DEFAULTS;
  const signalsOff = signalsOffIn(stack.dataQuality);
  return {
    ...QUALITY_OPTION_DEFAULTS,
    ...stackQualitySettings(stack),
    ...(signalsOff.length === 0 ? {} : { signalsOff }),
  };
}

/**
 * The quality flags of `status`, validated (errors name the flag), over the stack's settings
 * when a cdk.json gives them (`stack`), else the defaults.
 */
export function parseQualityFlags(values: QualityFlagValues, stack?: StackQualityConfig): QualityOptions {
  // The strict parser of every command's numeric flags (args.ts): decimal digits, a range named.
  const number = (flag: string, raw: string | undefined, fallback: number, range: FlagRange) =>
    optionalNumberFlag(flag, raw, range, fallback);
  const d = baseOptions(stack);
  // Where a value not typed comes from, in the error about the other flag: named by its key in
  // the file when the file sets it, else as the default (the stack's, when a cdk.json was read
  // that leaves the key out), and never as a flag the user did not give.
  const source = (key: StackQualityKey, flag: string, value: number) =>
    stack === undefined
      ? `${flag} not given: its default ${value}`
      : stack.given.has(key)
        ? `${key} ${value} in ${stack.file}; ${flag} overrides it`
        : `${flag} not given: the stack's default ${value}, as ${stack.file} does not set ${key}`;
  const window: FlagRange = { min: 1, max: MAX_TRAILING_LOADS, whole: true };
  const trailingLoads = number('--trailing-loads', values['trailing-loads'], d.trailingLoads, window);
  const minTrailingLoads = number(
    '--min-trailing-loads',
    values['min-trailing-loads'],
    d.minTrailingLoads,
    window,
  );
  // Never lowered silently: a median over fewer loads than asked for is the user's choice.
  if (minTrailingLoads > trailingLoads)
    throw values['min-trailing-loads'] === undefined
      ? new ConfigError(
          '--trailing-loads',
          `${trailingLoads} is fewer than the ${plural(minTrailingLoads, 'earlier load')} a table is judged from (${source('minTrailingLoads', '--min-trailing-loads', d.minTrailingLoads)}): give --min-trailing-loads ${trailingLoads} too`,
        )
      : new ConfigError(
          '--min-trailing-loads',
          `${minTrailingLoads} is more than the ${plural(trailingLoads, 'earlier load')} the median is taken over (${values['trailing-loads'] === undefined ? source('trailingLoads', '--trailing-loads', d.trailingLoads) : '--trailing-loads'})`,
        );
  const windowMinutes = values['run-window-minutes'];
  const sinceHours = values['max-hours-since-load'];
  const staleness = stack?.stalenessWindows ?? {};
  return {
    ...d,
    ...(Object.keys(staleness).length > 0 ? { noRecentLoadBySchedule: staleness } : {}),
    ...(stack?.implicit === true ? { staleSchedulesLoadedOnly: true } : {}),
    ...(sinceHours === undefined
      ? {}
      : { maxSecondsSinceLoad: number('--max-hours-since-load', sinceHours, 0, HOURS_SINCE_LOAD) * 3600 }),
    last: number('--last', values.last, d.last, { min: 1, max: MAX_LAST, whole: true }),
    trailingLoads,
    minTrailingLoads,
    quietFraction: number('--quiet-fraction', values['quiet-fraction'], d.quietFraction, {
      min: 0,
      max: 1,
      whole: false,
      aboveMin: true,
    }),
    failedUserSharePercent: number('--failed-share', values['failed-share'], d.failedUserSharePercent, {
      // Below 100, as cdk.json's failedUserSharePercent: the flag is a share above it, and no
      // share is above 100.
      min: 0,
      max: 100,
      belowMax: true,
      whole: false,
      words: 'a percentage from 0 to below 100',
    }),
    minExpectedRows: number(
      '--min-expected-rows',
      values['min-expected-rows'],
      d.minExpectedRows ?? MIN_EXPECTED_ROWS,
      { min: 0, max: MAX_EXPECTED_ROWS, whole: true },
    ),
    ...(windowMinutes === undefined && stack !== undefined && Object.keys(stack.runWindows).length > 0
      ? { runWindowsBySchedule: stack.runWindows }
      : {}),
    runWindowSeconds:
      windowMinutes === undefined
        ? undefined
        : number('--run-window-minutes', windowMinutes, 0, {
            min: 0,
            max: MAX_RUN_WINDOW_MINUTES,
            whole: false,
            aboveMin: true,
            words: `a number of minutes above 0 and at most ${MAX_RUN_WINDOW_MINUTES} (3.5 days, the longest schedule period)`,
          }) * 60,
  };
}
