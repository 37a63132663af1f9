/**
 * Plan Lambda: the users list from S3, streamed -> batches sized to their deadline, staged
 * under `_staging/<load_id>/` with the Distributed Map's item file. Memory does not depend on
 * the list's length (lambdas/core/plan.ts `planFromSource`). The sizing
 * (lambdas/core/capacity.ts) uses the requests per user measured by the previous committed
 * load of the same schedule (see `previousMarker`).
 */
import type { Context } from 'aws-lambda';
import {
  type CapacityInput,
  changedRunCap,
  measuredMergeVolume,
  measuredRequestsPerUser,
  planCapacity,
} from '#core/capacity.ts';
import {
  heldBackForSchedule,
  reusedSelection,
  selectChangedUsers,
  stageChangedSelection,
} from '#core/changed-users.ts';
import { selectResources } from '#core/config.ts';
import { ConfigError, loggableError, withSafeMessage } from '#core/errors.ts';
import { heldBackWords } from '#core/event-log.ts';
import { loadIdFromTime, loadsPrefix } from '#core/layout.ts';
import { learnedUsers } from '#core/learned-users.ts';
import { acquireLease } from '#core/lease.ts';
import { planMetrics } from '#core/load-metrics.ts';
// Aliased: this handler has a function of its own named planLoad (the observed invocation's body).
import { planFromSource, planLoad as planGivenUsers, planItemsKey } from '#core/plan.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import { withSurroundingWhitespace } from '#core/users.ts';
import { countListedUsers, type UsersSource } from '#core/users-stream.ts';
import {
  type CapacitySettings,
  CHANGED_DEFERRED_EVENT,
  EVENTS_HELD_BACK_EVENT,
  HANDLER_ENV,
  LEARNED_WHITESPACE_EVENT,
  NOTHING_TO_LOAD_EVENT,
  OVER_DEADLINE_EVENT,
  type PlanCapacity,
  type PlanEvent,
  type PlanResult,
} from './contract.ts';
import { lazyUsersSource } from './lazy.ts';
import type { Observed } from './observability.ts';
import { handlerConfig, lakeStore } from './runtime.ts';
import { observeInvocation } from './telemetry.ts';

/** Markers read, newest first, looking for this schedule's last load: bounds the plan's time. */
export const MARKERS_SCANNED = 50;

type Marker = {
  users?: unknown;
  requests?: unknown;
  resources?: unknown;
  schedule?: unknown;
  files?: unknown;
};

const sameTables = (a: unknown, b: readonly string[]) =>
  Array.isArray(a) && a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/**
 * The newest committed load of this schedule, if any (load ids sort by time). Requests per
 * user depend on what a load fetches, and several schedules may share one lake (a daily
 * all-resources load and an hourly transactions-only one cost very different requests per
 * user), so another schedule's marker must not size this one. A marker that names its schedule
 * is matched by name; one that does not (markers today carry the load's tables, not its
 * schedule) is matched by the same set of tables, which is what decides its cost per user.
 */
export async function previousMarker(
  store: ObjectStore,
  schedule: string,
  tables: readonly string[],
): Promise<Marker | undefined> {
  const markers = (await store.list(loadsPrefix)).filter((k) => k.endsWith('.json'));
  for (const key of markers.slice(-MARKERS_SCANNED).reverse()) {
    const marker = await readJson<Marker>(store, key);
    if (marker === undefined) continue;
    if (
      typeof marker.schedule === 'string'
        ? marker.schedule === schedule
        : sameTables(marker.resources, tables)
    )
      return marker;
  }
  return undefined;
}

export async function handler(event: PlanEvent, context?: Partial<Context>): Promise<PlanResult> {
  const obs = await observeInvocation(
    'plan',
    { schedule: event.schedule, execution: event.executionId },
    context,
  );
  try {
    return await obs.traced('plan', () => planLoad(event, obs));
  } catch (error) {
    // Never the error itself: the logger would print its cause chain and properties as they
    // are, and a cause can quote a damaged file or a response (errors.ts loggableError).
    obs.log.error('plan_failed', { error: loggableError(error) });
    throw withSafeMessage(error);
  }
}

/**
 * The operator's list, then the users learned from webhooks (learned-users.ts: the registry and
 * the events no load has committed yet): PayLink cannot list users, so a user who linked an
 * account yesterday is known from their events only. A newline between the two, in case the
 * list's last line has none.
 */
export function withLearnedUsers(list: UsersSource, learned: readonly string[]): UsersSource {
  return {
    description: `${list.description} and the users learned from webhooks`,
    async open() {
      const first = await list.open();
      return (async function* () {
        for await (const chunk of first) yield chunk;
        yield '\n';
        for (const identifier of learned) yield `${identifier}\n`;
      })();
    },
  };
}

/**
 * The tables a run loads: the schedule's, or else the default ones plus `tasks` when the run
 * knows task ids (from its events, or learned from earlier ones), so that a task-only change is
 * loaded by a `changed` run and reloaded by the `all` safety net.
 */
function runResources(
  catalog: Parameters<typeof selectResources>[0],
  named: readonly string[] | undefined,
  knowsTasks: boolean,
) {
  if (named !== undefined) return selectResources(catalog, named);
  return selectResources(
    catalog,
    knowsTasks && catalog.some((r) => r.table === 'tasks')
      ? [...selectResources(catalog).tables, 'tasks']
      : undefined,
  );
}

/** The capacity model's input for `users` users of a run, from the stack's settings. */
function capacityInput(
  settings: CapacitySettings,
  runDeadlineSeconds: number,
  previous: Marker | undefined,
): Omit<CapacityInput, 'users'> {
  return {
    requestRate: settings.requestRate,
    maxConcurrency: settings.maxConcurrency,
    maxBatchSize: settings.maxBatchSize,
    requestsPerUser: measuredRequestsPerUser(previous),
    batchTimeoutSeconds: settings.batchTimeoutSeconds,
    batchMarginSeconds: settings.batchMarginSeconds,
    runDeadlineSeconds,
    guardSeconds: settings.guardSeconds,
    commitSeconds: settings.commitSeconds,
    mergeVolume: measuredMergeVolume(previous),
    ...(settings.commitTimeoutSeconds === undefined
      ? {}
      : { commitTimeoutSeconds: settings.commitTimeoutSeconds }),
    ...(settings.commitMergeSeconds === undefined ? {} : { commitMergeSeconds: settings.commitMergeSeconds }),
    ...(settings.mergeConcurrency === undefined ? {} : { mergeConcurrency: settings.mergeConcurrency }),
    ...(settings.webhookReservedConcurrency === undefined
      ? {}
      : { webhookReservedConcurrency: settings.webhookReservedConcurrency }),
  };
}

/**
 * As `load --users changed` warns: events in `_events/` partitions dated past tomorrow wait, in
 * silence otherwise, until the day before their date (a receiver whose clock is ahead, an object
 * copied by hand), found by changed-users.ts `heldBackForSchedule`.
 */
async function warnHeldBackEvents(store: ObjectStore, schedule: string, scheduled: Date, obs: Observed) {
  const today = scheduled.toISOString().slice(0, 10);
  const heldBack = await heldBackForSchedule(store, schedule, today);
  if (heldBack.length === 0) return;
  obs.log.warn(EVENTS_HELD_BACK_EVENT, {
    event: EVENTS_HELD_BACK_EVENT,
    objects: heldBack.reduce((n, p) => n + p.objects, 0),
    partitions: heldBack.length,
    detail: heldBackWords(heldBack, today),
  });
}

async function planLoad(event: PlanEvent, obs: Observed): Promise<PlanResult> {
  const config = handlerConfig();
  const scheduled = new Date(event.scheduledTime);
  if (Number.isNaN(scheduled.getTime())) throw new ConfigError('scheduledTime', 'is not an ISO timestamp');
  const store = lakeStore();
  const settings = config.capacity;
  if (settings === undefined) throw new ConfigError(HANDLER_ENV.capacity, 'environment variable is not set');
  const runDeadlineSeconds = settings.runDeadlineSeconds[event.schedule];
  if (runDeadlineSeconds === undefined) {
    throw new ConfigError(
      'schedule',
      `unknown schedule; known: ${Object.keys(settings.runDeadlineSeconds).sort().join(', ')}`,
    );
  }
  // A `changed` run loads at most what it can afford (cdk.json `maxUsersPerRun`, else derived
  // from its deadline, the rate and the requests per user its schedule's last load measured):
  // a backlog larger than that is loaded over several runs, oldest events first, each run
  // committing, instead of one run that never fits its period (and every later one like it).
  const setCap = settings.maxUsersPerRun?.[event.schedule];
  const derivedCap = async () =>
    changedRunCap(
      capacityInput(
        settings,
        runDeadlineSeconds,
        await previousMarker(
          store,
          event.schedule,
          runResources(config.settings.catalog, event.resources, true).tables,
        ),
      ),
    );
  // A `changed` schedule: the users of the webhook events it has not seen in a committed load,
  // or, for a slot run again (its load id is the slot's), the users that load was planned with.
  const reused =
    event.users === 'changed'
      ? await reusedSelection(
          store,
          loadIdFromTime(scheduled),
          event.schedule,
          scheduled.toISOString().slice(0, 10),
          'scheduledTime',
          false,
        )
      : undefined;
  const changed =
    event.users === 'changed'
      ? (reused ?? (await selectChangedUsers(store, event.schedule, scheduled, setCap ?? derivedCap)))
      : undefined;
  if (changed !== undefined && reused === undefined)
    await warnHeldBackEvents(store, event.schedule, scheduled, obs);
  const maxUsersPerRun = changed?.selection.maxUsers;
  // An `all` schedule: the users learned from webhooks join the list, with their task ids.
  const learned = changed === undefined ? await learnedUsers(store, scheduled) : undefined;
  // As the CLI's loads warn on stderr: a count, once per run, never an identifier.
  const padded = withSurroundingWhitespace(
    changed?.users.map((u) => u.identifier) ?? learned?.identifiers ?? [],
  );
  if (padded > 0)
    obs.log.warn(LEARNED_WHITESPACE_EVENT, {
      event: LEARNED_WHITESPACE_EVENT,
      users: padded,
      detail: `${padded} identifier(s) of the users learned from webhook events start or end with whitespace; they are loaded exactly as written (a different user from the same identifier without it)`,
    });
  const resources = runResources(
    config.settings.catalog,
    event.resources,
    changed !== undefined
      ? changed.users.some((u) => u.taskIds !== undefined)
      : (learned?.taskIds.size ?? 0) > 0,
  );

  obs.appendKeys({ loadId: loadIdFromTime(scheduled) });
  // First pass: validate and count the listed identifiers (duplicates included: an upper bound,
  // so batches are sized for at least as many users as will be loaded). The users learned from
  // webhooks follow the operator's list.
  const source = withLearnedUsers(
    lazyUsersSource(`s3://${config.usersBucket}/${config.usersKey}`, async () =>
      (await import('#adapters/s3-users-source.ts')).s3UsersSource({
        bucket: config.usersBucket,
        key: config.usersKey,
        setting: 'USERS_KEY',
      }),
    ),
    learned?.identifiers ?? [],
  );
  const listed = changed?.users.length ?? (await countListedUsers(source, 'users list'));

  // A changed run with no new event: nothing to load, stage or lock. The state machine ends the
  // run there, successfully (an hourly schedule is mostly such runs: none is a failure). An `all`
  // run whose list and registry are both empty (a new deployment that learns its users from
  // webhooks) ends the same way, with a warning: an emptied users list is worth a look.
  if (listed === 0) {
    obs.log.info('planned', {
      users: 0,
      listedUsers: 0,
      ...(changed ? { changedEvents: 0 } : {}),
      batches: 0,
    });
    const line = {
      event: NOTHING_TO_LOAD_EVENT,
      reason:
        changed !== undefined
          ? 'no webhook event since the last committed load of this schedule'
          : `the users list s3://${config.usersBucket}/${config.usersKey} has no identifier and no user was learned from webhook events`,
    };
    if (changed !== undefined) obs.log.info(NOTHING_TO_LOAD_EVENT, line);
    else obs.log.warn(NOTHING_TO_LOAD_EVENT, line);
    return {
      loadId: loadIdFromTime(scheduled),
      users: 0,
      batches: 0,
      itemsBucket: config.bucket,
      itemsKey: '',
      nothingToLoad: true,
    };
  }

  // The schedule's last load measured what a user costs: requests, and rows and bytes to merge.
  const previous = await previousMarker(store, event.schedule, resources.tables);
  const sizing = planCapacity({ ...capacityInput(settings, runDeadlineSeconds, previous), users: listed });

  // The load id comes from the slot, so a retried or re-delivered slot replaces its own load.
  const loadId = loadIdFromTime(scheduled);
  // Another execution writing this load id (a slot started twice by hand) is refused here; a
  // redrive is this execution again and joins. The lease lives as long as the run may.
  if (event.executionId !== undefined) {
    await acquireLease(store, loadId, {
      owner: { id: event.executionId, kind: 'step-functions', command: `schedule ${event.schedule}` },
      ttlMs: runDeadlineSeconds * 1000,
      clock: () => new Date(),
    });
  }
  const plan =
    changed === undefined
      ? await planFromSource(
          {
            loadId,
            startedAt: scheduled,
            source,
            listedUsers: listed,
            batchSize: sizing.batchSize,
            resources: resources.tables,
            schedule: event.schedule,
            usersSelection: 'all',
            ...(learned === undefined || learned.taskIds.size === 0
              ? {}
              : { taskIdsOf: (identifier: string) => learned.taskIds.get(identifier) }),
          },
          store,
        )
      : {
          ...(await planGivenUsers(
            {
              loadId,
              startedAt: scheduled,
              users: changed.users,
              batchSize: sizing.batchSize,
              resources: resources.tables,
              schedule: event.schedule,
              usersSelection: 'changed',
            },
            store,
          )),
          stats: { passes: 0 },
        };
  // Folded into the schedule's state by the commit, once the load is committed.
  if (changed !== undefined) await stageChangedSelection(store, loadId, changed.selection);
  const deferred = changed?.selection.deferred;
  const capacity: PlanCapacity = {
    batchSize: sizing.batchSize,
    waves: sizing.waves,
    requestsPerUser: sizing.requestsPerUser,
    requests: sizing.requests,
    commitSeconds: sizing.commitSeconds,
    mergeHandOff: sizing.merge.handOff,
    expectedSeconds: sizing.expectedSeconds,
    runDeadlineSeconds: sizing.runDeadlineSeconds,
    fits: sizing.fits,
    ...(sizing.problem === undefined ? {} : { problem: sizing.problem }),
    ...(maxUsersPerRun === undefined ? {} : { maxUsersPerRun }),
    ...(deferred === undefined
      ? {}
      : { changedUsersDeferred: deferred.users, changedEventsDeferred: deferred.events }),
  };
  obs.log.info('planned', {
    users: plan.users,
    listedUsers: listed,
    ...(changed === undefined ? {} : { changedEvents: changed.selection.events }),
    ...(learned === undefined
      ? {}
      : { learnedUsers: learned.identifiers.length, learnedFromPendingEvents: learned.fromPendingEvents }),
    batches: plan.batches,
    passes: plan.stats.passes,
    ...capacity,
  });
  obs.emit(
    planMetrics({
      users: plan.users,
      batches: plan.batches,
      requests: capacity.requests,
      expectedSeconds: capacity.expectedSeconds,
      ...(changed === undefined || changed.selection.rerun === true
        ? {}
        : { changedUsersDeferred: deferred?.users ?? 0, changedEventsDeferred: deferred?.events ?? 0 }),
    }),
  );
  // Not a failure: the next run takes them first (oldest events first).
  if (deferred !== undefined)
    obs.log.info(CHANGED_DEFERRED_EVENT, {
      event: CHANGED_DEFERRED_EVENT,
      users: deferred.users,
      events: deferred.events,
      maxUsersPerRun,
    });
  // Every user is still loaded. The stack's metric filter counts this line (its `event`, `stack`
  // and `schedule` fields, contract.ts OVER_DEADLINE_DIMENSIONS) and the alarm fires.
  if (!sizing.fits)
    obs.log.warn(OVER_DEADLINE_EVENT, { event: OVER_DEADLINE_EVENT, problem: sizing.problem });
  return {
    loadId: plan.loadId,
    users: plan.users,
    batches: plan.batches,
    itemsBucket: config.bucket,
    itemsKey: `${config.prefix ? `${config.prefix}/` : ''}${planItemsKey(plan.loadId)}`,
    capacity,
  };
}
