/**
 * The merge fanned out (lambdas/core/merge-fan-out.ts) through the deployed state machine,
 * offline under AWS rules (test/helpers/offline-aws.ts): two deployments of one config, the
 * second with `commitMergeSeconds: 0` so every commit hands its merge to the MergeGroups Map.
 * The same users and slots go through both; the lakes must read the same through DuckDB, with
 * one file per table partition. Then a partition's merge fails through its retries, the run
 * fails, and a redrive re-runs that one item and commits.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentifiers } from '#simulator/world.ts';
import { s3InternalErrors, withFault } from '#test/helpers/aws-gateway.ts';
import { queryObjects, withLake } from '#test/helpers/lake-harness.ts';
import type { ExecutionOutcome } from '#test/helpers/offline-aws.ts';
import {
  describeDenials,
  explainOutcome,
  type OfflineWorld,
  offlineConfig,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';

const SEED = 'offline-merge';
const USERS = generateIdentifiers(SEED, 6);
const SLOT = (day: number) => `2026-12-${String(day).padStart(2, '0')}T03:00:00.000Z`;
/** Batches of 2 users: 3 batches, so every table that all batches write has 3 parts to merge. */
const CONFIG = { batchSize: 2 };

let single: OfflineWorld;
let fanned: OfflineWorld;
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'paylink-merge-fanout-'));
  single = await startOfflineWorld({ config: offlineConfig(CONFIG), simulator: { seed: SEED } });
  fanned = await startOfflineWorld({
    config: offlineConfig({ ...CONFIG, commitMergeSeconds: 0 }),
    simulator: { seed: SEED },
    bundles: single.bundles,
  });
  for (const world of [single, fanned]) await world.bucket.put(world.usersKey, `${USERS.join('\n')}\n`);
}, 180_000);

afterAll(async () => {
  await Promise.all([single?.close(), fanned?.close()]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const run = (world: OfflineWorld, day: number) =>
  world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(day) });

/** The lake under the deployment's prefix, copied to a folder DuckDB reads (the CLI's query layer). */
async function download(world: OfflineWorld, name: string): Promise<string> {
  const dir = path.join(scratch, name);
  await rm(dir, { recursive: true, force: true });
  for (const key of await world.bucket.list(`${world.prefix}/`)) {
    const file = path.join(dir, key.slice(world.prefix.length + 1));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, (await world.bucket.get(key))!);
  }
  return dir;
}

/** Every committed row of every table, as DuckDB reads the lake, in a stable order. */
async function lakeRows(dir: string): Promise<Record<string, unknown[]>> {
  return withLake(dir, async (lake) => {
    const out: Record<string, unknown[]> = {};
    for (const table of lake.tables()) {
      out[table] = await queryObjects(lake, `SELECT * FROM "${table}" ORDER BY ALL`);
    }
    return out;
  });
}

/** Data files per table partition (`<table>/dt=<day>/`). */
async function filesPerPartition(world: OfflineWorld): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const key of await world.bucket.list(`${world.prefix}/`)) {
    const rel = key.slice(world.prefix.length + 1);
    if (rel.startsWith('_') || !rel.endsWith('.parquet')) continue;
    const partition = path.posix.dirname(rel);
    counts.set(partition, (counts.get(partition) ?? 0) + 1);
  }
  return counts;
}

const logLine = (logs: string, event: string) =>
  logs
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    })
    .find((line) => line.message === event);

describe('a load whose merge is handed to the merge Map, deployed offline', () => {
  let one: ExecutionOutcome;
  let fan: ExecutionOutcome;

  beforeAll(async () => {
    [one, fan] = await Promise.all([run(single, 1), run(fanned, 1)]);
  }, 240_000);

  it('commits in one invocation when the merge fits (the default budget)', () => {
    expect(one.status, explainOutcome(single, one)).toBe('SUCCEEDED');
    expect(one.invocations.map((i) => i.state)).toEqual([
      'Plan',
      'LoadBatch',
      'LoadBatch',
      'LoadBatch',
      'Commit',
    ]);
  });

  it('hands the merge off, merges each partition in its own item, then commits, with zero denied calls', () => {
    expect(fan.status, explainOutcome(fanned, fan)).toBe('SUCCEEDED');
    expect(describeDenials(fanned.gate)).toEqual([]);
    const states = fan.invocations.map((i) => i.state);
    const items = states.filter((s) => s === 'MergeGroup').length;
    expect(states).toEqual([
      'Plan',
      'LoadBatch',
      'LoadBatch',
      'LoadBatch',
      'Commit',
      ...Array<string>(items).fill('MergeGroup'),
      'CommitMerged',
    ]);
    const commit = fan.invocations.find((i) => i.state === 'Commit')!;
    const handedOff = logLine(commit.logs, 'merge_handed_off')!;
    expect(handedOff).toMatchObject({ groups: items, budgetSeconds: 0 });
    expect(items).toBeGreaterThan(1);
    // The commit after the Map reused every partition the items merged, and merged nothing itself.
    const merged = logLine(fan.invocations.at(-1)!.logs, 'merged')!;
    expect(merged).toMatchObject({ groups: items, reused: items });
    // Its output is the commit's, as in the one-invocation run.
    expect(fan.output).toEqual(one.output);
  });

  it('leaves the lake the one-invocation run leaves, one file per table partition, as DuckDB reads it', async () => {
    const parts = await filesPerPartition(fanned);
    expect(parts.size).toBeGreaterThan(5);
    expect([...parts.values()].every((n) => n === 1)).toBe(true);
    expect(parts).toEqual(await filesPerPartition(single));
    const [a, b] = await Promise.all([
      download(single, 'single-1').then(lakeRows),
      download(fanned, 'fanned-1').then(lakeRows),
    ]);
    expect(Object.keys(b).length).toBeGreaterThan(5);
    expect(b).toEqual(a);
  });

  it('fails the run when a partition merge fails through its retries, and a redrive re-runs only that item and commits', async () => {
    // The merged file itself (the task document beside it is the commit's, written before the Map).
    const merged = /\/_staging\/[^/]+\/merged\/user_loads\/.*\.parquet$/;
    const failed = await withFault(fanned.gateway, s3InternalErrors('s3:PutObject', merged), () =>
      run(fanned, 2),
    );
    expect(failed.status).toBe('FAILED');
    const failedItems = failed.invocations.filter((i) => i.state === 'MergeGroup' && !i.ok);
    // One attempt and two retries (States.TaskFailed, MaxAttempts 2), all of the user_loads item.
    expect(failedItems).toHaveLength(3);
    expect(failed.invocations.some((i) => i.state === 'CommitMerged')).toBe(false);
    const loadId = logLine(failed.invocations.find((i) => i.state === 'Commit')!.logs, 'merge_handed_off')!
      .loadId as string;
    const keys = await fanned.bucket.list(`${fanned.prefix}/`);
    expect(keys.some((k) => k.endsWith(`_loads/${loadId}.json`))).toBe(false);
    expect(keys.some((k) => k.startsWith(`${fanned.prefix}/user_loads/`) && k.includes(loadId))).toBe(false);

    const redriven = await fanned.aws.redrive('daily', failed);
    expect(redriven.status, explainOutcome(fanned, redriven)).toBe('SUCCEEDED');
    expect(redriven.invocations.map((i) => i.state)).toEqual(['MergeGroup', 'CommitMerged']);
    expect(redriven.invocations.every((i) => i.logs.includes('redrive_guard_passed'))).toBe(true);
    expect(logLine(redriven.invocations[0]!.logs, 'merged_group')).toMatchObject({
      table: 'user_loads',
      reused: false,
    });
    expect(describeDenials(fanned.gate)).toEqual([]);

    // Slot 2 in the one-invocation deployment too: the two lakes still read the same.
    const two = await run(single, 2);
    expect(two.status, explainOutcome(single, two)).toBe('SUCCEEDED');
    expect(redriven.output).toEqual(two.output);
    expect([...(await filesPerPartition(fanned)).values()].every((n) => n === 1)).toBe(true);
    const [a, b] = await Promise.all([
      download(single, 'single-2').then(lakeRows),
      download(fanned, 'fanned-2').then(lakeRows),
    ]);
    expect(b).toEqual(a);
  }, 240_000);
});
