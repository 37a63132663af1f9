/**
 * Plan Lambda: the users list from S3 -> batches sized to their deadline, staged under
 * `_staging/<load_id>/` with the Distributed Map's item file. The sizing (lambdas/core/capacity.ts)
 * uses the requests per user measured by the previous committed load.
 */
import { createS3Store } from '#adapters/s3-store.ts';
import { measuredRequestsPerUser, planCapacity } from '#core/capacity.ts';
import { selectResources } from '#core/config.ts';
import { ConfigError } from '#core/errors.ts';
import { loadIdFromTime, loadsPrefix } from '#core/layout.ts';
import { acquireLease } from '#core/lease.ts';
import { planItemsKey, planLoad } from '#core/plan.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import { parseUsersList } from '#core/users.ts';
import {
  HANDLER_ENV,
  OVER_DEADLINE_EVENT,
  type PlanCapacity,
  type PlanEvent,
  type PlanResult,
} from './contract.ts';
import { handlerConfig, lakeStore } from './runtime.ts';

/** The latest committed load's marker (load ids sort by time), if any. */
async function previousMarker(
  store: ObjectStore,
): Promise<{ users?: unknown; requests?: unknown } | undefined> {
  const markers = (await store.list(loadsPrefix)).filter((k) => k.endsWith('.json'));
  const latest = markers.at(-1);
  return latest === undefined ? undefined : readJson(store, latest);
}

export async function handler(event: PlanEvent): Promise<PlanResult> {
  const config = handlerConfig();
  const scheduled = new Date(event.scheduledTime);
  if (Number.isNaN(scheduled.getTime())) throw new ConfigError('scheduledTime', 'is not an ISO timestamp');
  const resources = selectResources(config.settings.catalog, event.resources);
  const settings = config.capacity;
  if (settings === undefined) throw new ConfigError(HANDLER_ENV.capacity, 'environment variable is not set');
  const runDeadlineSeconds = settings.runDeadlineSeconds[event.schedule];
  if (runDeadlineSeconds === undefined) {
    throw new ConfigError(
      'schedule',
      `unknown schedule; known: ${Object.keys(settings.runDeadlineSeconds).sort().join(', ')}`,
    );
  }

  const usersStore = createS3Store({ bucket: config.usersBucket, prefix: '' });
  const usersObject = await usersStore.get(config.usersKey);
  if (usersObject === undefined) {
    throw new ConfigError('USERS_KEY', `no users list at s3://${config.usersBucket}/${config.usersKey}`);
  }
  const identifiers = [...new Set(parseUsersList(new TextDecoder().decode(usersObject), 'users list'))];

  const store = lakeStore();
  const sizing = planCapacity({
    users: identifiers.length,
    requestRate: settings.requestRate,
    maxConcurrency: settings.maxConcurrency,
    maxBatchSize: settings.maxBatchSize,
    requestsPerUser: measuredRequestsPerUser(await previousMarker(store)),
    batchTimeoutSeconds: settings.batchTimeoutSeconds,
    batchMarginSeconds: settings.batchMarginSeconds,
    runDeadlineSeconds,
    guardSeconds: settings.guardSeconds,
    commitSeconds: settings.commitSeconds,
  });

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
  const plan = await planLoad(
    {
      loadId,
      startedAt: scheduled,
      users: identifiers.map((identifier) => ({ identifier })),
      batchSize: sizing.batchSize,
      resources: resources.tables,
    },
    store,
  );
  const capacity: PlanCapacity = {
    batchSize: sizing.batchSize,
    waves: sizing.waves,
    requestsPerUser: sizing.requestsPerUser,
    requests: sizing.requests,
    expectedSeconds: sizing.expectedSeconds,
    runDeadlineSeconds: sizing.runDeadlineSeconds,
    fits: sizing.fits,
    ...(sizing.problem === undefined ? {} : { problem: sizing.problem }),
  };
  console.log(
    JSON.stringify({
      event: 'planned',
      loadId: plan.loadId,
      users: plan.users,
      batches: plan.batches,
      ...capacity,
    }),
  );
  // Every user is still loaded; the metric filter on this line raises the alarm.
  if (!sizing.fits)
    console.log(JSON.stringify({ event: OVER_DEADLINE_EVENT, loadId: plan.loadId, problem: sizing.problem }));
  return {
    loadId: plan.loadId,
    users: plan.users,
    batches: plan.batches,
    itemsBucket: config.bucket,
    itemsKey: `${config.prefix ? `${config.prefix}/` : ''}${planItemsKey(plan.loadId)}`,
    capacity,
    ...(event.executionId === undefined ? {} : { executionId: event.executionId }),
  };
}
