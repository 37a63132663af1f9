/**
 * Commit Lambda: batch manifests -> registry, Glue tables, final parts, load marker. Two more
 * modes: read a systemic batch's cause, and merge one partition handed to the merge Map.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { commitOrHandOff, type TableCatalog } from '#core/commit.ts';
import { positiveInt, selectResources } from '#core/config.ts';
import { ConfigError, loggableError, withSafeMessage } from '#core/errors.ts';
import { lakeDatabases } from '#core/glue-view.ts';
import { tablePrefix } from '#core/layout.ts';
import { acquireLease, assertLeaseOwner } from '#core/lease.ts';
import { commitFigures, commitMetrics } from '#core/load-metrics.ts';
import { MERGE_SLICING, type MergeFanOutPolicy, mergeTask } from '#core/merge-fan-out.ts';
import { readPlan } from '#core/plan.ts';
import type { ObjectStore } from '#core/ports.ts';
import {
  judgementScheduleOf,
  type LoadFigures,
  type LoadSignals,
  loadSignals,
  MIN_EXPECTED_ROWS,
  MIN_USERS_FOR_FAILED_SHARE,
  QUALITY_DEFAULTS,
  type QualitySettings,
  qualityRecord,
  readEarlierLoads,
  seriesFacts,
} from '#core/quality.ts';
import { readSystemicCause } from '#core/systemic-cause.ts';
import { TASK_RETIREMENT } from '#core/task-retirement.ts';
import {
  type CommitEvent,
  type CommitResult,
  HANDLER_ENV,
  type MergeFanOutResult,
  type MergeGroupEvent,
  type MergeGroupResult,
  type ScheduleSelection,
  type SystemicCauseResult,
} from './contract.ts';
import { lazyPartReader, once } from './lazy.ts';
import { partWriters } from './part-writers.ts';
import { guardRedrive } from './redrive-guard.ts';
import { handlerConfig, lakeStore } from './runtime.ts';
import { observeInvocation } from './telemetry.ts';

function glueCatalog(): TableCatalog | undefined {
  const config = handlerConfig();
  if (config.glueDatabase === undefined) return undefined;
  // Raw tables in `<db>_raw`; history views (committed loads only) in `<db>`, current state in `<db>_current`.
  const databases = lakeDatabases(config.glueDatabase);
  // The Glue client is loaded when the commit reaches its catalog step, not with the bundle.
  const clients = once(async () => {
    const [{ createGlueCatalog }, { createGlueViewSync }] = await Promise.all([
      import('#adapters/glue-catalog.ts'),
      import('#adapters/glue-views.ts'),
    ]);
    return { glue: createGlueCatalog({ database: databases.raw }), views: createGlueViewSync({ databases }) };
  });
  const root = `s3://${config.bucket}/${config.prefix ? `${config.prefix}/` : ''}`;
  return {
    async syncTables(tables) {
      const { glue, views } = await clients();
      await glue.syncTables(tables, (table) => `${root}${tablePrefix(table)}`);
      await views.syncViews(tables);
    },
  };
}

/** hyparquet, loaded when the commit first reads a part back. */
const partReader = lazyPartReader(async () =>
  (await import('#adapters/parquet-reader.ts')).createParquetPartReader(),
);

/** The commit's hold on the lease: renewed for its own run (a Lambda lives at most 15 minutes). */
const COMMIT_LEASE_TTL_MS = 15 * 60 * 1000;

/**
 * The quality settings of the commit's signals, from the stack's `dataQuality` config
 * (PAYLINK_TRAILING_LOADS, PAYLINK_MIN_TRAILING_LOADS, PAYLINK_QUIET_FRACTION; quality.ts
 * defaults): the `quietTables` of its log line use the fraction the quiet-feed alarm does.
 */
export function trailingSettings(env: Readonly<Record<string, string | undefined>>): QualitySettings {
  return {
    ...QUALITY_DEFAULTS,
    trailingLoads: positiveInt(
      HANDLER_ENV.trailingLoads,
      env[HANDLER_ENV.trailingLoads],
      QUALITY_DEFAULTS.trailingLoads,
    ),
    minTrailingLoads: positiveInt(
      HANDLER_ENV.minTrailingLoads,
      env[HANDLER_ENV.minTrailingLoads],
      QUALITY_DEFAULTS.minTrailingLoads,
    ),
    quietFraction: fraction(HANDLER_ENV.quietFraction, env[HANDLER_ENV.quietFraction]),
    minExpectedRows: wholeNumber(HANDLER_ENV.minExpectedRows, env[HANDLER_ENV.minExpectedRows]),
    minUsersForFailedShare: positiveInt(
      HANDLER_ENV.minUsersForFailedShare,
      env[HANDLER_ENV.minUsersForFailedShare],
      MIN_USERS_FOR_FAILED_SHARE,
    ),
  };
}

/**
 * Consecutive committed loads with a 404 that retire a registry task id, from the stack's
 * `retireTaskAfterMisses` (PAYLINK_RETIRE_TASK_AFTER_MISSES); TASK_RETIREMENT's default when unset.
 */
export function retireTaskAfter(env: Readonly<Record<string, string | undefined>>): number {
  const name = HANDLER_ENV.retireTaskAfterMisses;
  const raw = env[name];
  if (raw === undefined || raw === '') return TASK_RETIREMENT.retireAfterMisses;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > TASK_RETIREMENT.maxRetireAfterMisses)
    throw new ConfigError(
      name,
      `must be a whole number of loads from 1 to ${TASK_RETIREMENT.maxRetireAfterMisses}`,
    );
  return n;
}

/** A whole number >= 0 (0: judge every table that has a trailing median); MIN_EXPECTED_ROWS when unset. */
function wholeNumber(name: string, raw: string | undefined): number {
  if (raw === undefined || raw === '') return MIN_EXPECTED_ROWS;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    throw new ConfigError(name, 'must be a whole number >= 0');
  return n;
}

function fraction(name: string, raw: string | undefined): number {
  if (raw === undefined || raw === '') return QUALITY_DEFAULTS.quietFraction;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 1)
    throw new ConfigError(name, 'must be a number above 0 and at most 1');
  return n;
}

/** PAYLINK_COMMIT_MERGE_SECONDS: seconds >= 0, or undefined when unset. */
export function commitMergeSeconds(env: Readonly<Record<string, string | undefined>>): number | undefined {
  const raw = env[HANDLER_ENV.commitMergeSeconds];
  if (raw === undefined || raw === '') return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new ConfigError(HANDLER_ENV.commitMergeSeconds, 'must be a number of seconds >= 0');
  return seconds;
}

/**
 * When this invocation hands its merge to the Map: by the time its Lambda has left (none without
 * a Lambda context: a direct invocation merges everything itself) and the configured cap.
 */
function fanOutPolicy(context: Partial<Context> | undefined): MergeFanOutPolicy {
  const maxMergeSeconds = commitMergeSeconds(process.env);
  return {
    remainingSeconds: () =>
      context?.getRemainingTimeInMillis === undefined
        ? Number.POSITIVE_INFINITY
        : context.getRemainingTimeInMillis() / 1000,
    ...(maxMergeSeconds === undefined ? {} : { maxMergeSeconds }),
  };
}

/** A merge Map item: one partition (or slice of one) the commit handed off, merged into the load's staging. */
async function mergeGroup(
  event: MergeGroupEvent,
  obs: Awaited<ReturnType<typeof observeInvocation>>,
): Promise<MergeGroupResult> {
  const started = Date.now();
  // Like a load-batch item: a redriven run writes nothing while another run of its schedule goes.
  if (await guardRedrive(event.run, event.childRedriveCount)) obs.log.info('redrive_guard_passed');
  const store = lakeStore();
  if (event.run !== undefined)
    await assertLeaseOwner(store, event.loadId, event.run.execution, () => new Date());
  const merged = await mergeTask(
    {
      loadId: event.loadId,
      table: event.mergeGroup.table,
      dt: event.mergeGroup.dt,
      ...(event.mergeGroup.slice === undefined ? {} : { slice: event.mergeGroup.slice }),
    },
    { store, parts: partWriters(), reader: partReader },
  );
  obs.log.info('merged_group', { ...merged, seconds: (Date.now() - started) / 1000 });
  return {
    table: merged.table,
    dt: merged.dt,
    slice: merged.slice,
    outputs: merged.outputs,
    reused: merged.reused,
  };
}

/** The schedule the state machine passed (its execution's input), if it names one. */
export function scheduleOf(event: CommitEvent | MergeGroupEvent): string | undefined {
  const schedule = 'runInput' in event ? event.runInput?.schedule : undefined;
  return typeof schedule === 'string' && schedule !== '' ? schedule : undefined;
}

/**
 * The Schedule dimension of the run's judgement metrics when the run is no load of its
 * schedule's own series (quality.ts `judgementScheduleOf`): its input narrowed the
 * resources or users the stack gave the schedule (`selection`, from the state machine). Without
 * a selection (a direct invocation, a state machine deployed before it passed one) or with an
 * unreadable one, the run is the schedule's, as before.
 */
export function judgementScheduleOfRun(
  marker: LoadFigures,
  selection: ScheduleSelection | undefined,
): string | undefined {
  if (selection === undefined || typeof marker.schedule !== 'string') return undefined;
  let tables: readonly string[];
  try {
    tables = selectResources(handlerConfig().settings.catalog, selection.resources).tables;
  } catch {
    return undefined;
  }
  return judgementScheduleOf(seriesFacts(marker), {
    schedule: marker.schedule,
    usersSelection: selection.users === 'changed' ? 'changed' : 'all',
    tables: [...tables].sort(),
  });
}

/**
 * The loads the commit compares its load with. Committed already: a failure to read them must
 * not fail the run, only cost its quiet-feed judgement, and that loss is reported (the WARN
 * line, and `unreadable` for the TrailingLoadsUnreadable metric the stack alarms on).
 */
export async function trailingLoadsOf(
  store: ObjectStore,
  load: LoadFigures,
  settings: QualitySettings,
  log: Pick<Logger, 'warn'>,
): Promise<{ loads: LoadFigures[]; unreadable: boolean }> {
  try {
    const scan = await readEarlierLoads(store, load, settings);
    // Judged with the readable ones, but a report it could not read may have been one of the
    // loads compared with: the same WARN and metric as a failed listing (docs/operations.md).
    if (scan.unreadable.length > 0) {
      log.warn('trailing_loads_unreadable', {
        unreadableReports: scan.unreadable.length,
        reports: scan.unreadable.slice(0, 10),
      });
      return { loads: scan.loads, unreadable: true };
    }
    return { loads: scan.loads, unreadable: false };
  } catch (error) {
    log.warn('trailing_loads_unreadable', { error: loggableError(error) });
    return { loads: [], unreadable: true };
  }
}

export async function handler(
  event: CommitEvent | MergeGroupEvent,
  context?: Partial<Context>,
): Promise<CommitResult | SystemicCauseResult | MergeFanOutResult | MergeGroupResult> {
  const started = Date.now();
  const obs = await observeInvocation(
    'commit',
    {
      loadId: event.loadId,
      execution: event.run?.execution,
      schedule: scheduleOf(event),
    },
    context,
  );
  try {
    if ('mergeGroup' in event) return await obs.traced('merge-group', () => mergeGroup(event, obs));
    return await obs.traced('commit', async () => {
      // Reads only this load's staging: no guard or lease needed, nothing is written.
      if (event.readSystemicCause === true) {
        const cause = await readSystemicCause(lakeStore(), event.loadId);
        obs.log.warn('systemic_cause', { cause });
        return { cause };
      }
      // A redriven run publishes nothing while another run of its schedule is going.
      if (await guardRedrive(event.run)) obs.log.info('redrive_guard_passed');
      // Read before the commit: a bad setting fails the run before anything is published.
      const settings = trailingSettings(process.env);
      const retireTaskAfterMisses = retireTaskAfter(process.env);
      const catalog = glueCatalog();
      const store = lakeStore();
      const clock = () => new Date();
      // The schedule is a metric dimension: from the event (the state machine passes its
      // execution's), else from the plan while it is still staged. An unreadable plan must not
      // put the metrics under a Schedule no alarm watches.
      if (scheduleOf(event) === undefined) {
        const plan = await readPlan(store, event.loadId).catch(() => undefined);
        obs.appendKeys({ schedule: plan?.schedule });
      }
      // Joins the execution's lease (taken by the plan); another execution's is refused.
      const lease =
        event.run === undefined
          ? undefined
          : await acquireLease(store, event.loadId, {
              owner: { id: event.run.execution, kind: 'step-functions' },
              ttlMs: COMMIT_LEASE_TTL_MS,
              clock,
            });
      // The quality judgement, made before the load's report is written so the report records its
      // quiet feeds (the next load carries a dead feed's flag forward); the metrics below use it.
      let judged: { signals: LoadSignals; unreadable: boolean } | undefined;
      const judge = async (draft: LoadFigures) => {
        const { loads, unreadable } = await trailingLoadsOf(store, draft, settings, obs.log);
        judged = { signals: loadSignals(draft, loads, settings), unreadable };
        return qualityRecord(judged.signals.tables);
      };
      const outcome = await commitOrHandOff(event.loadId, {
        store,
        judge,
        parts: partWriters(),
        reader: partReader,
        clock,
        retireTaskAfterMisses,
        // A wait for another commit's events lock (up to minutes) is logged, naming the holder.
        eventsLock: { onWait: (message) => obs.log.warn('events_lock_wait', { detail: message }) },
        ...(catalog ? { catalog } : {}),
        ...(lease ? { lease } : {}),
        ...(event.afterMerge === true ? {} : { mergeFanOut: fanOutPolicy(context) }),
        // Both the commit that hands off and the one after the Map: they cut the same slices.
        slicing: MERGE_SLICING,
        onMerged: (groups) =>
          obs.log.info('merged', {
            groups: groups.length,
            slices: groups.reduce((n, g) => n + g.slices, 0),
            reused: groups.filter((g) => g.reused).length,
            seconds: (Date.now() - started) / 1000,
          }),
      });
      if ('handedOff' in outcome) {
        // The lease stays this execution's: the Map's items check it, the commit after them joins it.
        const { handedOff } = outcome;
        const config = handlerConfig();
        const mergeFanOut = {
          groups: handedOff.groups,
          partitions: handedOff.partitions,
          rows: handedOff.rows,
          bytes: handedOff.bytes,
          estimatedSeconds: handedOff.estimatedSeconds,
          budgetSeconds: handedOff.budgetSeconds,
          itemsBucket: config.bucket,
          itemsKey: config.prefix === '' ? handedOff.itemsKey : `${config.prefix}/${handedOff.itemsKey}`,
        };
        obs.log.info('merge_handed_off', mergeFanOut);
        return { loadId: event.loadId, mergeFanOut };
      }
      const marker = outcome.committed;
      await lease?.release().catch(() => undefined);
      // Quality signals against the earlier loads of the same series (lambdas/core/quality.ts),
      // as the commit judged them. A failure there did not fail the run, only cost its quiet-feed
      // signal, and that loss is a metric of its own (TrailingLoadsUnreadable, alarmed).
      const { signals, unreadable } = judged ?? {
        signals: loadSignals(marker, [], settings),
        unreadable: true,
      };
      // One object for the log line and the metrics: their numbers cannot disagree.
      const figures = commitFigures(marker, signals, {
        commitSeconds: (Date.now() - started) / 1000,
        trailingLoads: Math.max(0, ...signals.tables.map((t) => t.trailingLoads)),
        trailingLoadsUnreadable: unreadable,
      });
      const result: CommitResult = {
        loadId: marker.loadId,
        users: figures.users,
        failedUsers: figures.failedUsers,
        rows: figures.rows,
        files: figures.files,
        schemaVersion: marker.schemaVersion,
        schemaChanges: figures.schemaChanges,
      };
      const judgedUnder = judgementScheduleOfRun(marker, event.scheduleSelection);
      obs.log.info('committed', {
        schemaVersion: marker.schemaVersion,
        ...figures,
        ...(judgedUnder === undefined ? {} : { judgementSchedule: judgedUnder }),
      });
      obs.emit(commitMetrics(figures, judgedUnder));
      return result;
    });
  } catch (error) {
    // Never the error itself: the logger would print its cause chain and properties as they
    // are, and a cause can quote a damaged file or a response (errors.ts loggableError).
    obs.log.error('commit_failed', { error: loggableError(error) });
    throw withSafeMessage(error);
  }
}
