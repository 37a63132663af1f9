/**
 * A commit killed (SIGKILL) while it writes a merged file leaves that file's temporary sibling
 * under `_staging/<load_id>/merged/`; the re-run that commits the load removes it with the rest
 * of the staging, so `verify` finds the lake clean (it reported `temp_file` for ever before).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listUnfinishedWrites } from '#adapters/local-store.ts';
import { lakeCheck } from '#cli/verify-command.ts';
import { verifyLake } from '#core/verify.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { runChild } from '#test/helpers/commit-crash-suite.ts';
import { type CommitWrite, type CrashCommitArgs, loadWithCommitHook } from '#test/helpers/crash-commit.ts';

const API_KEY = 'temp-key';
const API_SECRET = 'temp-secret';

describe('a merge killed mid-write', () => {
  let sim: Simulator;
  let scratch: string;
  const args = (dest: string, killAt: number): CrashCommitArgs => ({
    dest,
    baseUrl: sim.url,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    loadId: 'load-1',
    users: generateIdentifiers('temp', 6),
    resources: ['accounts'],
    batchSize: 3,
    killAt,
  });

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'paylink-merge-temp-'));
    sim = await startSimulator({ seed: 'temp', apiKey: API_KEY, apiSecret: API_SECRET });
  });
  afterAll(async () => {
    await sim?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('leaves no temporary file once the re-run commits: verify finds the lake clean', async () => {
    const reference = join(scratch, 'reference');
    const writes: CommitWrite[] = [];
    await loadWithCommitHook(args(reference, 0), (w) => writes.push(w));
    const mergedClose = writes.find((w) => w.kind === 'close' && w.key.startsWith('_staging/load-1/merged/'));
    expect(mergedClose, 'the commit writes a merged file').toBeDefined();

    const dest = join(scratch, 'killed');
    const killed = await runChild(args(dest, mergedClose!.op));
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const temps = await listUnfinishedWrites(dest);
    expect(temps.map((t) => t.key).some((k) => k.startsWith('_staging/load-1/merged/'))).toBe(true);

    // The same load id again: it loads and commits.
    await loadWithCommitHook(args(dest, 0), () => undefined);
    expect(await listUnfinishedWrites(dest)).toEqual([]);
    const { deps } = lakeCheck(
      dest,
      { cwd: scratch, now: () => new Date() },
      {
        tempGraceMs: 0,
      },
    );
    const report = await verifyLake(deps);
    expect(report.findings).toEqual([]);
  }, 240_000);
});
