/**
 * Two faults of the nothing-lost issue, through the CLI:
 *  - two runs of one load id at once: one takes the lease, the other is refused naming it, and
 *    the lake holds exactly the winner's users (was: one exits 0 claiming 40 users the lake does
 *    not hold, or rows twice);
 *  - S3 failing part of the publish (503 SlowDown on every copy after the first few): the CLI
 *    says the load is not committed, how many parts were published (invisible to readers) and
 *    how to finish or remove them, exit 6, and a JSON error with --json (was: "Nothing was
 *    committed." while thousands of rows were under the table folders). `verify --fix` removes
 *    them; a re-run of the load id finishes it with the rows of a fault-free load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LakeStatus } from '#cli/status-command.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  credentialsEnv,
  idsByTable,
  queryObjects,
  runCli,
  runLoad,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';
import { type S3FaultProxy, startS3FaultProxy } from '#test/helpers/s3-fault-proxy.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const SEED = 'lease-seed';
const API_KEY = 'lease-key';
const API_SECRET = 'lease-secret';
const env = credentialsEnv(API_KEY, API_SECRET);
const USERS = generateIdentifiers(SEED, 60);

describe('two runs of one load id', () => {
  let sim: Simulator;
  let scratch: Scratch;
  beforeAll(async () => {
    // Latency so that both runs are loading at the same time.
    sim = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      faults: { latencyMs: 20 },
    });
    scratch = await Scratch.create('lease');
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it.each([
    ['at once', 0],
    ['started 300 ms apart', 300],
  ])(
    'never interleave (%s): one is refused naming the holder, the lake holds exactly the other one',
    async (_label, delay) => {
      const dest = scratch.path(`lake-${delay}`);
      const first = await scratch.users(`a-${delay}.txt`, USERS.slice(0, 40));
      const second = await scratch.users(`b-${delay}.txt`, USERS.slice(20, 60));
      const common = { dest, baseUrl: sim.url, loadId: 'same', batchSize: 10, resources: ['accounts'] };
      const runs = await Promise.all([
        runLoad({ ...common, users: first }, env),
        new Promise((r) => setTimeout(r, delay)).then(() => runLoad({ ...common, users: second }, env)),
      ]);
      const codes = runs.map((r) => r.code).sort();
      expect(codes, runs.map((r) => r.stderr).join('\n')).toEqual([0, 1]);
      const winner = runs.findIndex((r) => r.code === 0);
      const loser = runs[1 - winner]!;
      expect(loser.stderr).toMatch(
        /^error: load same is being written by cli [0-9a-f-]{36} on .+, pid \d+ \(paylink-loader load --dest .+ --load-id same\), since .+, expires in \d+ s unless renewed\. Nothing was committed\.\n$/,
      );
      const expected = (winner === 0 ? USERS.slice(0, 40) : USERS.slice(20, 60)).slice().sort();
      await withLake(dest, async (lake) => {
        const users = await queryObjects(
          lake,
          'SELECT DISTINCT user_identifier AS u FROM user_loads ORDER BY 1',
        );
        expect(users.map((r) => r.u)).toEqual(expected);
        for (const [table, ids] of Object.entries(await idsByTable(lake))) {
          expect(new Set(ids).size, `duplicate rows in ${table}`).toBe(ids.length);
        }
      });
      expect((await runCli(['verify', '--dest', dest])).code).toBe(0);
    },
    60_000,
  );
});

describe('a commit that S3 stops half-way through publishing', () => {
  const BUCKET = 'outcomes';
  let sim: Simulator;
  let s3: RunningS3rver;
  let proxy: S3FaultProxy;
  let restoreEnv: () => void;
  let scratch: Scratch;
  let users: string;

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    s3 = await startS3rver({ buckets: [BUCKET] });
    proxy = await startS3FaultProxy(s3.endpoint);
    restoreEnv = withS3Env(proxy.endpoint);
    scratch = await Scratch.create('outcomes');
    users = await scratch.users('users.txt', USERS.slice(0, 12));
  });
  afterAll(async () => {
    restoreEnv?.();
    await proxy?.close();
    await s3?.close();
    await sim?.close();
    await scratch?.dispose();
  });

  /** Every CopyObject (a part's move to its final key) after the first `allowed` answers 503 SlowDown. */
  function failCopiesAfter(allowed: number): void {
    let copies = 0;
    proxy.faults.length = 0;
    proxy.faults.push({
      when: 'before',
      status: 503,
      match: (r) => r.operation === 'CopyObject' && ++copies > allowed,
    });
  }

  it('says what a reader can see, and a re-run finishes it', async () => {
    const dest = `s3://${BUCKET}/lake`;
    const load = (json: boolean) =>
      runLoad(
        { users, dest, baseUrl: sim.url, loadId: 'half', batchSize: 4, resources: ['accounts'], json },
        env,
      );
    const reference = await runLoad(
      {
        users,
        dest: scratch.path('reference'),
        baseUrl: sim.url,
        loadId: 'half',
        batchSize: 4,
        resources: ['accounts'],
        json: true,
      },
      env,
    );
    expect(reference.code).toBe(0);

    failCopiesAfter(3);
    const failed = await load(true);
    expect(failed.code, failed.stderr).toBe(6);
    const error = JSON.parse(failed.stdout).error;
    expect(error).toMatchObject({
      command: 'load',
      exitCode: 6,
      code: 'commit_incomplete',
      committed: false,
      loadId: 'half',
    });
    expect(error.publishedParts).toBeGreaterThanOrEqual(3);
    expect(failed.stderr).toContain(
      `error: load half is not committed: ${error.publishedParts} parts were published but are invisible through the documented reading paths`,
    );
    expect(failed.stderr).toContain(
      `Re-run with --load-id half to finish it, or remove them with 'paylink-loader verify --dest ${dest} --fix --discard-resumable'.`,
    );
    expect(failed.stderr).not.toContain('Nothing was committed');

    proxy.faults.length = 0;
    const status = JSON.parse((await runCli(['status', '--dest', dest, '--json'])).stdout) as LakeStatus;
    expect(status.loads).toEqual([]);
    const findings = await runCli(['verify', '--dest', dest, '--json']);
    expect(findings.code).toBe(7);
    const report = JSON.parse(findings.stdout);
    const orphans = report.findings.filter((f: { kind: string }) => f.kind === 'orphan_part');
    expect(orphans).toHaveLength(1);
    expect(orphans[0].keys).toHaveLength(error.publishedParts);
    // The load can still be committed by a re-run: --fix alone keeps it, the hint's flag removes it.
    const kept = await runCli(['verify', '--dest', dest, '--fix']);
    expect(kept.code, kept.stdout).toBe(7);
    expect(kept.stdout).toContain('load(s) half can still be committed by a re-run (kept by --fix;');
    const fixed = await runCli(['verify', '--dest', dest, '--fix', '--discard-resumable']);
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(fixed.stdout).toMatch(/removed \d+ leftover object\(s\)\nclean/);

    failCopiesAfter(5);
    const again = await load(false);
    expect(again.code).toBe(6);
    expect(again.stderr).toMatch(/^error: load half is not committed: \d+ parts were published/);
    proxy.faults.length = 0;
    const finished = await load(true);
    expect(finished.code, finished.stderr).toBe(0);
    expect((await runCli(['verify', '--dest', dest])).code).toBe(0);
    const rows = (stdout: string) =>
      (JSON.parse(stdout) as { tables: { table: string; rows: number }[] }).tables.map((t) => [
        t.table,
        t.rows,
      ]);
    expect(rows(finished.stdout)).toEqual(rows(reference.stdout));
  }, 90_000);
});
