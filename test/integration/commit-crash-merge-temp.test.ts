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
import {
  firstMergedClose,
  type MergeCrashLoad,
  runChild,
  startMergeCrashLoad,
} from '#test/helpers/commit-crash-suite.ts';
import { loadWithCommitHook } from '#test/helpers/crash-commit.ts';

describe('a merge killed mid-write', () => {
  let load: MergeCrashLoad;
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'paylink-merge-temp-'));
    load = await startMergeCrashLoad('temp');
  });
  afterAll(async () => {
    await load?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('leaves no temporary file once the re-run commits: verify finds the lake clean', async () => {
    const reference = join(scratch, 'reference');
    const mergedClose = await firstMergedClose(load.args(reference, 0));
    expect(mergedClose, 'the commit writes a merged file').toBeDefined();

    const dest = join(scratch, 'killed');
    const killed = await runChild(load.args(dest, mergedClose!.op));
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const temps = await listUnfinishedWrites(dest);
    expect(temps.map((t) => t.key).some((k) => k.startsWith('_staging/load-1/merged/'))).toBe(true);

    // The same load id again: it loads and commits.
    await loadWithCommitHook(load.args(dest, 0), () => undefined);
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
