/**
 * Re-running a load id replaces that load (never duplicates, never leaves stale parts), a
 * failed re-run leaves the committed load as it was, and a different load id adds a second,
 * independent copy. The steps build on one lake, in order.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadMarker } from '#core/commit.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { addCounts, expectedTableCounts } from '#test/helpers/expected-rows.ts';
import {
  credentialsEnv,
  type Env,
  type LakeFingerprint,
  lakeFingerprint,
  listFiles,
  runLoad,
  Scratch,
  tableOfPart,
  withLake,
} from '#test/helpers/lake-harness.ts';

const SEED = 'rerun-seed';
const API_KEY = 'rerun-key';
const API_SECRET = 'rerun-secret';
const ENV: Env = credentialsEnv(API_KEY, API_SECRET);

const withoutUserLoads = (counts: Record<string, number>) => {
  const { user_loads: _ignored, ...rest } = counts;
  return rest;
};

describe('re-running a load id', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let lakeDir: string;
  let allUsers: string[];
  let fewUsers: string[];
  let allFile: string;
  let fewFile: string;
  let full: Record<string, number>;
  let firstRun: LakeFingerprint;

  /** Part files of one load id, with a hash of their bytes. */
  async function partsOf(loadId: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const path of await listFiles(lakeDir)) {
      if (tableOfPart(path) === undefined || !path.split('/').at(-1)!.startsWith(`${loadId}.`)) continue;
      out.set(
        path,
        createHash('sha256')
          .update(await readFile(join(lakeDir, path)))
          .digest('hex'),
      );
    }
    return out;
  }

  async function markerKeys(loadId: string): Promise<string[]> {
    const marker = JSON.parse(
      await readFile(join(lakeDir, '_loads', `${loadId}.json`), 'utf8'),
    ) as LoadMarker;
    return marker.files.map((f) => f.key).sort();
  }

  async function load(users: string, loadId: string, env: Env = ENV) {
    // Batches of 5: the smaller users list makes fewer batches, so whole parts must go.
    return runLoad({ users, dest: lakeDir, baseUrl: sim.url, loadId, batchSize: 5 }, env);
  }

  async function loadOk(users: string, loadId: string): Promise<void> {
    const run = await load(users, loadId);
    expect(run.stderr, `stderr of load ${loadId}`).toBe('');
    expect(run.code, `exit code of load ${loadId}`).toBe(0);
  }

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await Scratch.create('rerun');
    lakeDir = scratch.path('lake');
    allUsers = generateIdentifiers(SEED, 10);
    // Users from the middle of the sorted order go too: batches shift, parts disappear.
    fewUsers = allUsers.filter((_, i) => i % 3 === 0);
    allFile = await scratch.users('all.txt', allUsers);
    fewFile = await scratch.users('few.txt', fewUsers);
    full = expectedTableCounts(allUsers.map((id) => sim.served(id)));
    await loadOk(allFile, 'run-x');
    firstRun = await lakeFingerprint(lakeDir);
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it('the first run holds exactly the served rows', () => {
    expect(withoutUserLoads(firstRun.counts)).toEqual(full);
  });

  it('again with the same users gives identical rows and _dlt_ids: no duplicates, nothing stale', async () => {
    await loadOk(allFile, 'run-x');
    const again = await lakeFingerprint(lakeDir);
    expect(again.counts, 'row counts after the re-run').toEqual(firstRun.counts);
    expect(again.ids, '_dlt_ids after the re-run').toEqual(firstRun.ids);
    expect(again.parents, 'parent links after the re-run').toEqual(firstRun.parents);
    // Part boundaries may differ (the re-run starts from a registry that already has every
    // column), but what is on disk is exactly what the marker lists.
    expect([...(await partsOf('run-x')).keys()].sort(), 'parts on disk = parts in the marker').toEqual(
      await markerKeys('run-x'),
    );
  });

  it('that fails (credentials rejected) leaves the committed load exactly as it was', async () => {
    const before = await partsOf('run-x');
    const run = await load(allFile, 'run-x', credentialsEnv(API_KEY, 'wrong-secret'));
    expect(run.code).toBe(1);
    expect(await partsOf('run-x'), 'run-x parts, byte for byte').toEqual(before);
    expect((await lakeFingerprint(lakeDir)).ids).toEqual(firstRun.ids);
    expect(
      (await listFiles(lakeDir)).filter((f) => f.startsWith('_staging/')),
      'staging left behind',
    ).toEqual([]);
  });

  it('under another load id adds a second copy of every row', async () => {
    await loadOk(allFile, 'run-y');
    const both = await lakeFingerprint(lakeDir);
    expect(withoutUserLoads(both.counts), 'two loads of the same users').toEqual(addCounts(full, full));
  });

  it('with fewer users leaves no stale part of that load and does not touch the other load', async () => {
    const otherBefore = await partsOf('run-y');
    const xBefore = await partsOf('run-x');

    await loadOk(fewFile, 'run-x');

    const few = expectedTableCounts(fewUsers.map((id) => sim.served(id)));
    const after = await lakeFingerprint(lakeDir);
    expect(withoutUserLoads(after.counts), 'run-y (all users) + run-x (few users)').toEqual(
      addCounts(full, few),
    );
    await withLake(lakeDir, async (lake) => {
      const perLoad = await lake.query(
        'SELECT _dlt_load_id, count(DISTINCT user_identifier) FROM user_loads GROUP BY ALL ORDER BY 1',
      );
      expect(perLoad.rows, 'users per load in user_loads').toEqual([
        ['run-x', fewUsers.length],
        ['run-y', allUsers.length],
      ]);
    });
    expect(await partsOf('run-y'), 'parts of the other load, byte for byte').toEqual(otherBefore);
    const xAfter = await partsOf('run-x');
    expect([...xAfter.keys()].sort(), 'run-x parts on disk = parts in its marker').toEqual(
      await markerKeys('run-x'),
    );
    // One file per table partition (the batches' parts merged at commit), before and after.
    for (const parts of [xBefore, xAfter]) {
      const folders = [...parts.keys()].map((k) => k.slice(0, k.lastIndexOf('/')));
      expect(new Set(folders).size, 'files per table partition').toBe(folders.length);
    }
    expect(
      (await listFiles(lakeDir)).filter((f) => f.startsWith('_staging/')),
      'staging left behind',
    ).toEqual([]);
  });
});
