/**
 * Plan a load: fix its id and partition date, sort and cut the users into batches, and stage
 * the plan. Deterministic: the same users and load id give the same batches, so a retried
 * scheduled slot re-creates the same keys. A previous attempt's staging is cleared, except
 * its commit intent, which the next commit needs to remove parts it will not write again.
 *
 * The batch list the Step Functions Distributed Map iterates is an S3 object too
 * (`_staging/<load_id>/items.json`, read by the Map's ItemReader), never the plan step's output:
 * a state's payload is capped at 256 KiB, an item file is not, so the user count is unbounded.
 *
 * Two entry points. `planLoad` takes the users in memory (the CLI's local loads). `planFromSource`
 * (the plan Lambda) streams the users list and holds a bounded number of identifiers whatever
 * its length: see its docstring.
 */
import { createHash } from 'node:crypto';
import { ConfigError, LakeStateError } from './errors.ts';
import { assertLoadId, batchUsersKey, commitIntentKey, loadDate, planKey, stagingPrefix } from './layout.ts';
import type { BatchUser } from './load-batch.ts';
import type { ObjectStore } from './ports.ts';
import type { UsersSelection } from './quality.ts';
import { readJson } from './store-json.ts';
import { readIdentifiers, type UsersSource } from './users-stream.ts';

export interface PlanDoc {
  readonly formatVersion: 1;
  readonly loadId: string;
  readonly dt: string;
  readonly startedAt: string;
  /** Tables selected for this load (user_loads records outcomes for exactly these). */
  readonly resources: readonly string[];
  readonly users: number;
  readonly batchSize: number;
  readonly batches: number;
  /**
   * Identifies the input (sorted users, batch size, resources): a run with the same load id and
   * the same input resumes this plan's staged batches instead of planning again.
   */
  readonly inputDigest?: string;
  /**
   * The schedule that planned it (deployed; the CLI's loads name `local`), so its history can be
   * told apart: the load report carries it, and the quality signals compare loads of one series.
   */
  readonly schedule?: string;
  /** Every listed user, or only those with new webhook events (absent in older plans: `all`). */
  readonly usersSelection?: UsersSelection;
}

/** One Distributed Map item: what a load-batch invocation receives. */
export interface PlanItem {
  readonly loadId: string;
  readonly batch: number;
}

/** The Map's item file (a JSON array of PlanItem), next to the plan. */
export function planItemsKey(loadId: string): string {
  return `${stagingPrefix(assertLoadId(loadId))}items.json`;
}

export interface PlanInput {
  readonly loadId: string;
  readonly startedAt: Date;
  readonly users: readonly BatchUser[];
  readonly batchSize: number;
  readonly resources: readonly string[];
  /** The schedule that planned it (the CLI: `local`). */
  readonly schedule?: string;
  readonly usersSelection?: UsersSelection;
}

/** Code-unit order: identical on every machine and locale. */
const compareIdentifiers = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const byIdentifier = (a: BatchUser, b: BatchUser) => compareIdentifiers(a.identifier, b.identifier);

function sortedUsers(users: readonly BatchUser[]): BatchUser[] {
  const unique = new Map<string, BatchUser>();
  for (const user of users) if (!unique.has(user.identifier)) unique.set(user.identifier, user);
  return [...unique.values()].sort(byIdentifier);
}

function inputDigest(users: readonly BatchUser[], input: PlanInput): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ batchSize: input.batchSize, resources: input.resources }));
  for (const user of users) hash.update(`\n${JSON.stringify(user)}`);
  return hash.digest('hex');
}

/**
 * The staged plan of an earlier, unfinished attempt of this load id with the same input, if
 * any: its completed batches can be reused.
 */
export async function resumablePlan(input: PlanInput, store: ObjectStore): Promise<PlanDoc | undefined> {
  const plan = await readJson<PlanDoc>(store, planKey(assertLoadId(input.loadId)));
  if (plan?.inputDigest === undefined) return undefined;
  return plan.inputDigest === inputDigest(sortedUsers(input.users), input) ? plan : undefined;
}

/**
 * Appends batches for `users` (the users an interrupted batch never started) to a staged plan.
 * Their batch numbers follow the plan's last one, so no staged key is reused.
 */
export async function extendPlan(
  store: ObjectStore,
  plan: PlanDoc,
  users: readonly BatchUser[],
): Promise<PlanDoc> {
  const added = Math.ceil(users.length / plan.batchSize);
  for (let i = 0; i < added; i++) {
    const slice = users.slice(i * plan.batchSize, (i + 1) * plan.batchSize);
    await store.put(batchUsersKey(plan.loadId, plan.batches + i), JSON.stringify(slice));
  }
  const extended: PlanDoc = { ...plan, batches: plan.batches + added };
  const items: PlanItem[] = Array.from({ length: extended.batches }, (_, batch) => ({
    loadId: plan.loadId,
    batch,
  }));
  await store.put(planItemsKey(plan.loadId), JSON.stringify(items));
  await store.put(planKey(plan.loadId), JSON.stringify(extended));
  return extended;
}

export async function planLoad(input: PlanInput, store: ObjectStore): Promise<PlanDoc> {
  const loadId = assertLoadId(input.loadId);
  if (!Number.isInteger(input.batchSize) || input.batchSize < 1) {
    throw new ConfigError('batch-size', 'must be a positive integer');
  }
  const users = sortedUsers(input.users);

  await clearPreviousAttempt(store, loadId);

  const batches = Math.ceil(users.length / input.batchSize);
  const writes = boundedWrites(PLAN_LIMITS.writeConcurrency);
  for (let b = 0; b < batches; b++) {
    const slice = users.slice(b * input.batchSize, (b + 1) * input.batchSize);
    await writes.add(() => store.put(batchUsersKey(loadId, b), JSON.stringify(slice)));
  }
  await writes.drain();
  const plan: PlanDoc = {
    formatVersion: 1,
    loadId,
    dt: loadDate(loadId, input.startedAt),
    startedAt: input.startedAt.toISOString(),
    resources: [...input.resources],
    users: users.length,
    batchSize: input.batchSize,
    batches,
    inputDigest: inputDigest(users, input),
    ...(input.schedule === undefined ? {} : { schedule: input.schedule }),
    ...(input.usersSelection === undefined ? {} : { usersSelection: input.usersSelection }),
  };
  const items: PlanItem[] = Array.from({ length: batches }, (_, batch) => ({ loadId, batch }));
  await store.put(planItemsKey(loadId), JSON.stringify(items));
  await store.put(planKey(loadId), JSON.stringify(plan));
  return plan;
}

/** A previous attempt's staging goes, except its commit intent (the next commit needs it). */
async function clearPreviousAttempt(store: ObjectStore, loadId: string): Promise<void> {
  const keep = commitIntentKey(loadId);
  const previous = (await store.list(stagingPrefix(loadId))).filter((k) => k !== keep);
  if (previous.length > 0) await store.delete(previous);
}

/** Bounds of the streaming plan, as data. */
export const PLAN_LIMITS = {
  /**
   * Distinct identifiers one pass over the users list keeps at most (about: one hash shard).
   * 500k identifiers of ~40 characters are ~50 MB of strings, set entries and the sorted copy:
   * a fraction of the plan Lambda's 512 MiB, and the same for 500k users as for 20M. Larger
   * shards mean fewer passes (bench/results/plan-memory.md has time and memory).
   */
  shardUsers: 500_000,
  /** Batch files written at once: S3 PUTs are latency-bound, not bandwidth-bound. */
  writeConcurrency: 16,
} as const;

/**
 * Runs async writes with at most `limit` in flight; `add` waits for a free slot (back-pressure,
 * so the caller never queues more than `limit` bodies). The first failure is rethrown by the
 * next `add` or by `drain`, after which nothing new starts.
 */
export function boundedWrites(limit: number): {
  add(task: () => Promise<void>): Promise<void>;
  drain(): Promise<void>;
  /** Most writes that were ever in flight at once. */
  readonly peak: number;
} {
  const inflight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let peak = 0;
  return {
    async add(task) {
      while (inflight.size >= limit && failure === undefined) await Promise.race(inflight);
      if (failure !== undefined) throw failure.error;
      const running: Promise<void> = task()
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => inflight.delete(running));
      inflight.add(running);
      peak = Math.max(peak, inflight.size);
    },
    async drain() {
      await Promise.all([...inflight]);
      if (failure !== undefined) throw failure.error;
    },
    get peak() {
      return peak;
    },
  };
}

/**
 * Which of `shards` hash shards an identifier belongs to: FNV-1a over its UTF-16 code units.
 * Fixed forever (plans must be reproducible): changing it reshuffles every plan's batches.
 */
export function identifierShard(identifier: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < identifier.length; i++) {
    hash ^= identifier.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

export interface StreamPlanInput {
  readonly loadId: string;
  readonly startedAt: Date;
  readonly source: UsersSource;
  /** Identifiers listed (duplicates included; countListedUsers): decides the number of passes. */
  readonly listedUsers: number;
  /** Users per batch (the capacity plan's balanced size). */
  readonly batchSize: number;
  readonly resources: readonly string[];
  readonly schedule?: string;
  readonly usersSelection?: UsersSelection;
  /** The task ids known for a user (the users learned from webhooks), given to the `tasks` resource. */
  readonly taskIdsOf?: (identifier: string) => readonly string[] | undefined;
  /** Overrides PLAN_LIMITS (tests use small values to exercise several passes). */
  readonly limits?: Partial<Record<keyof typeof PLAN_LIMITS, number>>;
}

/** What streaming cost: passes over the list and the most identifiers held at once. */
export interface StreamPlanStats {
  readonly passes: number;
  readonly shards: number;
  /** Largest number of identifiers held at one time (a shard's set + the batch being cut). */
  readonly peakHeldUsers: number;
  /** Most batch-file writes in flight at once (<= limits.writeConcurrency). */
  readonly peakConcurrentWrites: number;
}

/**
 * Plans a load by streaming the users list, in bounded memory whatever its length.
 *
 * Duplicates are loaded once and the batches must not depend on the list's line order, so
 * identifiers are split by a fixed hash into `ceil(listedUsers / shardUsers)` shards; each
 * pass over the list keeps one shard's distinct identifiers, sorts them (code-unit order) and
 * cuts them into batches of `batchSize` (a batch may span two shards). Each identifier falls in
 * exactly one shard, so de-duplication is exact; a pass holds about `shardUsers` identifiers,
 * plus the batch being cut and the `writeConcurrency` batch bodies being written. The list is
 * read once per shard (plus once to count): 2 reads up to 500k listed users, 5 for 2M.
 * Batch files are written while the list streams, at most `writeConcurrency` at once; the Map's
 * item file is streamed too (ObjectStore.openWrite). With a single shard the batches equal
 * `planLoad`'s for the same users.
 */
export async function planFromSource(
  input: StreamPlanInput,
  store: ObjectStore,
): Promise<PlanDoc & { readonly stats: StreamPlanStats }> {
  const loadId = assertLoadId(input.loadId);
  if (!Number.isInteger(input.batchSize) || input.batchSize < 1) {
    throw new ConfigError('batch-size', 'must be a positive integer');
  }
  const limits = { ...PLAN_LIMITS, ...input.limits };
  const shards = Math.max(1, Math.ceil(input.listedUsers / limits.shardUsers));
  await clearPreviousAttempt(store, loadId);

  const writes = boundedWrites(limits.writeConcurrency);
  const items = await store.openWrite(planItemsKey(loadId));
  const encoder = new TextEncoder();
  let batches = 0;
  let users = 0;
  let peakHeld = 0;
  let pending: BatchUser[] = [];
  const emit = async (): Promise<void> => {
    const batch = batches++;
    const body = JSON.stringify(pending);
    pending = [];
    await items.write(encoder.encode(`${batch === 0 ? '[' : ','}${JSON.stringify({ loadId, batch })}`));
    await writes.add(() => store.put(batchUsersKey(loadId, batch), body));
  };
  try {
    for (let shard = 0; shard < shards; shard++) {
      let distinct: Set<string> | undefined = new Set<string>();
      for await (const identifier of readIdentifiers(input.source, input.source.description)) {
        if (shards === 1 || identifierShard(identifier, shards) === shard) distinct.add(identifier);
      }
      const sorted = [...distinct].sort(compareIdentifiers);
      peakHeld = Math.max(peakHeld, distinct.size + pending.length);
      distinct = undefined;
      users += sorted.length;
      for (const identifier of sorted) {
        const taskIds = input.taskIdsOf?.(identifier);
        pending.push(taskIds === undefined ? { identifier } : { identifier, taskIds: [...taskIds] });
        if (pending.length === input.batchSize) await emit();
      }
    }
    if (pending.length > 0) await emit();
    await writes.drain();
    await items.write(encoder.encode(batches === 0 ? '[]' : ']'));
    await items.close();
  } catch (error) {
    // Settle the writes in flight before reporting: nothing of this attempt keeps running.
    await writes.drain().catch(() => undefined);
    await items.abort().catch(() => undefined);
    throw error;
  }

  const plan: PlanDoc = {
    formatVersion: 1,
    loadId,
    dt: loadDate(loadId, input.startedAt),
    startedAt: input.startedAt.toISOString(),
    resources: [...input.resources],
    users,
    batchSize: input.batchSize,
    batches,
    ...(input.schedule === undefined ? {} : { schedule: input.schedule }),
    ...(input.usersSelection === undefined ? {} : { usersSelection: input.usersSelection }),
  };
  await store.put(planKey(loadId), JSON.stringify(plan));
  return {
    ...plan,
    stats: { passes: shards, shards, peakHeldUsers: peakHeld, peakConcurrentWrites: writes.peak },
  };
}

export async function readPlan(store: ObjectStore, loadId: string): Promise<PlanDoc> {
  const plan = await readJson<PlanDoc>(store, planKey(assertLoadId(loadId)));
  if (!plan) throw new ConfigError('load-id', `no plan staged for load ${loadId}: run plan first`);
  return plan;
}

export async function readBatchUsers(
  store: ObjectStore,
  loadId: string,
  batch: number,
): Promise<BatchUser[]> {
  const users = await readJson<BatchUser[]>(store, batchUsersKey(loadId, batch));
  if (!users)
    throw new LakeStateError(
      `load ${loadId}: the staged users of batch ${batch} are gone (was ${stagingPrefix(loadId)} removed while the load ran?); ` +
        `load it again with --load-id ${loadId}`,
    );
  return users;
}
