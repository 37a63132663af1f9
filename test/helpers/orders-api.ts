/**
 * An in-process PayLinkApi whose every user has the same small `orders` answer (one order,
 * `o-<identifier>`), counting requests as the real client does, and a load of `orders` through
 * it: for tests of what a load does around the API (events, commits), not of the API itself.
 */
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { type ChangedSelection, selectChangedUsers } from '#core/changed-users.ts';
import type { LoadMarker } from '#core/commit.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import type { EventsLockOptions } from '#core/event-claims.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { type RunLoadInput, runLoad } from '#core/run-load.ts';

export function ordersApi(): PayLinkApi {
  let requests = 0;
  return {
    async openSession(identifier) {
      requests++;
      return {
        async getJson() {
          requests++;
          return { orders: [{ id: `o-${identifier}`, total: 10 }] };
        },
      };
    },
    stats: () => ({ requests, retries: 0 }),
  };
}

/** The events lock taken at once or not at all: no test waits for it unless it says so. */
export const NO_LOCK_WAIT: EventsLockOptions = { sleep: async () => undefined, waitMs: 0 };

export interface OrdersLoad {
  readonly loadId: string;
  readonly users: RunLoadInput['users'];
  readonly store: ObjectStore;
  /** The load's clock; the load starts at its time when called. */
  readonly clock: () => Date;
  /** A `changed` load: the selection its users came from, on the CLI's schedule, `local`. */
  readonly changed?: ChangedSelection;
  /** Default NO_LOCK_WAIT. */
  readonly eventsLock?: EventsLockOptions;
  /** Default `ordersApi()`. */
  readonly api?: PayLinkApi;
}

/** A load of `orders` as the CLI runs it (batches of 10, 2 users at a time), against ordersApi. */
export function loadOrders(load: OrdersLoad): Promise<LoadMarker> {
  return runLoad(
    {
      loadId: load.loadId,
      startedAt: load.clock(),
      users: load.users,
      ...(load.changed === undefined ? {} : { changed: load.changed, schedule: 'local' }),
      resources: selectResources(resolveCatalog(), ['orders']),
      batchSize: 10,
      concurrency: 2,
    },
    {
      api: load.api ?? ordersApi(),
      store: load.store,
      parts: createParquetPartWriterFactory(),
      reader: createParquetPartReader(),
      clock: load.clock,
      eventsLock: load.eventsLock ?? NO_LOCK_WAIT,
    },
  );
}

/**
 * A `changed` load of orders as the CLI runs it at `now` on the `local` schedule, of at most
 * `maxUsers` users: the identifiers the pending webhook events chose, loaded and committed; none
 * (and no load) when no event is pending.
 */
export async function changedOrdersLoad(
  store: ObjectStore,
  loadId: string,
  now: Date,
  maxUsers?: number,
): Promise<string[]> {
  const { users, selection } = await selectChangedUsers(store, 'local', now, maxUsers);
  if (users.length === 0) return [];
  await loadOrders({ loadId, users, changed: selection, store, clock: () => now });
  return users.map((u) => u.identifier);
}
