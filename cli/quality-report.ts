/**
 * The data-quality part of `paylink-loader status`: the same signals the deployed stack alarms
 * on (lambdas/core/quality.ts), computed from the lake's load reports for the last loads.
 */
import { plural } from '#core/capacity.ts';
import { ConfigError } from '#core/errors.ts';
import {
  earlierLoads,
  type LoadFigures,
  loadSignals,
  MAX_TRAILING_LOADS,
  MIN_EXPECTED_ROWS,
  QUALITY_DEFAULTS,
  type QualitySettings,
  type Series,
  seriesFacts,
  seriesOf,
} from '#core/quality.ts';
import { renderTable } from './summary.ts';

export interface QualityOptions extends QualitySettings {
  /** Loads reported (the newest). */
  readonly last: number;
  /** Flag a load committed more than this many seconds after its start; undefined: not judged. */
  readonly runWindowSeconds: number | undefined;
}

export const QUALITY_OPTION_DEFAULTS: QualityOptions = {
  ...QUALITY_DEFAULTS,
  minExpectedRows: MIN_EXPECTED_ROWS,
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
    }
  | { readonly kind: 'endpoint_unavailable'; readonly resource: string }
  | { readonly kind: 'outside_window'; readonly runSeconds: number };

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
  readonly runSeconds: number;
  /** Earlier loads its trailing medians were taken over. */
  readonly trailingLoads: number;
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
}

export interface QualityReport {
  readonly settings: QualityOptions;
  /** Oldest first, the last `settings.last` committed loads. */
  readonly loads: readonly LoadQuality[];
}

/**
 * `reports`: the committed loads' reports, in load order (oldest first). Each load is compared
 * with the loads the deployed commit compares it with (quality.ts `scanEarlier`).
 */
export function qualityReport(reports: readonly LoadFigures[], settings: QualityOptions): QualityReport {
  const loads = reports.slice(-settings.last).map((load): LoadQuality => {
    const earlier = earlierLoads(load, reports, settings);
    const signals = loadSignals(load, earlier, settings);
    const failedPercent = sidedRound(
      signals.failedUserSharePercent,
      settings.failedUserSharePercent,
      'above',
    );
    const flags: QualityFlag[] = [
      ...(signals.failedUserShareHigh
        ? [{ kind: 'failed_user_share', percent: failedPercent } as const]
        : []),
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
            }) as const,
        ),
      ...signals.endpointUnavailable.map((resource) => ({ kind: 'endpoint_unavailable', resource }) as const),
      ...(signals.outsideWindow
        ? [{ kind: 'outside_window', runSeconds: round(signals.runSeconds) } as const]
        : []),
    ];
    const facts = seriesFacts(load);
    return {
      loadId: load.loadId,
      series: seriesOf(load),
      schedule: facts.schedule ?? null,
      usersSelection: facts.usersSelection,
      seriesTables: facts.tables,
      users: load.users,
      failedUsers: load.failedUserCount,
      failedUserSharePercent: failedPercent,
      runSeconds: round(signals.runSeconds),
      trailingLoads: earlier.length,
      tables: signals.tables.map(
        (t): TableQuality => ({
          table: t.table,
          rows: t.rows,
          trailingMedian: t.trailingMedian === undefined ? null : round(t.trailingMedian),
          trailingLoads: t.trailingLoads,
          ratio: t.ratio === undefined ? null : sidedRound(t.ratio, settings.quietFraction),
          quiet: t.quiet,
          ...(t.emptySince === undefined ? {} : { emptySince: t.emptySince }),
        }),
      ),
      flags,
    };
  });
  return { settings, loads };
}

const round = (n: number) => Math.round(n * 100) / 100;

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

export function flagWords(flag: QualityFlag): string {
  switch (flag.kind) {
    case 'failed_user_share':
      return `failed users ${flag.percent}%`;
    case 'quiet_feed':
      return `quiet feed ${flag.table} (${flag.rows} rows, trailing median ${flag.trailingMedian}${flag.emptySince === undefined ? '' : `; empty since load ${flag.emptySince}`})`;
    case 'endpoint_unavailable':
      return `endpoint unavailable: ${flag.resource}`;
    case 'outside_window':
      return `committed ${flag.runSeconds} s after its start, outside the window`;
  }
}

/** A load's series in words: `daily, changed users` (reports that name no schedule: their tables). */
export function seriesWords(l: Pick<LoadQuality, 'schedule' | 'usersSelection' | 'seriesTables'>): string {
  return l.schedule === null
    ? `tables ${l.seriesTables.join(',') || '-'}`
    : `${l.schedule}, ${l.usersSelection} users`;
}

/** The text section of `status`. */
export function formatQuality(report: QualityReport): string[] {
  const s = report.settings;
  if (report.loads.length === 0)
    return ['Data quality: no committed loads yet; the signals start with the first load.'];
  const out = [
    `Data quality (last ${plural(report.loads.length, 'load')}; trailing median of each table's rows per loaded user over up to ${plural(s.trailingLoads, 'earlier load')} of the same series (schedule, users selection and tables), judged from ${plural(s.minTrailingLoads, 'load')}; quiet below ${s.quietFraction} x; failed users above ${s.failedUserSharePercent}%):`,
    renderTable(
      ['load_id', 'series', 'users', 'failed_%', 'compared_with', 'flags'],
      report.loads.map((l) => [
        l.loadId,
        seriesWords(l),
        String(l.users),
        String(l.failedUserSharePercent),
        plural(l.trailingLoads, 'load'),
        // Counted here, listed below: a cell of every flag's words made the table unreadable.
        l.flags.length === 0 ? '-' : plural(l.flags.length, 'flag'),
      ]),
    ),
  ];
  const flagged = report.loads.filter((l) => l.flags.length > 0);
  if (flagged.length > 0) {
    out.push('', 'Flags:');
    for (const l of flagged) for (const flag of l.flags) out.push(`  ${l.loadId}  ${flagWords(flag)}`);
  }
  const latest = report.loads.at(-1)!;
  if (latest.tables.length > 0) {
    const tables = latest.seriesTables.length > 0 ? ` (tables ${latest.seriesTables.join(', ')})` : '';
    out.push(
      '',
      latest.schedule === null
        ? `Rows per table in ${latest.loadId} against the trailing median of ${plural(latest.trailingLoads, 'earlier load')} of the same tables${tables}:`
        : `Rows per table in ${latest.loadId} against the trailing median of ${plural(latest.trailingLoads, 'earlier load')} of schedule ${latest.schedule}, ${latest.usersSelection} users${tables}:`,
    );
    out.push(
      renderTable(
        ['table', 'rows', 'trailing_median', 'ratio', 'flag'],
        latest.tables.map((t) => [
          t.table,
          String(t.rows),
          t.trailingMedian === null ? '-' : String(t.trailingMedian),
          t.ratio === null ? '-' : String(t.ratio),
          t.quiet ? (t.emptySince === undefined ? 'QUIET' : `QUIET, empty since ${t.emptySince}`) : '-',
        ]),
      ),
    );
  }
  return out;
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
}

export const QUALITY_FLAGS = [
  'last',
  'trailing-loads',
  'min-trailing-loads',
  'quiet-fraction',
  'failed-share',
  'min-expected-rows',
  'run-window-minutes',
] as const satisfies readonly (keyof QualityFlagValues)[];

/** A decimal number as a person types it: digits, at most one point (no sign, exponent or hex). */
const DECIMAL = /^(\d{1,15}(\.\d{1,15})?|\.\d{1,15})$/;

/** The most loads `--last` reports (each is compared with its own earlier loads). */
export const MAX_LAST = 10_000;

/** The quality flags of `status`, validated (errors name the flag). */
export function parseQualityFlags(values: QualityFlagValues): QualityOptions {
  const number = (
    flag: string,
    raw: string | undefined,
    fallback: number,
    ok: (n: number) => boolean,
    rule: string,
  ) => {
    if (raw === undefined) return fallback;
    // Plain decimals only: Number() also takes 0x10, 1e3 and 20-digit integers it cannot hold.
    const n = DECIMAL.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(n) || !ok(n)) throw new ConfigError(flag, `${rule} (got '${raw}')`);
    return n;
  };
  const d = QUALITY_OPTION_DEFAULTS;
  const int = (n: number) => Number.isInteger(n) && n >= 1;
  const window = `must be a whole number from 1 to ${MAX_TRAILING_LOADS}`;
  const trailingLoads = number(
    '--trailing-loads',
    values['trailing-loads'],
    d.trailingLoads,
    (n) => int(n) && n <= MAX_TRAILING_LOADS,
    window,
  );
  const minTrailingLoads = number(
    '--min-trailing-loads',
    values['min-trailing-loads'],
    d.minTrailingLoads,
    (n) => int(n) && n <= MAX_TRAILING_LOADS,
    window,
  );
  // Never lowered silently: a median over fewer loads than asked for is the user's choice.
  if (minTrailingLoads > trailingLoads)
    throw values['min-trailing-loads'] === undefined
      ? new ConfigError(
          '--trailing-loads',
          `${trailingLoads} is fewer than the ${plural(minTrailingLoads, 'earlier load')} a table is judged from (--min-trailing-loads, default ${d.minTrailingLoads}): give --min-trailing-loads ${trailingLoads} too`,
        )
      : new ConfigError(
          '--min-trailing-loads',
          `${minTrailingLoads} is more than the ${plural(trailingLoads, 'earlier load')} the median is taken over (--trailing-loads${values['trailing-loads'] === undefined ? `, default ${d.trailingLoads}` : ''})`,
        );
  const windowMinutes = values['run-window-minutes'];
  return {
    ...d,
    last: number(
      '--last',
      values.last,
      d.last,
      (n) => int(n) && n <= MAX_LAST,
      `must be a whole number from 1 to ${MAX_LAST}`,
    ),
    trailingLoads,
    minTrailingLoads,
    quietFraction: number(
      '--quiet-fraction',
      values['quiet-fraction'],
      d.quietFraction,
      (n) => n > 0 && n <= 1,
      'must be a number above 0 and at most 1',
    ),
    failedUserSharePercent: number(
      '--failed-share',
      values['failed-share'],
      d.failedUserSharePercent,
      (n) => n >= 0 && n <= 100,
      'must be a percentage from 0 to 100',
    ),
    minExpectedRows: number(
      '--min-expected-rows',
      values['min-expected-rows'],
      d.minExpectedRows ?? MIN_EXPECTED_ROWS,
      (n) => Number.isInteger(n) && n >= 0,
      'must be a whole number >= 0',
    ),
    runWindowSeconds:
      windowMinutes === undefined
        ? undefined
        : number(
            '--run-window-minutes',
            windowMinutes,
            0,
            (n) => n > 0,
            'must be a positive number of minutes',
          ) * 60,
  };
}
