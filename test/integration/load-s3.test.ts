/**
 * A load into `s3://bucket/prefix` (s3rver on loopback) leaves the same lake a local load does:
 * only Parquet under table folders, the marker and the schema, no staging; the same rows.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import type { LoadMarker } from '#core/commit.ts';
import type { ObjectStore } from '#core/ports.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  type CliRun,
  credentialsEnv,
  lakeFingerprint,
  runCli,
  runLoad,
  Scratch,
  tableOfPart,
} from '#test/helpers/lake-harness.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const SEED = 's3-seed';
const API_KEY = 's3-key';
const API_SECRET = 's3-secret';
const BUCKET = 'paylink-lake';
const DEST = `s3://${BUCKET}/prefix/e2e`;
const LOAD_ID = 's3-load-1';

describe('a load into an S3 lake', () => {
  let s3rver: RunningS3rver;
  let restoreEnv: () => void;
  let sim: Simulator;
  let scratch: Scratch;
  let store: ObjectStore;
  let s3Run: CliRun;
  let localRun: CliRun;
  let keys: string[];

  beforeAll(async () => {
    s3rver = await startS3rver({ buckets: [BUCKET] });
    restoreEnv = withS3Env(s3rver.endpoint);
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await Scratch.create('s3');
    const users = await scratch.users('users.txt', generateIdentifiers(SEED, 10));
    const env = credentialsEnv(API_KEY, API_SECRET);
    const common = { users, baseUrl: sim.url, loadId: LOAD_ID, batchSize: 5 };
    s3Run = await runLoad({ ...common, dest: DEST }, env);
    localRun = await runLoad({ ...common, dest: scratch.path('local') }, env);
    store = openStore(DEST);
    keys = await store.list('');
  });
  afterAll(async () => {
    await sim?.close();
    restoreEnv?.();
    await s3rver?.close();
    await scratch?.dispose();
  });

  it('commits with exit 0 and names the s3:// destination', () => {
    expect(s3Run.code, `exit code (stderr: ${s3Run.stderr})`).toBe(0);
    expect(s3Run.stdout).toContain(`Load ${LOAD_ID} committed to ${DEST}`);
    expect(localRun.code, `local exit code (stderr: ${localRun.stderr})`).toBe(0);
  });

  it('leaves only Parquet under table folders, the load marker and the schema: no staging', () => {
    expect(keys, 'marker').toContain(`_loads/${LOAD_ID}.json`);
    expect(keys, 'commit point').toContain(`_dlt_loads/${LOAD_ID}.parquet`);
    expect(keys, 'schema').toContain('_schema/current.json');
    expect(
      keys.filter((k) => k.startsWith('_staging/')),
      'staging keys',
    ).toEqual([]);
    const unexpected = keys.filter(
      (k) =>
        tableOfPart(k) === undefined &&
        k !== `_loads/${LOAD_ID}.json` &&
        k !== `_dlt_loads/${LOAD_ID}.parquet` &&
        !/^_schema\/[\w/.-]+\.json$/.test(k),
    );
    expect(unexpected, 'keys that are neither parts nor lake metadata').toEqual([]);
    expect(keys.filter((k) => tableOfPart(k) !== undefined).length, 'parts').toBeGreaterThan(10);
  });

  it('holds exactly the rows, ids and parent links of a local load of the same users', async () => {
    // DuckDB cannot read s3rver: mirror the bucket prefix to disk, then read it like a local lake.
    const mirror = scratch.path('mirror');
    for (const key of keys) {
      const bytes = await store.get(key);
      expect(bytes, `object ${key}`).toBeDefined();
      await mkdir(dirname(`${mirror}/${key}`), { recursive: true });
      await writeFile(`${mirror}/${key}`, bytes!);
    }
    const fromS3 = await lakeFingerprint(mirror);
    const fromLocal = await lakeFingerprint(scratch.path('local'));
    expect(fromS3.counts.accounts, 'accounts loaded').toBeGreaterThan(0);
    expect(fromS3).toEqual(fromLocal);
  });

  it('reports the lake with status --dest s3://...', async () => {
    const run = await runCli(['status', '--dest', DEST, '--json']);
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(0);
    const status = JSON.parse(run.stdout) as LakeStatus;
    expect(status.dest).toBe(DEST);
    expect(status.loads.map((l) => [l.loadId, l.users, l.failedUsers])).toEqual([[LOAD_ID, 10, 0]]);
    expect(status.uncommitted).toEqual([]);
    const local = JSON.parse(
      (await runCli(['status', '--dest', scratch.path('local'), '--json'])).stdout,
    ) as LakeStatus;
    expect(
      status.tables.map((t) => [t.table, t.rows]),
      'rows per table, S3 vs local',
    ).toEqual(local.tables.map((t) => [t.table, t.rows]));

    const text = await runCli(['status', '--dest', DEST]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Lake ${DEST}`);
    expect(text.stdout).toContain(LOAD_ID);
  });

  it('re-run with fewer users: replaces the load, deletes its stale objects, leaves no staging', async () => {
    const few = await scratch.users('few.txt', generateIdentifiers(SEED, 10).slice(0, 3));
    const rerun = await runLoad(
      { users: few, baseUrl: sim.url, loadId: LOAD_ID, batchSize: 5, dest: DEST },
      credentialsEnv(API_KEY, API_SECRET),
    );
    expect(rerun.code, `exit code (stderr: ${rerun.stderr})`).toBe(0);
    const after = await store.list('');
    const marker = JSON.parse(
      new TextDecoder().decode(await store.get(`_loads/${LOAD_ID}.json`)),
    ) as LoadMarker;
    expect(marker.users).toBe(3);
    expect(
      after.filter((k) => tableOfPart(k) !== undefined),
      'parts in the bucket = parts in the new marker',
    ).toEqual(marker.files.map((f) => f.key).sort());
    // One file per table partition in both loads (the batches' parts merged at commit); the
    // deletion of files a re-run no longer writes is commit.test.ts's (smaller merged files).
    for (const listing of [keys, after]) {
      const folders = listing
        .filter((k) => tableOfPart(k) !== undefined)
        .map((k) => k.slice(0, k.lastIndexOf('/')));
      expect(new Set(folders).size, 'files per table partition').toBe(folders.length);
    }
    expect(after.filter((k) => k.startsWith('_staging/'))).toEqual([]);
  });
});
