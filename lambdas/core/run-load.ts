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
import { type BatchUser, type CarriedUnits, loadBatch } from './load-batch.ts';
import type { UserResult } from './load-user.ts';
import { planLoad, readBatchUsers } from './plan.ts';
import type { PayLinkApi } from './ports.ts';
import type { PartLimits } from './table-sinks.ts';

export interface RunLoadInput {
  readonly loadId: string;
  readonly startedAt: Date;
  readonly users: readonly BatchUser[];
  readonly resources: ResourcePlan;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly limits?: PartLimits;
}

export interface RunLoadDeps extends CommitDeps {
  readonly api: PayLinkApi;
  readonly onUser?: (result: UserResult) => void;
  readonly onBatch?: (batch: number, batches: number) => void;
}

export async function runLoad(input: RunLoadInput, deps: RunLoadDeps): Promise<LoadMarker> {
  // First, before anything is written: a lost or damaged registry stops the load here.
  const registry = await readCommittedSchema(deps.store);
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
  // Units waiting for a verdict cross batch boundaries (small batches judge like big ones).
  const carried: CarriedUnits = { units: [], failedLate: new Set() };
  try {
    for (let batch = 0; batch < plan.batches; batch++) {
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
          carried,
          lastBatch: batch === plan.batches - 1,
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
  return commitLoad(plan.loadId, deps);
}

async function discardStaging(deps: RunLoadDeps, loadId: string): Promise<void> {
  const keep = commitIntentKey(loadId);
  const keys = (await deps.store.list(stagingPrefix(loadId))).filter((k) => k !== keep);
  if (keys.length > 0) await deps.store.delete(keys);
}
