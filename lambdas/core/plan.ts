/**
 * Plan a load: fix its id and partition date, sort and cut the users into batches, and stage
 * the plan. Deterministic: the same users and load id give the same batches, so a retried
 * scheduled slot re-creates the same keys. A previous attempt's staging is cleared, except
 * its commit intent, which the next commit needs to remove parts it will not write again.
 *
 * The batch list the Step Functions Distributed Map iterates is an S3 object too
 * (`_staging/<load_id>/items.json`, read by the Map's ItemReader), never the plan step's output:
 * a state's payload is capped at 256 KiB, an item file is not, so the user count is unbounded.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from './errors.ts';
import { assertLoadId, batchUsersKey, commitIntentKey, loadDate, planKey, stagingPrefix } from './layout.ts';
import type { BatchUser } from './load-batch.ts';
import type { ObjectStore } from './ports.ts';
import { readJson } from './store-json.ts';

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
}

/** Code-unit order: identical on every machine and locale. */
const byIdentifier = (a: BatchUser, b: BatchUser) =>
  a.identifier < b.identifier ? -1 : a.identifier > b.identifier ? 1 : 0;

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

  const keep = commitIntentKey(loadId);
  const previous = (await store.list(stagingPrefix(loadId))).filter((k) => k !== keep);
  if (previous.length > 0) await store.delete(previous);

  const batches = Math.ceil(users.length / input.batchSize);
  for (let b = 0; b < batches; b++) {
    const slice = users.slice(b * input.batchSize, (b + 1) * input.batchSize);
    await store.put(batchUsersKey(loadId, b), JSON.stringify(slice));
  }
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
  };
  const items: PlanItem[] = Array.from({ length: batches }, (_, batch) => ({ loadId, batch }));
  await store.put(planItemsKey(loadId), JSON.stringify(items));
  await store.put(planKey(loadId), JSON.stringify(plan));
  return plan;
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
  if (!users) throw new ConfigError('batch', `no batch ${batch} in the plan of load ${loadId}`);
  return users;
}
