/**
 * `verify --fix` after a commit killed (SIGKILL) in its merge: the load is not committed, but
 * everything a re-run needs is staged (plan, batch manifests, parts), so a re-run commits it
 * without asking PayLink again. `--fix` cleans debris; it must not destroy that load: the staging
 * is kept and named as resumable, and goes only with `--discard-resumable`.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { commitLoad, type LoadMarker } from '#core/commit.ts';
import { loadMarkerKey, planKey, stagingPrefix } from '#core/layout.ts';
import { readJson } from '#core/store-json.ts';
import {
  firstMergedClose,
  type MergeCrashLoad,
  runChild,
  startMergeCrashLoad,
} from '#test/helpers/commit-crash-suite.ts';
import { runCli } from '#test/helpers/lake-harness.ts';

describe('verify --fix after a commit killed in its merge', () => {
  let load: MergeCrashLoad;
  let scratch: string;
  let killed: string;
  let reference: LoadMarker;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'paylink-fix-resumable-'));
    load = await startMergeCrashLoad('resume');
    const referenceDest = join(scratch, 'reference');
    const mergedClose = await firstMergedClose(load.args(referenceDest, 0));
    reference = (await readJson<LoadMarker>(openStore(referenceDest), loadMarkerKey('load-1')))!;
    // Killed as the commit closes its first merged file: nothing published, nothing committed.
    expect(mergedClose, 'the commit writes a merged file').toBeDefined();
    killed = join(scratch, 'killed');
    const run = await runChild(load.args(killed, mergedClose!.op));
    expect(run.signal, run.stderr).toBe('SIGKILL');
  }, 240_000);
  afterAll(async () => {
    await load?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  const copy = async (name: string) => {
    const dest = join(scratch, name);
    await cp(killed, dest, { recursive: true });
    return dest;
  };

  it('keeps the staging a re-run commits from, names the load as resumable, and the re-run commits every row', async () => {
    const dest = await copy('fix');
    const staged = await openStore(dest).list(stagingPrefix('load-1'));
    expect(staged).toContain(planKey('load-1'));

    const fixed = await runCli(['verify', '--dest', dest, '--fix']);
    expect(fixed.code, fixed.stdout).toBe(7);
    expect(fixed.stdout).toContain('resumable_staging load load-1 was interrupted with 2 batch(es) staged');
    expect(fixed.stdout).toContain(
      "resumable: re-run it to commit it ('paylink-loader load ... --resume load-1'), or remove it with --fix --discard-resumable",
    );
    expect(fixed.stdout).toContain('load(s) load-1 can still be committed by a re-run (kept by --fix;');
    // Everything the load staged is still there (the merge's temporary file, debris, may go).
    const after = await openStore(dest).list(stagingPrefix('load-1'));
    expect(after).toEqual(staged);

    // What a re-run of the load id does once its batches are all staged: it commits them.
    const store = openStore(dest);
    const marker = await commitLoad('load-1', {
      store,
      parts: createParquetPartWriterFactory(),
      reader: createParquetPartReader(),
      clock: () => new Date(),
    });
    expect(marker.rowsByTable).toEqual(reference.rowsByTable);
    expect((await runCli(['verify', '--dest', dest])).code).toBe(0);
  }, 120_000);

  it('removes the resumable load only when asked to with --discard-resumable', async () => {
    const dest = await copy('discard');
    const fixed = await runCli(['verify', '--dest', dest, '--fix', '--discard-resumable']);
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(await openStore(dest).list(stagingPrefix('load-1'))).toEqual([]);
  }, 60_000);

  it('refuses --discard-resumable without --fix, naming the flag', async () => {
    const run = await runCli(['verify', '--dest', killed, '--discard-resumable']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'error: --discard-resumable: only goes with --fix (verify alone removes nothing).\n',
    );
  });
});
