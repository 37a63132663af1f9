/**
 * A whole load in one process (the CLI): plan -> every batch in turn -> commit. The deployed
 * stack runs the same three steps as separate Lambdas under Step Functions.
 * The batches share one schema registry here, so a column gets one type across the load.
 */
import { type CommitDeps, commitLoad, type LoadMarker } from './commit.ts';
import type { ResourcePlan } from './config.ts';
import { EndpointHealth } from './endpoint-health.ts';
import { readCommittedSchema } from './lake-schema.ts';
import { commitIntentKey, stagingPrefix } from './layout.ts';
import { acquireLease, type Lease, type LeaseOptions } from './lease.ts';
import { type BatchUser, loadBatch } from './load-batch.ts';
import type { UserResult } from './load-user.ts';
import { planLoad, readBatchUsers } from './plan.ts';
import type { PayLinkApi } from './ports.ts';
import type { PartLimits } from './table-sinks.ts';
import { assertRegistryMatchesNewestLoad } from './verify.ts';

export interface RunLoadInput {
  readonly loadId: string;
  readonly startedAt: Date;
  readonly users: readonly BatchUser[];
  readonly resources: ResourcePlan;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly limits?: PartLimits;
}

export interface RunLoadDeps extends Omit<CommitDeps, 'lease'> {
  readonly api: PayLinkApi;
  /**
   * Take the load id's lease for the whole run (lease.ts), so two runs of one id never
   * interleave. `heartbeat(renew)` starts renewing it (every ttl / 3) and returns the stop.
   */
  readonly leasing?: {
    readonly options: LeaseOptions;
    readonly heartbeat?: (renew: () => Promise<void>, everyMs: number) => () => void;
  };
  readonly onUser?: (result: UserResult) => void;
  readonly onBatch?: (batch: number, batches: number) => void;
}

export async function runLoad(input: RunLoadInput, deps: RunLoadDeps): Promise<LoadMarker> {
  if (deps.leasing === undefined) return runLeased(input, deps, undefined);
  const lease = await acquireLease(deps.store, input.loadId, deps.leasing.options);
  // A failed renewal is remembered by the lease (a lost one) or retried at the next beat.
  const stop =
    deps.leasing.heartbeat?.(
      () => lease.renew().catch(() => undefined),
      Math.max(1, Math.floor(deps.leasing.options.ttlMs / 3)),
    ) ?? (() => undefined);
  try {
    return await runLeased(input, deps, lease);
  } finally {
    stop();
    await lease.release().catch(() => undefined);
  }
}

async function runLeased(
  input: RunLoadInput,
  deps: RunLoadDeps,
  lease: Lease | undefined,
): Promise<LoadMarker> {
  // First, before any data is written: a lost or damaged registry stops the load here.
  const registry = await readCommittedSchema(deps.store);
  await assertRegistryMatchesNewestLoad(deps.store, deps.reader, registry);
  const plan = await planLoad(
    {
      loadId: input.loadId,
      startedAt: input.startedAt,
      users: input.users,
      batchSize: input.batchSize,
      resources: input.resources.tables,
    },
    deps.store,
  );
  // One judge for the whole run: an endpoint found unusable in one batch is not called in the next.
  const health = new EndpointHealth(input.resources.steps.map((s) => s.resource));
  try {
    for (let batch = 0; batch < plan.batches; batch++) {
      await lease?.assertHeld();
      deps.onBatch?.(batch, plan.batches);
      await loadBatch(
        {
          loadId: plan.loadId,
          batch,
          dt: plan.dt,
          startedAt: plan.startedAt,
          users: await readBatchUsers(deps.store, plan.loadId, batch),
          steps: input.resources.steps,
          registry,
          concurrency: input.concurrency,
          health,
          ...(input.limits === undefined ? {} : { limits: input.limits }),
        },
        deps,
      );
    }
  } catch (error) {
    // Nothing was published: drop this attempt's staging (keep a commit intent of an earlier one).
    await discardStaging(deps, plan.loadId).catch(() => undefined);
    throw error;
  }
  return commitLoad(plan.loadId, lease === undefined ? deps : { ...deps, lease });
}

async function discardStaging(deps: RunLoadDeps, loadId: string): Promise<void> {
  const keep = commitIntentKey(loadId);
  const keys = (await deps.store.list(stagingPrefix(loadId))).filter((k) => k !== keep);
  if (keys.length > 0) await deps.store.delete(keys);
}
