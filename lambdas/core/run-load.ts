/**
 * A whole load in one process (the CLI): plan -> every batch in turn -> commit. The deployed
 * stack runs the same three steps as separate Lambdas under Step Functions.
 * The batches share one schema registry here (names and provisional types of new columns); the
 * commit settles new columns' types from every batch's values, as for a deployed load.
 */
import { type ChangedSelection, stageChangedSelection } from './changed-users.ts';
import { type CommitDeps, commitLoad, type LoadMarker } from './commit.ts';
import type { ResourcePlan } from './config.ts';
import { DEFAULTS } from './constants.ts';
import { EndpointHealth } from './endpoint-health.ts';
import { InterruptedError } from './errors.ts';
import { readCommittedSchema } from './lake-schema.ts';
import { batchManifestKey, commitIntentKey, stagingPrefix } from './layout.ts';
import { acquireLease, type Lease, type LeaseOptions } from './lease.ts';
import {
  type BatchManifest,
  type BatchUser,
  type CarriedUnits,
  loadBatchUsers,
  userLoader,
} from './load-batch.ts';
import type { UserResult } from './load-user.ts';
import { extendPlan, type PlanDoc, type PlanInput, planLoad, readBatchUsers, resumablePlan } from './plan.ts';
import type { ConcurrencyControl } from './pool.ts';
import type { PayLinkApi } from './ports.ts';
import { StagingWindow } from './staging-window.ts';
import { readJson } from './store-json.ts';
import type { PartLimits } from './table-sinks.ts';
import { UserPrefetch } from './user-prefetch.ts';
import { assertRegistryMatchesNewestLoad } from './verify.ts';

export interface RunLoadInput {
  readonly loadId: string;
  readonly startedAt: Date;
  readonly users: readonly BatchUser[];
  readonly resources: ResourcePlan;
  readonly batchSize: number;
  /** Users in flight: a number (`--concurrency`), or a control that adapts it (adaptive-concurrency.ts). */
  readonly concurrency: number | ConcurrencyControl;
  readonly limits?: PartLimits;
  /** Batches staging at once at most (default DEFAULTS.stagingBatches; staging-window.ts). */
  readonly stagingBatches?: number;
  /**
   * True once the run should stop (SIGINT): no new user starts, users in flight finish, staged
   * batches are kept, and the run throws InterruptedError. A later run of the same load id and
   * input resumes: staged batches are reused, only the rest is loaded.
   */
  readonly stop?: () => boolean;
  /** A `changed` load (changed-users.ts): staged with the plan, folded into its schedule by the commit. */
  readonly changed?: ChangedSelection;
  /** The schedule the load reports (the CLI: `local`): with the users selection, its quality series. */
  readonly schedule?: string;
  /** `failed`: a re-run of an earlier load's failed users (its own quality series). */
  readonly usersFromFailed?: true;
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
  /** The plan this run follows; `resumed`: an earlier attempt's, whose staged batches are reused. */
  readonly onPlan?: (plan: PlanDoc, resumed: boolean) => void;
  /** The commit starts: from here an interruption can leave published (invisible) parts. */
  readonly onCommit?: (loadId: string) => void;
  /** Users of a batch an earlier attempt staged (progress counts them as done). */
  readonly onStaged?: (users: number) => void;
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
  const planInput: PlanInput = {
    loadId: input.loadId,
    startedAt: input.startedAt,
    users: input.users,
    batchSize: input.batchSize,
    resources: input.resources.tables,
    ...(input.schedule === undefined ? {} : { schedule: input.schedule }),
    usersSelection: input.changed !== undefined ? 'changed' : input.usersFromFailed ? 'failed' : 'all',
  };
  // An interrupted attempt of this load id with the same input: keep what it staged.
  const resumed = await resumablePlan(planInput, deps.store);
  let plan = resumed ?? (await planLoad(planInput, deps.store));
  if (input.changed !== undefined) await stageChangedSelection(deps.store, plan.loadId, input.changed);
  deps.onPlan?.(plan, resumed !== undefined);
  // One judge for the whole run: an endpoint found unusable in one batch is not called in the next.
  const health = new EndpointHealth(input.resources.steps.map((s) => s.resource));
  // Units waiting for a verdict cross batch boundaries (small batches judge like big ones).
  const carried: CarriedUnits = { units: [], failedLate: new Set() };
  /** Users an interrupted batch never started: loaded in batches appended to the plan. */
  const leftOut: BatchUser[] = [];
  let staged = 0;
  // Batches are pipelined: a batch's parts are closed and its manifest written (the lake's
  // slow part) while the next batches' users load, so requests never stop at a batch boundary.
  // Several batches may stage at once (small batches stage slower than they load), within one
  // batch's buffered rows and bytes together: memory stays two batches' buffers at most.
  const parquet = input.limits ?? DEFAULTS.parquet;
  const staging = new StagingWindow({
    batches: input.stagingBatches ?? DEFAULTS.stagingBatches,
    rows: parquet.bufferedRowsBudget,
    bytes: parquet.bufferedBytesBudget,
  });
  // A failed staging stops the batch loading meanwhile: no new user starts, and the run fails.
  const stop = () => input.stop?.() === true || staging.failed;
  // The next batch's first users start in the slots the current batch's last users free.
  const prefetch = new UserPrefetch(input.concurrency, stop);
  /** Where the previous batch's request count ended (the next one counts from there). */
  let requestsFrom: number | undefined;
  try {
    for (let batch = 0; batch < plan.batches; batch++) {
      await lease?.assertHeld();
      const done = resumed
        ? await readJson<BatchManifest>(deps.store, batchManifestKey(plan.loadId, batch))
        : undefined;
      if (done !== undefined) {
        // Staged by an earlier attempt: its types join this run's registry, its users are done.
        registry.merge(done.schema);
        staged += done.users;
        deps.onStaged?.(done.users);
        if (done.notStarted !== undefined && done.notStarted.length > 0) {
          const wanted = new Set(done.notStarted);
          const users = await readBatchUsers(deps.store, plan.loadId, batch);
          leftOut.push(...users.filter((u) => wanted.has(u.identifier)));
        }
      } else {
        if (stop()) {
          await staging.drain();
          throw new InterruptedError(plan.loadId, staged, plan.users);
        }
        deps.onBatch?.(batch, plan.batches);
        const concurrency = prefetch.poolFor(batch);
        await offerNext(prefetch, plan, batch, resumed !== undefined, input, deps, health, registry);
        const loaded = await loadBatchUsers(
          {
            loadId: plan.loadId,
            batch,
            dt: plan.dt,
            startedAt: plan.startedAt,
            users: await readBatchUsers(deps.store, plan.loadId, batch),
            steps: input.resources.steps,
            registry,
            concurrency,
            prefetched: (index) => prefetch.take(batch, index),
            ...(requestsFrom === undefined ? {} : { requestsFrom }),
            health,
            carried,
            // Users left out by an interrupted attempt get batches of their own after this one.
            lastBatch: batch === plan.batches - 1 && leftOut.length === 0,
            stop,
            ...(input.limits === undefined ? {} : { limits: input.limits }),
          },
          deps,
        );
        requestsFrom = loaded.requestsAt;
        // Waits only while the batches staging hold what this one would add beyond the window.
        try {
          // A failed staging stops the run when it fails, not once its parts are abandoned.
          await staging.admit(loaded.held, async (failing) => {
            staged += (await loaded.stage(failing)).users;
          });
        } catch (error) {
          await loaded.abort();
          throw error;
        }
        if (loaded.notStarted.length > 0) {
          await staging.drain();
          throw new InterruptedError(plan.loadId, staged, plan.users);
        }
      }
      if (batch === plan.batches - 1 && leftOut.length > 0)
        plan = await extendPlan(deps.store, plan, leftOut.splice(0));
    }
    await staging.drain();
  } catch (error) {
    // Batches still staging finish first (staged, or failed): nothing writes after we return,
    // and no request of a user started early is still running.
    await staging.settled();
    await prefetch.close();
    // Staged batches are kept for a resume when there are any (an interrupted or failed run of
    // thousands of users), and always when this run no longer holds the load id: the staging
    // is then another run's. Otherwise nothing was published: drop this attempt's staging
    // (keep a commit intent of an earlier one). `clean --apply` / `verify --fix --discard-resumable` remove what is kept.
    const stillOurs =
      lease === undefined ||
      (await lease.assertHeld().then(
        () => true,
        () => false,
      ));
    const keep = error instanceof InterruptedError || staged > 0 || resumed !== undefined || !stillOurs;
    if (!keep) await discardStaging(deps, plan.loadId).catch(() => undefined);
    throw error;
  }
  await prefetch.close();
  deps.onCommit?.(plan.loadId);
  return commitLoad(plan.loadId, lease === undefined ? deps : { ...deps, lease });
}

/**
 * Offers batch `batch + 1`'s users to the prefetcher, unless there is none or an earlier attempt
 * staged it already (a resume reuses that batch and loads none of its users).
 */
async function offerNext(
  prefetch: UserPrefetch,
  plan: PlanDoc,
  batch: number,
  resumed: boolean,
  input: RunLoadInput,
  deps: RunLoadDeps,
  health: EndpointHealth,
  registry: Awaited<ReturnType<typeof readCommittedSchema>>,
): Promise<void> {
  const next = batch + 1;
  if (next >= plan.batches) return;
  if (
    resumed &&
    (await readJson<BatchManifest>(deps.store, batchManifestKey(plan.loadId, next))) !== undefined
  )
    return;
  const users = await readBatchUsers(deps.store, plan.loadId, next);
  const load = userLoader(
    { loadId: plan.loadId, dt: plan.dt, steps: input.resources.steps },
    health,
    registry.routing(),
    deps.api,
  );
  prefetch.offer(next, users, load);
}

async function discardStaging(deps: RunLoadDeps, loadId: string): Promise<void> {
  const keep = commitIntentKey(loadId);
  const keys = (await deps.store.list(stagingPrefix(loadId))).filter((k) => k !== keep);
  if (keys.length > 0) await deps.store.delete(keys);
}
