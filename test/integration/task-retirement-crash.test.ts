/**
 * A load with `tasks` dying at each store write of its commit from its events claim on (the
 * claim carries the load's task checks; the fold into the registry comes after the commit
 * point), then a next load: the registry loses no user or task id, and a miss is counted once
 * per committed load, never twice (a fold the crash cut short is folded again by the next
 * commit) and never for a load that did not commit. As test/helpers/crash-points.ts, in-process.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { createPayLinkClient } from '#adapters/paylink-client.ts';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { loaderSettings, selectResources } from '#core/config.ts';
import { EVENT_CLAIMS } from '#core/event-claims.ts';
import { dltLoadsKey } from '#core/layout.ts';
import type { ObjectStore } from '#core/ports.ts';
import { runLoad } from '#core/run-load.ts';
import { FINAL_TASK_STATUSES } from '#core/task-retirement.ts';
import { type RegisteredUser, registeredTaskIds, registeredUsers } from '#core/user-registry.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { crashingStore, type StoreWrite } from '#test/helpers/crash-points.ts';
import { writeRegistryShards } from '#test/helpers/registry-shards.ts';

const API_KEY = 'retire-crash-key';
const API_SECRET = 'retire-crash-secret';
const SEED = 'retire-crash';
const TTL_MS = 60_000;
/** Three misses retire: after the crashed load and the next one, every stale id has exactly two. */
const RETIRE_AFTER = 3;

describe('a load with tasks dying during its commit, then the next load', () => {
  let sim: Simulator;
  let scratch: string;
  let base: string;
  let users: string[];
  let real: string[];
  let writes: StoreWrite[];

  const load = async (store: ObjectStore, loadId: string, now: () => Date) => {
    const settings = loaderSettings({ baseUrl: sim.url });
    const taskIds = await registeredTaskIds(store, users);
    await runLoad(
      {
        loadId,
        startedAt: now(),
        users: users.map((identifier) => {
          const ids = taskIds.get(identifier);
          return ids === undefined ? { identifier } : { identifier, taskIds: ids };
        }),
        resources: selectResources(settings.catalog, ['tasks']),
        batchSize: 3,
        concurrency: 1,
      },
      {
        api: createPayLinkClient({
          baseUrl: settings.baseUrl,
          credentials: { apiKey: API_KEY, apiSecret: API_SECRET },
          rateLimiter: createSystemRateLimiter(10_000),
          http: settings.http,
        }),
        store,
        parts: createParquetPartWriterFactory(),
        reader: createParquetPartReader(),
        clock: now,
        retireTaskAfterMisses: RETIRE_AFTER,
        eventsLock: { ttlMs: TTL_MS, waitMs: 0 },
        leasing: { options: { owner: { id: `run-${loadId}`, kind: 'test' }, ttlMs: TTL_MS, clock: now } },
      },
    );
  };
  const isFinal = (status: string) => FINAL_TASK_STATUSES.includes(status);
  /** The registry reduced to what must never be lost or double counted. */
  const shape = (registry: Map<string, RegisteredUser>) =>
    Object.fromEntries(
      [...registry].map(([id, u]) => [
        id,
        {
          taskIds: u.taskIds,
          misses: u.misses ?? {},
          retired: Object.fromEntries(Object.entries(u.retired ?? {}).map(([t, r]) => [t, r.reason])),
        },
      ]),
    );

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await mkdtemp(join(tmpdir(), 'paylink-retire-crash-'));
    const identifiers = generateIdentifiers(SEED, 8);
    real = identifiers.slice(2).filter((id) => sim.served(id).taskIds.length > 0);
    users = [...identifiers.slice(0, 2), ...real];
    base = join(scratch, 'base');
    await writeRegistryShards(
      base,
      [
        [identifiers[0]!, ['gone-0']],
        [identifiers[1]!, ['gone-1']],
        ...real.map((identifier) => [identifier, sim.served(identifier).taskIds] as const),
      ],
      { formatVersion: 1, day: '2026-01-01' },
    );
    // Fault-free, to count the writes.
    const reference = join(scratch, 'reference');
    await cp(base, reference, { recursive: true });
    writes = [];
    await load(
      crashingStore(openStore(reference), 0, (w) => writes.push(w)),
      'L1',
      () => new Date(),
    );
  });
  afterAll(async () => {
    await sim?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('loses no registry entry and counts each committed miss once, at every crash point', async () => {
    expect(real.length, 'users with real tasks in the sample').toBeGreaterThan(1);
    const claimAt = writes.find((w) => w.key === `${EVENT_CLAIMS.claimsPrefix}L1.json`)!.n;
    const points = writes.filter((w) => w.n >= claimAt);
    expect(points.length).toBeGreaterThan(5);
    const later = () => new Date(Date.now() + TTL_MS + 1_000);
    for (const point of points) {
      const dest = join(scratch, `crash-${point.n}`);
      await cp(base, dest, { recursive: true });
      // Dies there (a crash after the commit point may go unnoticed: the steps after it never fail the load).
      await load(crashingStore(openStore(dest), point.n), 'L1', () => new Date()).catch(() => undefined);
      const committed = (await openStore(dest).get(dltLoadsKey('L1'))) !== undefined;
      await load(openStore(dest), 'L2', later);
      const registry = shape(await registeredUsers(openStore(dest)));
      const loads = committed ? ['L1', 'L2'] : ['L2'];
      const expected = Object.fromEntries(
        users.map((identifier, n) => {
          if (n < 2)
            return [identifier, { taskIds: [`gone-${n}`], misses: { [`gone-${n}`]: loads }, retired: {} }];
          const tasks = Object.values(sim.served(identifier).tasks);
          return [
            identifier,
            {
              taskIds: tasks.filter((t) => !isFinal(t.status)).map((t) => t._id),
              misses: {},
              retired: Object.fromEntries(
                tasks.filter((t) => isFinal(t.status)).map((t) => [t._id, 'final_status']),
              ),
            },
          ];
        }),
      );
      expect(
        registry,
        `crash at write ${point.n} (${point.kind} ${point.key}); L1 committed: ${committed}`,
      ).toEqual(expected);
      await rm(dest, { recursive: true, force: true });
    }
  });
});
