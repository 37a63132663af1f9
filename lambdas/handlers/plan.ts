/** Plan Lambda: the users list from S3 -> sorted batches staged under `_staging/<load_id>/`. */
import { createS3Store } from '#adapters/s3-store.ts';
import { selectResources } from '#core/config.ts';
import { ConfigError } from '#core/errors.ts';
import { loadIdFromTime } from '#core/layout.ts';
import { planLoad } from '#core/plan.ts';
import { parseUsersList } from '#core/users.ts';
import type { PlanEvent, PlanResult } from './contract.ts';
import { handlerConfig, lakeStore } from './runtime.ts';

export async function handler(event: PlanEvent): Promise<PlanResult> {
  const config = handlerConfig();
  const scheduled = new Date(event.scheduledTime);
  if (Number.isNaN(scheduled.getTime())) throw new ConfigError('scheduledTime', 'is not an ISO timestamp');
  const resources = selectResources(config.settings.catalog, event.resources);

  const usersStore = createS3Store({ bucket: config.usersBucket, prefix: '' });
  const usersObject = await usersStore.get(config.usersKey);
  if (usersObject === undefined) {
    throw new ConfigError('USERS_KEY', `no users list at s3://${config.usersBucket}/${config.usersKey}`);
  }
  const identifiers = parseUsersList(new TextDecoder().decode(usersObject), 'users list');

  // The load id comes from the slot, so a retried or re-delivered slot replaces its own load.
  const plan = await planLoad(
    {
      loadId: loadIdFromTime(scheduled),
      startedAt: scheduled,
      users: identifiers.map((identifier) => ({ identifier })),
      batchSize: config.batchSize,
      resources: resources.tables,
    },
    lakeStore(),
  );
  console.log(
    JSON.stringify({ event: 'planned', loadId: plan.loadId, users: plan.users, batches: plan.batches }),
  );
  return {
    loadId: plan.loadId,
    users: plan.users,
    batches: Array.from({ length: plan.batches }, (_, batch) => ({ loadId: plan.loadId, batch })),
  };
}
