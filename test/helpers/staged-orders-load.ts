/**
 * A load of `orders` planned and staged batch by batch, uncommitted, as the Step Functions map
 * runs it one batch at a time: each batch reads the committed registry, as a load-batch Lambda
 * does. For tests of what the commit makes of the staged parts.
 */
import { resolveCatalog, selectResources } from '#core/config.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { loadBatch } from '#core/load-batch.ts';
import { planLoad, readBatchUsers, readPlan } from '#core/plan.ts';
import type { ObjectStore, PartWriterFactory, PayLinkApi } from '#core/ports.ts';

export interface StagedOrdersLoad {
  readonly store: ObjectStore;
  readonly loadId: string;
  readonly identifiers: readonly string[];
  readonly batchSize: number;
  readonly api: PayLinkApi;
  /** The parts writer the commit will read back with. */
  readonly parts: PartWriterFactory;
  /** The load's clock; the load starts at its time. */
  readonly clock: () => Date;
}

const steps = selectResources(resolveCatalog(), ['orders']).steps;

/** Plans `loadId` (clearing an earlier attempt's staging, as a re-run does) and stages every batch, one user at a time. */
export async function stageOrdersLoad(load: StagedOrdersLoad): Promise<void> {
  const { store, loadId, clock } = load;
  await planLoad(
    {
      loadId,
      startedAt: clock(),
      users: load.identifiers.map((identifier) => ({ identifier })),
      batchSize: load.batchSize,
      resources: ['orders'],
    },
    store,
  );
  const plan = await readPlan(store, loadId);
  for (let batch = 0; batch < plan.batches; batch++) {
    await loadBatch(
      {
        loadId,
        batch,
        dt: plan.dt,
        startedAt: plan.startedAt,
        users: await readBatchUsers(store, loadId, batch),
        steps,
        registry: await readCommittedSchema(store),
        concurrency: 1,
      },
      { api: load.api, store, parts: load.parts, clock },
    );
  }
}
