/** `paylink-loader status --dest <dir|s3://...>`: what a lake holds, from its own metadata. */
import { openStore } from '#adapters/open-store.ts';
import { CHANGED_STATE_PREFIX, readChangedState } from '#core/changed-users.ts';
import { LAKE } from '#core/constants.ts';
import { DISABLED_TABLES_NOTE } from '#core/endpoint-health.ts';
import { ConfigError, LakeStateError } from '#core/errors.ts';
import {
  heldBackEvents,
  strayEventObjects as strayEventObjectsOf,
  unreadableEventsWithin,
} from '#core/event-claims.ts';
import { type HeldBackPartition, heldBackWords } from '#core/event-log.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { assertLoadId } from '#core/layout.ts';
import { forEachConcurrent } from '#core/pool.ts';
import type { ObjectStore } from '#core/ports.ts';
import type { SchemaRegistry } from '#core/schema-registry.ts';
import { type RegistryCounts, registryCounts } from '#core/user-registry.ts';
import { type FlagRange, optionalNumberFlag, parseFlags, required } from './args.ts';
import {
  BACKLOG_READS_DEFAULT,
  backlogHint,
  type ChangedBacklog,
  changedBacklog,
  changedSchedules,
  formatBacklogs,
  judgeBacklog,
  lastChangedRun,
  sharedEventReads,
  staleBacklogWords,
} from './changed-backlog.ts';
import { readCommittedReports } from './committed-reports.ts';
import { existingLake } from './existing-lake.ts';
import type { Io } from './io.ts';
import { formatOneLoadQuality, judgeOneLoad } from './load-quality.ts';
import { type LoadDetail, LoadNotFoundError, loadDetail, reportNotFound } from './load-report.ts';
import {
  formatQuality,
  noRecentLoadWords,
  parseQualityFlags,
  QUALITY_FLAGS,
  QUALITY_OPTION_DEFAULTS,
  type QualityOptions,
  type QualityReport,
  qualityReport,
  type SeriesVerdict,
  type SettingSources,
  seriesWordsAmong,
  settingSources,
} from './quality-report.ts';
import { readQualitySettings } from './stack-config.ts';
import { formatBytes, renderTable } from './summary.ts';

export interface LakeStatus {
  readonly dest: string;
  /** Null when the registry is missing or damaged (see `warnings`). */
  readonly schemaVersion: number | null;
  readonly loads: readonly {
    loadId: string;
    dt: string;
    committedAt: string;
    users: number;
    failedUsers: number;
    /** Resources disabled by an endpoint finding in that load. */
    disabledResources: string[];
    rows: number;
  }[];
  readonly tables: readonly { table: string; rows: number; files: number; bytes: number; columns: number }[];
  /**
   * Loads that are not committed (no `_dlt_loads` row): running, or died before their commit
   * point. Whatever files they left are invisible through the history and current views.
   */
  readonly uncommitted: readonly string[];
  /**
   * Committed loads whose report (`_loads/<id>.json`) is gone: their rows are in the views, but
   * the per-table counts above cannot include them.
   */
  readonly withoutReport: readonly string[];
  /** Damage found while reading (a missing registry): the rest is still reported. */
  readonly warnings: readonly string[];
  /** The data-quality signals of the last loads (quality-report.ts, lambdas/core/quality.ts). */
  readonly quality: QualityReport;
  /** Load reports (`_loads/<id>.json`) that could not be read: named in `warnings`; exit 1. */
  readonly damagedReports: readonly string[];
  /**
   * Webhook event objects that are unreadable (damaged or edited by hand): set aside by loads,
   * kept, never committed until repaired; those set aside and those not committed yet.
   */
  readonly unreadableEvents: readonly string[];
  /**
   * Objects under `_events/` not named as stored events (`<64 hex>.json`): no load reads them,
   * so they are not events set aside (put there by hand, or renamed).
   */
  readonly strayEventObjects: readonly string[];
  /**
   * `_events/` partitions dated more than a day ahead, once loads list by partition: no load
   * takes their objects before the day before their date (event-log.ts `heldBackEventPartitions`).
   */
  readonly heldBackEvents: readonly HeldBackPartition[];
  /**
   * The user registry (users learned from webhook events) counted: task ids loads fetch, those
   * with 404 misses, and those retired (README "Task ids PayLink no longer knows"). Null when
   * the registry could not be read (named in `warnings`).
   */
  readonly registry: RegistryCounts | null;
  /**
   * How much of the events not committed yet the unreadable check above read (at most
   * `--max-event-reads`; `verify` reads them all).
   */
  readonly unreadableEventsChecked: { readonly checked: number; readonly uncommitted: number };
  /**
   * Each changed schedule with a state in the lake, and the CLI's `local`: its pending webhook
   * events and users, the oldest event's age, its last run's deferred users (changed-backlog.ts).
   */
  readonly changedBacklogs: readonly ChangedBacklog[];
}

/** What `status` reads of the webhook events, and the `stale_backlog` signal's window. */
export interface BacklogOptions {
  /** Event objects read per schedule (and by the unreadable check) at most. */
  readonly maxReads: number;
  /** `--max-event-age-hours`, in seconds: every schedule's window, over the stack's. */
  readonly maxEventAgeSeconds?: number;
}

export const BACKLOG_OPTION_DEFAULTS: BacklogOptions = { maxReads: BACKLOG_READS_DEFAULT };

export async function lakeStatus(
  dest: string,
  qualityOptions: QualityOptions = QUALITY_OPTION_DEFAULTS,
  settingSources?: SettingSources,
  /** The time loads are judged stopped at (`no_recent_load`); none without it. */
  now?: Date,
  backlogOptions: BacklogOptions = BACKLOG_OPTION_DEFAULTS,
): Promise<LakeStatus> {
  // Each event object read at most once, by the unreadable check and the schedules' backlogs.
  const store = sharedEventReads(openStore(dest));
  // The committed loads' reports, by the rules `status --load-id` judges with (committed-reports.ts).
  const read = await readCommittedReports(store);
  const { committed, reports: markers, withoutReport, unreadable } = read;
  // One damaged report must not hide the other loads: it is named, the rest is listed.
  const damagedReports = read.damaged.map((d) => d.key);
  const warnings = read.damaged.map(
    (d) => `${d.message}; its load is listed without it ('paylink-loader verify' checks the lake)`,
  );
  let registry: SchemaRegistry | undefined;
  try {
    registry = await readCommittedSchema(store);
  } catch (error) {
    if (!(error instanceof LakeStateError)) throw error;
    warnings.push(error.message);
  }
  const tables = new Map<
    string,
    { table: string; rows: number; files: number; bytes: number; columns: number }
  >();
  for (const table of registry?.tables() ?? []) {
    tables.set(table, { table, rows: 0, files: 0, bytes: 0, columns: registry!.columns(table).length });
  }
  // The commit point itself: one single-row file per committed load.
  const loadsTable = tables.get(LAKE.loadsTable);
  if (loadsTable)
    Object.assign(loadsTable, {
      rows: committed.size,
      files: committed.size,
      bytes: await totalBytes(store, read.commitKeys),
    });
  for (const m of markers) {
    for (const f of m.files) {
      const t = tables.get(f.table) ?? { table: f.table, rows: 0, files: 0, bytes: 0, columns: 0 };
      t.rows += f.rows;
      t.files += 1;
      t.bytes += f.bytes;
      tables.set(f.table, t);
    }
  }
  const staged = new Set(
    (await store.list('_staging/')).map((k) => k.split('/')[1]!).filter((id) => id && !committed.has(id)),
  );
  for (const id of read.uncommitted) staged.add(id);
  // The events set aside, and any not committed yet that a load would set aside (one GET each:
  // the events since the last commit); then the objects that are no events at all.
  const lakeWarning = (error: unknown) => {
    if (!(error instanceof LakeStateError)) throw error;
    // Both read the events' committed state: its damage is said once.
    if (!warnings.includes(error.message)) warnings.push(error.message);
    return [];
  };
  const at = now ?? new Date();
  const today = at.toISOString().slice(0, 10);
  let unreadableEventsChecked = { checked: 0, uncommitted: 0 };
  const unreadableEvents = await unreadableEventsWithin(store, today, backlogOptions.maxReads)
    .then(({ found, checked, uncommitted }) => {
      unreadableEventsChecked = { checked, uncommitted };
      return found.map((e) => e.key);
    })
    .catch(lakeWarning);
  if (unreadableEvents.length > 0)
    warnings.push(
      `${unreadableEvents.length} webhook event object(s) are unreadable and set aside by every load (never committed until repaired or moved out of _events/): ${listed(unreadableEvents)}`,
    );
  const strayEventObjects = await strayEventObjectsOf(store, today)
    .then((found) => found.map((e) => e.key))
    .catch(lakeWarning);
  if (strayEventObjects.length > 0)
    warnings.push(
      `${strayEventObjects.length} object(s) under _events/ are not stored events (not named _events/dt=YYYY-MM-DD/<64 hex>.json, as the receiver names each event by its digest), so no load reads them; move them out of _events/ (or a renamed event back to its name): ${listed(strayEventObjects)}`,
    );
  const heldBack = await heldBackEvents(store, today).catch(lakeWarning);
  if (heldBack.length > 0) warnings.push(heldBackWords(heldBack, today));
  // A changed schedule's damaged state stops that schedule's loads: said here too, with what to do.
  for (const key of await store.list(CHANGED_STATE_PREFIX)) {
    if (!key.endsWith('.json')) continue;
    await readChangedState(store, key.slice(CHANGED_STATE_PREFIX.length, -'.json'.length)).catch(
      (error: unknown) => {
        if (error instanceof ConfigError) return; // not a schedule's name: no load reads it
        lakeWarning(error);
      },
    );
  }
  // Each changed schedule's backlog, by the loader's own selection (changed-backlog.ts).
  const changedBacklogs: ChangedBacklog[] = [];
  for (const schedule of await changedSchedules(store)) {
    const figures = await changedBacklog(store, schedule, at, backlogOptions.maxReads).catch(
      (error: unknown) => {
        // A name no load takes, or a damaged state (warned above): no backlog to show.
        if (error instanceof ConfigError || error instanceof LakeStateError) return undefined;
        throw error;
      },
    );
    if (figures === undefined) continue;
    const lastRun = lastChangedRun(schedule, markers);
    changedBacklogs.push({
      ...figures,
      lastRun,
      hint: backlogHint(schedule, lastRun),
      flag: judgeBacklog(
        figures,
        backlogOptions.maxEventAgeSeconds,
        qualityOptions.noRecentLoadBySchedule ?? {},
      ),
    });
  }
  const users = await registryCounts(store).catch((error: unknown) => {
    if (!(error instanceof LakeStateError)) throw error;
    warnings.push(error.message);
    return null;
  });
  return {
    dest: store.description,
    schemaVersion: registry?.version ?? null,
    loads: markers.map((m) => ({
      loadId: m.loadId,
      dt: m.dt,
      committedAt: m.committedAt,
      users: m.users,
      failedUsers: m.failedUserCount,
      // Markers written before endpoint findings existed have none.
      disabledResources: (m.endpointFindings ?? []).map((f) => f.resource),
      rows: Object.values(m.rowsByTable).reduce((a, b) => a + b, 0),
    })),
    tables: [...tables.values()].sort((a, b) => a.table.localeCompare(b.table)),
    uncommitted: [...staged].sort(),
    withoutReport,
    warnings,
    // Damaged reports of committed loads: a load that may have been compared with one of them
    // is said to be judged without it (the commit's TrailingLoadsUnreadable).
    quality: qualityReport(markers, qualityOptions, settingSources, unreadable, now),
    damagedReports,
    unreadableEvents,
    strayEventObjects,
    heldBackEvents: heldBack,
    registry: users,
    unreadableEventsChecked,
    changedBacklogs,
  };
}

/** The first 10 keys, then `...`: a warning stays one readable line. */
const listed = (keys: readonly string[]) =>
  `${keys.slice(0, 10).join(', ')}${keys.length > 10 ? ', ...' : ''}`;

/** Sizes of `_dlt_loads` files: no load report lists them (each is the commit point itself). */
async function totalBytes(store: ObjectStore, keys: readonly string[]): Promise<number> {
  let bytes = 0;
  // A few hundred tiny files on S3: read them a handful at a time.
  await forEachConcurrent(keys, 16, async (key) => {
    const body = await store.get(key);
    bytes += body?.byteLength ?? 0;
  });
  return bytes;
}

/** `status --fail-on-signals`: the newest load of a schedule has a flag. */
export const STATUS_FLAGGED_EXIT = 9;

/** Why `--fail-on-signals` exits 9: each flagged series (a schedule's loads of one selection), that load, the flags' kinds. */
export function failOnSignalsMessage(
  flagged: readonly SeriesVerdict[],
  verdicts: readonly SeriesVerdict[] = flagged,
): string {
  const seriesLabel = seriesWordsAmong(verdicts);
  const each = flagged.map(
    (v) => `${seriesLabel(v)} (load ${v.loadId}: ${[...new Set(v.flags.map((f) => f.kind))].join(', ')})`,
  );
  // Counted by series, not schedule: one schedule's all-users loads and its retries of failed
  // users are two series, each judged by its own newest load.
  const head =
    flagged.length === 1
      ? 'the newest load of 1 series has a flag'
      : `the newest loads of ${flagged.length} series have a flag`;
  return `status --fail-on-signals: ${head}: ${each.join('; ')}`;
}

export const STATUS_USAGE = `paylink-loader status --dest <dir|s3://bucket/prefix> [--load-id <id>] [--json]

  Committed loads, tables, row counts, schema version, uncommitted loads, and the data-quality
  signals of the last loads (the deployed stack's alarms, docs/operations.md): failed-user share,
  each table's rows against its trailing median (quiet feeds), resources marked
  endpoint-unavailable, and runs that ended outside their window (--run-window-minutes, or each
  schedule's from the stack's cdk.json).
  --last <n>                 loads whose signals are shown, the last to commit (default 5);
                             each is compared with the loads committed before it
  --trailing-loads <n>       earlier loads of the same series (schedule, users selection and
                             tables) the median is taken over (default 7)
  --min-trailing-loads <n>   no table is judged before this many earlier loads (default 2; at
                             most --trailing-loads)
  --quiet-fraction <x>       a table is quiet below x times its trailing median (default 0.5)
  --failed-share <percent>   flag a load whose failed users exceed this share, 0 to below
                             100 (default 5). Judged only for a load of at least the stack's
                             minUsersForFailedShare users (default 10, no flag sets it), or
                             one whose every user (2 or more) failed; otherwise the failed_%
                             column of a load with failed users says "not judged: 6 users <
                             10" (--json: failedUserShareNotJudged, on every such load)
  --min-expected-rows <n>    judge a table only when this many rows were expected (default 20)
  --run-window-minutes <m>   flag a load committed more than m minutes after its start
  --max-hours-since-load <h>  flag each schedule whose newest committed load is more than h
                             hours old (no_recent_load; above 0, at most 168); without it,
                             each schedule of the stack's cdk.json is judged by its
                             NoRecentSuccess alarm's window (two periods). A schedule of the
                             --stack-config with no committed load at all is flagged too (an
                             empty lake, without a stack config)
  --stack-config <cdk.json>  take the five settings above the run window, and a sixth with
                             no flag, from the stack's cdk.json (context.paylink.dataQuality:
                             trailingLoads, minTrailingLoads, quietFeedFraction,
                             failedUserSharePercent, minExpectedRows, and
                             minUsersForFailedShare: the fewest users whose failed share is
                             judged; a key it leaves out is the stack's default), so
                             status judges as the deployed commit and alarms do. Without it,
                             ./cdk.json is read when the working folder has one with a
                             paylink context (another one, or one that is not JSON, is
                             ignored with a note). Where each value came from: a flag above wins,
                             then the cdk.json, then the defaults shown; the text output names
                             the source of each under its header when one is not a default
                             (--json: quality.sources). Each schedule's run window is taken
                             from its schedules too (as the RunOutsideWindow alarm has it;
                             none when dataQuality.runOutsideWindow is false), unless
                             --run-window-minutes gives one for every load.
  --load-id <id>   one load: committed or not, start and commit times, users, failed users by
                   error code, requests, rows, files and bytes per table, the schema changes it
                   made (registry version before and after, tables and columns added), and its
                   data quality: the load judged as plain status judges it, against the
                   committed loads of its series before it (its flags, each table's rows against
                   its trailing median: quiet, or not judged and why; --json: quality, null when
                   not committed), with the settings above (--stack-config, ./cdk.json, flags).
                   Exit 8 when the lake has nothing of that load id. --last and
                   --max-hours-since-load are about the last loads and are refused with it.
  --fail-on-signals  exit 9 when the newest load of any schedule has a flag, or a schedule's
                   loads stopped (no_recent_load: --max-hours-since-load, or the stack's
                   NoRecentSuccess window), after printing
                   everything as usual, with one line on stderr naming the flagged
                   schedule(s): for a script or cron job that checks the lake. Each schedule
                   is judged by its own newest load, as each schedule's alarms are (--json:
                   quality.verdicts), so a clean load of one schedule does not hide a flagged
                   load of another; a series' newest load counts until a later load of its
                   schedule covers it (all users or the same selection, at least its tables):
                   a --users-from-failed retry until the next full load, and a --resources
                   subset load hides no flagged full load before it. Older loads' flags
                   (--last) are shown, not judged. Signals the stack's cdk.json switches off
                   (dataQuality failedUserShare, quietFeed, endpointUnavailable,
                   runOutsideWindow: false) raise no flag, as the stack raises no alarm.
                   A changed schedule whose oldest pending webhook event is older than its
                   window raises stale_backlog too (below)
  --max-event-age-hours <h>  the stale_backlog window of every changed schedule: flag one whose
                   oldest webhook event not seen by its committed loads was received more than
                   h hours ago (above 0, at most 8760). Without it, each schedule of the stack's
                   cdk.json is judged by its NoRecentSuccess window (two periods), and others
                   (local) are not judged. A schedule with no committed changed load is not
                   judged (no_recent_load covers it)
  --max-event-reads <n>  webhook event objects read at most per changed schedule, and by the
                   unreadable-events check (default ${BACKLOG_READS_DEFAULT}; 0: counts only).
                   The event counts come from the listing; the users and the oldest received
                   time need each object read (one GET), so over n they are of the first n
                   events (oldest partitions first) and marked so
  --json           the same as JSON on stdout

  Changed schedules: for each changed schedule with a state in the lake
  (_state/changed/<schedule>.json) and for 'local' (load --users changed): the webhook events its
  committed loads have not seen (events), the users they name and those to retry (users), the
  oldest one's received time and age, the last run and the users its cap deferred, with a hint
  when it deferred some. --json: changedBacklogs[] (schedule, firstRun, events, oldestPartition,
  eventsRead, complete, unreadableEvents, users, retryUsers, pendingUsers in the order runs take
  them: a run capped at n takes the first n, oldestReceivedAt, oldestAgeSeconds, lastRun
  {loadId, committedAt, users, maxUsers, deferred}, hint, flag).`;

/** The quality flags about the lake's last loads (refused with --load-id); the others judge any load. */
const LAST_LOADS_FLAGS = ['last', 'max-hours-since-load'] as const;

export async function statusCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      dest: { type: 'string' },
      'load-id': { type: 'string' },
      json: { type: 'boolean' },
      'fail-on-signals': { type: 'boolean' },
      last: { type: 'string' },
      'trailing-loads': { type: 'string' },
      'min-trailing-loads': { type: 'string' },
      'quiet-fraction': { type: 'string' },
      'failed-share': { type: 'string' },
      'min-expected-rows': { type: 'string' },
      'run-window-minutes': { type: 'string' },
      'max-hours-since-load': { type: 'string' },
      'stack-config': { type: 'string' },
      'max-event-age-hours': { type: 'string' },
      'max-event-reads': { type: 'string' },
    },
    false,
    // Negative values reach their checks, which name each flag's real range.
    QUALITY_FLAGS,
  );
  // They choose the last loads and the schedules' staleness, which --load-id does not show: never
  // silently ignored. The settings of the judgement (--trailing-loads, --stack-config, ...) judge
  // the one load too.
  const ignored = LAST_LOADS_FLAGS.find((flag) => values[flag] !== undefined);
  if (values['load-id'] !== undefined && ignored !== undefined)
    throw new ConfigError(
      `--${ignored}`,
      "sets the data-quality section of the lake's last loads, which status --load-id does not show: leave out one of them",
    );
  for (const flag of ['max-event-age-hours', 'max-event-reads'] as const)
    if (values['load-id'] !== undefined && values[flag] !== undefined)
      throw new ConfigError(
        `--${flag}`,
        "sets the changed schedules' section of the lake, which status --load-id does not show: leave out one of them",
      );
  if (values['load-id'] !== undefined && values['fail-on-signals'] === true)
    throw new ConfigError(
      '--fail-on-signals',
      "exits on the flags of the lake's last loads, which status --load-id does not show: leave out one of them",
    );
  // The stack's settings (--stack-config, or ./cdk.json): the one load of --load-id is judged by
  // them too, as plain status judges it.
  const { stack } = await readQualitySettings(io, values['stack-config']);
  const qualityOptions = parseQualityFlags(values, stack);
  const dest = await existingLake(io.cwd, required(values.dest, '--dest'));
  if (values['load-id'] !== undefined) {
    const loadId = assertLoadId(values['load-id']);
    const store = openStore(dest);
    let detail: LoadDetail;
    try {
      detail = await loadDetail(store, loadId, io.now());
    } catch (error) {
      if (error instanceof LoadNotFoundError)
        return reportNotFound(io, 'status', error, values.json ?? false);
      throw error;
    }
    const quality = await judgeOneLoad(store, loadId, qualityOptions);
    io.stdout.write(
      values.json
        ? `${JSON.stringify({ ...detail, quality }, null, 2)}\n`
        : `${[formatLoadDetail(detail), ...formatOneLoadQuality(quality, qualityOptions)].join('\n')}\n`,
    );
    return 0;
  }
  const backlogOptions = parseBacklogFlags(values);
  const status = await lakeStatus(
    dest,
    qualityOptions,
    settingSources(values, stack),
    io.now(),
    backlogOptions,
  );
  // A damaged report is damage (exit 1, as for `status --load-id`), though the rest is listed.
  // Flags are signals, not errors: an exit code only when asked for (--fail-on-signals), and
  // for the newest load only, as the alarms hold the newest load's state: a load flagged
  // earlier and clean since is history (--last shows it), not a reason for a cron job to fail.
  // The newest load of each series until a covering load (quality-report.ts): a clean
  // quarter-hourly load committed after a flagged daily one hides nothing.
  const flagged = status.quality.verdicts.filter((v) => v.flagged);
  // Loads that stopped are a signal too: the stack's NoRecentSuccess alarm.
  const stopped = status.quality.noRecentLoad;
  // A changed schedule whose backlog waits longer than its window: users' changes not loaded.
  const stale = status.changedBacklogs.filter((b) => b.flag !== null);
  const exitCode =
    status.damagedReports.length > 0
      ? 1
      : values['fail-on-signals'] === true && (flagged.length > 0 || stopped.length > 0 || stale.length > 0)
        ? STATUS_FLAGGED_EXIT
        : 0;
  if (exitCode === STATUS_FLAGGED_EXIT) {
    if (flagged.length > 0) io.stderr.write(`${failOnSignalsMessage(flagged, status.quality.verdicts)}\n`);
    if (stopped.length > 0)
      io.stderr.write(
        `status --fail-on-signals: no recent load: ${stopped.map((f) => noRecentLoadWords(f)).join('; ')}\n`,
      );
    if (stale.length > 0)
      io.stderr.write(
        `status --fail-on-signals: stale changed backlog: ${stale.map((b) => staleBacklogWords(b.flag!, b)).join('; ')}\n`,
      );
  }
  if (values.json) {
    io.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return exitCode;
  }
  const out: string[] = [`Lake ${status.dest} · schema version ${status.schemaVersion ?? '?'}`, ''];
  for (const warning of status.warnings) io.stderr.write(`warning: ${warning}\n`);
  out.push(`Loads (${status.loads.length}):`);
  out.push(
    renderTable(
      ['load_id', 'dt', 'committed_at', 'users', 'failed', 'rows', 'disabled'],
      status.loads.map((l) => [
        l.loadId,
        l.dt,
        l.committedAt,
        String(l.users),
        String(l.failedUsers),
        String(l.rows),
        l.disabledResources.join(',') || '-',
      ]),
    ),
  );
  out.push('', 'Tables (rows across committed loads):');
  out.push(
    renderTable(
      ['table', 'columns', 'rows', 'files', 'bytes'],
      status.tables.map((t) => [
        t.table,
        String(t.columns),
        String(t.rows),
        String(t.files),
        formatBytes(t.bytes),
      ]),
    ),
  );
  const latest = status.loads.at(-1);
  if (latest !== undefined && latest.disabledResources.length > 0) {
    out.push('', `Disabled in the latest load (${latest.loadId}): ${latest.disabledResources.join(', ')}.`);
    for (const table of latest.disabledResources) out.push(`  ${DISABLED_TABLES_NOTE(table)}.`);
  }
  out.push('', ...formatQuality(status.quality));
  const reg = status.registry;
  if (reg !== null && reg.users > 0) {
    const retired = reg.retired.notFound + reg.retired.finalStatus;
    out.push(
      '',
      `Users learned from webhook events: ${reg.users}; task ids fetched by each load with tasks: ${reg.taskIds}` +
        (reg.missing > 0 ? ` (${reg.missing} answered 404 in the last load(s), retired after more)` : '') +
        `; retired: ${retired}` +
        (retired > 0
          ? ` (${reg.retired.notFound} PayLink no longer knows, ${reg.retired.finalStatus} with a final status; in _state/users/, README "Task ids PayLink no longer knows")`
          : ''),
    );
  }
  const backlogLines = formatBacklogs(
    status.changedBacklogs,
    backlogOptions.maxReads,
    status.unreadableEventsChecked.uncommitted > 0 || status.changedBacklogs.some((b) => !b.firstRun),
  );
  if (backlogLines.length > 0) out.push('', ...backlogLines);
  const checked = status.unreadableEventsChecked;
  if (checked.checked < checked.uncommitted)
    out.push(
      '',
      `Unreadable webhook events: ${checked.checked} of ${checked.uncommitted} events not committed yet were checked (--max-event-reads ${backlogOptions.maxReads}); 'paylink-loader verify' checks them all.`,
    );
  if (status.withoutReport.length > 0) {
    out.push(
      '',
      `Committed loads whose report (_loads/<id>.json) is missing, not counted above: ${status.withoutReport.join(', ')}`,
    );
  }
  if (status.uncommitted.length > 0) {
    out.push(
      '',
      `Uncommitted loads (no _dlt_loads row: invisible through the history and current views): ${status.uncommitted.join(', ')}`,
    );
  }
  io.stdout.write(`${out.join('\n')}\n`);
  return exitCode;
}

/** `--max-event-age-hours`: up to a year (deferred events stay pending past the 35-day window). */
const EVENT_AGE_HOURS: FlagRange = {
  min: 0,
  max: 8760,
  whole: false,
  aboveMin: true,
  words: 'a number of hours above 0 and at most 8760',
};

/** `--max-event-reads`: 0 (counts from the listing only) to 10 million. */
const EVENT_READS: FlagRange = { min: 0, max: 10_000_000, whole: true };

/** The changed schedules' flags of `status`, validated (errors name the flag). */
export function parseBacklogFlags(values: {
  readonly 'max-event-age-hours'?: string | undefined;
  readonly 'max-event-reads'?: string | undefined;
}): BacklogOptions {
  const hours = values['max-event-age-hours'];
  return {
    maxReads: optionalNumberFlag(
      '--max-event-reads',
      values['max-event-reads'],
      EVENT_READS,
      BACKLOG_READS_DEFAULT,
    ),
    ...(hours === undefined
      ? {}
      : {
          maxEventAgeSeconds: optionalNumberFlag('--max-event-age-hours', hours, EVENT_AGE_HOURS, 0) * 3600,
        }),
  };
}

const STATE_WORDS: Record<LoadDetail['state'], string> = {
  committed: 'committed',
  reported: 'NOT committed (a report but no _dlt_loads row: its commit stopped, or a re-run is replacing it)',
  staged: 'NOT committed (staged only: interrupted or failed; resume it, or remove it with clean)',
  running: 'NOT committed (running now)',
};

/** Schema change lines `status --load-id` prints before pointing at --json. */
const SCHEMA_LINES = 40;

/** `status --load-id` for a person: the load's facts first, then failures, tables, schema. */
export function formatLoadDetail(d: LoadDetail): string {
  const out: string[] = [`Load ${d.loadId} in ${d.dest}: ${STATE_WORDS[d.state]}`, ''];
  out.push(
    `  started     ${d.startedAt ?? '?'}${d.runningSince ? ` (running since ${d.runningSince})` : ''}`,
  );
  out.push(`  committed   ${d.committedAt ?? '-'}`);
  out.push(`  partition   dt=${d.dt ?? '?'}`);
  out.push(`  resources   ${d.resources.join(', ') || '-'}`);
  out.push(`  users       ${d.users}${d.failedUsers === null ? '' : ` (${d.failedUsers} failed)`}`);
  if (d.requests !== null) out.push(`  requests    ${d.requests}`);
  if (d.batches) out.push(`  batches     ${d.batches.staged} of ${d.batches.planned} staged`);
  if (d.failuresByCode.length > 0) {
    out.push('', 'Failed users by reason (list them: paylink-loader failed --dest <lake> --load-id <id>):');
    out.push(
      renderTable(
        ['error_code', 'users', 'units'],
        d.failuresByCode.map((f) => [f.code, String(f.users), String(f.units)]),
      ),
    );
  }
  if (d.disabledResources.length > 0) {
    out.push(
      '',
      `Disabled for this load (endpoint findings, not user failures): ${d.disabledResources.join(', ')}`,
    );
    if (d.endpointUnavailableUsers > 0)
      out.push(
        `  ${d.endpointUnavailableUsers} users have only endpoint_unavailable outcomes: not listed as failed.`,
      );
  }
  if (d.tables.length > 0) {
    out.push('', 'Tables written by this load:');
    out.push(
      renderTable(
        ['table', 'rows', 'files', 'bytes'],
        d.tables.map((t) => [t.table, String(t.rows), String(t.files), formatBytes(t.bytes)]),
      ),
    );
  }
  const s = d.schema;
  if (s.versionAfter !== null) {
    out.push('');
    if (s.changes.length === 0) out.push(`Schema: unchanged by this load (version ${s.versionAfter}).`);
    else {
      out.push(`Schema: version ${s.versionBefore} -> ${s.versionAfter}, ${s.changes.length} change(s).`);
      if (s.addedTables.length > 0)
        out.push(`  tables added (${s.addedTables.length}): ${s.addedTables.join(', ')}`);
      // A new table's columns come with it; a person wants the columns existing tables gained.
      const newTables = new Set(s.addedTables);
      const lines = [
        ...s.addedColumns
          .filter((c) => !newTables.has(c.table))
          .map((c) => `  column added: ${c.table}.${c.column} (${c.type})`),
        ...s.changes
          .filter((c) => c.kind === 'json_column' || c.kind === 'shape_change')
          .map((c) => `  ${c.kind}: ${c.table}.${c.column}`),
      ];
      out.push(...lines.slice(0, SCHEMA_LINES));
      if (lines.length > SCHEMA_LINES)
        out.push(`  ... and ${lines.length - SCHEMA_LINES} more (--json lists every change)`);
    }
  }
  return out.join('\n');
}
