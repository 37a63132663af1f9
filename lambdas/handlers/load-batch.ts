/** Load-batch Lambda: one Distributed Map item -> staged parts + batch manifest. */
import type { Context } from 'aws-lambda';
import { adaptiveConcurrency } from '#core/adaptive-concurrency.ts';
import { selectResources } from '#core/config.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { assertLeaseOwner } from '#core/lease.ts';
import { loadBatch } from '#core/load-batch.ts';
import { readBatchUsers, readPlan } from '#core/plan.ts';
import { rateLimiterStats } from '#core/rate-limiter.ts';
import { recordSystemicCause } from '#core/systemic-cause.ts';
import { BATCH_DEADLINE_MARGIN_SECONDS, type LoadBatchEvent, type LoadBatchResult } from './contract.ts';
import { partWriters } from './part-writers.ts';
import { payLinkApi } from './paylink-api.ts';
import { guardRedrive } from './redrive-guard.ts';
import { handlerConfig, lakeStore } from './runtime.ts';

/** See BATCH_DEADLINE_MARGIN_SECONDS. */
export const DEADLINE_MARGIN_MS = BATCH_DEADLINE_MARGIN_SECONDS * 1000;

export async function handler(
  event: LoadBatchEvent,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<LoadBatchResult> {
  const config = handlerConfig();
  // A redriven run loads nothing while another run of its schedule is going.
  await guardRedrive(event.run, event.childRedriveCount);
  const store = lakeStore();
  // Before anything is cleared or staged: the load id must still be this execution's.
  if (event.run !== undefined)
    await assertLeaseOwner(store, event.loadId, event.run.execution, () => new Date());
  const plan = await readPlan(store, event.loadId);
  const remaining = context?.getRemainingTimeInMillis();
  const users = await readBatchUsers(store, plan.loadId, event.batch);
  const registry = await readCommittedSchema(store);
  const { api, limiter } = await payLinkApi();
  // Unless configured: as many users as this batch's share of the rate and PayLink's measured
  // latency need (Little's law), as the CLI does. The limiter holds the batch to its share
  // (infra/batch-rate.ts) whatever the user count, so adapting can never exceed it.
  const concurrency =
    config.userConcurrency === 'adaptive'
      ? adaptiveConcurrency({
          ratePerSecond: config.batchRequestRate,
          limiter: () => rateLimiterStats(limiter),
          now: () => performance.now(),
        })
      : config.userConcurrency;
  const manifest = await loadBatch(
    {
      loadId: plan.loadId,
      batch: event.batch,
      dt: plan.dt,
      startedAt: plan.startedAt,
      users,
      steps: selectResources(config.settings.catalog, plan.resources).steps,
      registry,
      concurrency,
      ...(remaining === undefined ? {} : { deadline: new Date(Date.now() + remaining - DEADLINE_MARGIN_MS) }),
    },
    { api, store, parts: partWriters(), clock: () => new Date() },
  ).catch(async (error: unknown) => {
    // The run fails with this cause after the Map (the Map's own result carries no cause).
    await recordSystemicCause(store, plan.loadId, event.batch, error);
    throw error;
  });
  const rows = Object.values(manifest.rowsByTable).reduce((a, b) => a + b, 0);
  console.log(
    JSON.stringify({
      event: 'batch_loaded',
      loadId: manifest.loadId,
      batch: manifest.batch,
      users: manifest.users,
      failedUsers: manifest.failedUsers.length,
      rows,
      files: manifest.files.length,
    }),
  );
  return {
    loadId: manifest.loadId,
    batch: manifest.batch,
    users: manifest.users,
    failedUsers: manifest.failedUsers.length,
    rows,
  };
}
