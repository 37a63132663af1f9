/**
 * A re-run of a load id replaces it from what is in the lake, not from staging: an attempt that
 * died just before its report, whose staging then expired, re-run with another batch size,
 * leaves no duplicate and none of the first attempt's parts behind.
 */
import { readdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { type CrashCommitArgs, loadWithCommitHook } from '#test/helpers/crash-commit.ts';
import { Scratch, tableCounts, withLake } from '#test/helpers/lake-harness.ts';

const SEED = 'rerun-lake';
const USERS = generateIdentifiers(SEED, 12);

describe('re-running a load id whose staging is gone', () => {
  let scratch: Scratch;
  let sim: Simulator;
  const args = (dest: string, batchSize: number): CrashCommitArgs => ({
    dest,
    baseUrl: sim.url,
    apiKey: 'k',
    apiSecret: 's',
    loadId: 'same',
    users: USERS,
    resources: ['accounts'],
    batchSize,
    killAt: 0,
  });

  beforeAll(async () => {
    scratch = await Scratch.create('rerun-lake');
    sim = await startSimulator({ seed: SEED, apiKey: 'k', apiSecret: 's' });
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  const accountParts = async () =>
    (await readdir(scratch.path('lake', 'accounts'), { recursive: true }))
      .map(String)
      .filter((f) => f.endsWith('.parquet'))
      .sort();

  it('gives exactly the rows of one clean load, with only the second attempt’s parts', async () => {
    const reference = scratch.path('reference');
    await loadWithCommitHook(args(reference, 5), () => undefined);

    const dest = scratch.path('lake');
    // First attempt: batches of 3 users and a merged file per row, dies when its files are
    // published, before its report.
    const died = new Error('died before the report');
    await expect(
      loadWithCommitHook({ ...args(dest, 3), minFileBytes: 1 }, (write) => {
        if (write.kind === 'put' && write.key.startsWith('_loads/')) throw died;
      }),
    ).rejects.toMatchObject({ name: 'CommitIncompleteError', loadId: 'same', cause: died });
    const firstParts = await accountParts();
    expect(firstParts.length, 'the dead attempt published several files').toBeGreaterThan(1);
    await rm(scratch.path('lake', '_staging'), { recursive: true });

    await loadWithCommitHook(args(dest, 5), () => undefined);

    const counts = await withLake(dest, tableCounts);
    expect(counts).toEqual(await withLake(reference, tableCounts));
    // The second attempt merges its 3 batches into one file; the dead attempt's others are gone.
    expect(await accountParts()).toEqual([firstParts[0]]);
    const raw = await withLake(dest, (lake) => lake.query('SELECT count(*) FROM raw.accounts'));
    expect(raw.rows).toEqual([[counts.accounts]]);
  });
});
