/**
 * `paylink-loader verify [--fix]` on a local lake with two committed loads, damaged by hand the
 * ways crashes and people damage lakes: each damage is named, `--fix` removes exactly the
 * leftovers (never what a committed load lists), and what readers see is unchanged by it.
 */
import { copyFile, cp, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import type { LoadMarker } from '#core/commit.ts';
import { leaseKey, stagingPrefix } from '#core/layout.ts';
import { readJson } from '#core/store-json.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  credentialsEnv,
  idsByTable,
  runCli,
  runLoad,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';

const SEED = 'verify-seed';
const API_KEY = 'verify-key';
const API_SECRET = 'verify-secret';

interface Report {
  findings: { kind: string; keys: string[]; loadId?: string; detail: string; fixable: boolean }[];
  running: string[];
  committedLoads: number;
  partsChecked: number;
  removed?: number;
}

describe('verify', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let clean: string;
  let lakes = 0;

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await Scratch.create('verify');
    clean = scratch.path('clean');
    const users = await scratch.users('users.txt', generateIdentifiers(SEED, 6));
    const env = credentialsEnv(API_KEY, API_SECRET);
    // The second load adds tables: two schema versions.
    for (const [loadId, resources] of [
      ['load-1', ['accounts']],
      ['load-2', undefined],
    ] as const) {
      const run = await runLoad(
        { users, dest: clean, baseUrl: sim.url, loadId, batchSize: 3, ...(resources ? { resources } : {}) },
        env,
      );
      expect(run.code, run.stderr).toBe(0);
    }
  }, 60_000);
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  const copy = async () => {
    const dest = scratch.path(`lake-${++lakes}`);
    await cp(clean, dest, { recursive: true });
    return dest;
  };
  const verify = async (dest: string, ...flags: string[]) => {
    const run = await runCli(['verify', '--dest', dest, '--json', ...flags]);
    return { code: run.code, report: JSON.parse(run.stdout) as Report };
  };
  const marker = async (dest: string, loadId: string) =>
    (await readJson<LoadMarker>(openStore(dest), `_loads/${loadId}.json`))!;
  const seen = (dest: string) => withLake(dest, idsByTable);

  it('finds nothing in a lake written by loads', async () => {
    const run = await runCli(['verify', '--dest', clean]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^verify .+: 2 committed load\(s\), \d+ committed part\(s\) checked\nclean: /);
    const { report } = await verify(clean);
    expect(report.partsChecked).toBe(
      (await marker(clean, 'load-1')).files.length + (await marker(clean, 'load-2')).files.length,
    );
  });

  it('names leftovers of a load that never committed, and --fix removes exactly them', async () => {
    const dest = await copy();
    const before = await seen(dest);
    const part = (await marker(dest, 'load-2')).files[0]!.key;
    const orphan = part.replace('load-2.', 'load-dead.');
    await copyFile(join(dest, part), join(dest, orphan));
    await mkdir(join(dest, '_staging', 'load-dead'), { recursive: true });
    await writeFile(join(dest, '_staging', 'load-dead', 'plan.json'), '{}');
    await writeFile(
      join(dest, '_loads', 'load-dead.json'),
      JSON.stringify({ loadId: 'load-dead', files: [] }),
    );
    const temp = join(dirname(join(dest, part)), '.x.parquet.tmp-0123456789abcdef');
    await writeFile(temp, 'half');
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(temp, old, old);
    await mkdir(dirname(join(dest, leaseKey('load-gone', 1))), { recursive: true });
    await writeFile(
      join(dest, leaseKey('load-gone', 1)),
      JSON.stringify({
        loadId: 'load-gone',
        seq: 1,
        owner: { id: 'x', kind: 'cli' },
        expiresAt: '2020-01-01T00:00:00Z',
      }),
    );

    const { code, report } = await verify(dest);
    expect(code).toBe(7);
    expect(report.findings.map((f) => f.kind).sort()).toEqual(
      ['expired_lease', 'orphan_part', 'orphan_report', 'orphan_staging', 'temp_file'].sort(),
    );
    expect(report.findings.every((f) => f.fixable)).toBe(true);
    expect(report.findings.find((f) => f.kind === 'orphan_part')!.keys).toEqual([orphan]);

    const fixed = await verify(dest, '--fix');
    expect(fixed.code).toBe(0);
    expect(fixed.report.removed).toBe(5);
    expect(fixed.report.findings).toEqual([]);
    expect(await seen(dest)).toEqual(before);
  });

  it('clean lists abandoned loads older than the threshold, and removes them only with --apply', async () => {
    const dest = await copy();
    const stage = async (loadId: string, startedAt: Date) => {
      await mkdir(join(dest, '_staging', loadId, 'batches', '00000'), { recursive: true });
      await writeFile(join(dest, '_staging', loadId, 'plan.json'), JSON.stringify({ loadId, startedAt }));
      await writeFile(join(dest, '_staging', loadId, 'batches', '00000', 'users.json'), '[]');
    };
    await stage('old-load', new Date(Date.now() - 3 * 86_400_000));
    await stage('new-load', new Date(Date.now() - 3_600_000));
    const dry = await runCli(['clean', '--dest', dest]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('2 staging object(s) of load old-load');
    expect(dry.stdout).not.toContain('new-load');
    expect(dry.stdout).toMatch(
      /2 object\(s\) would be removed from .+\. Run again with --apply to remove them\.\n$/,
    );
    expect(await openStore(dest).list(stagingPrefix('old-load'))).toHaveLength(2);
    const applied = await runCli(['clean', '--dest', dest, '--apply']);
    expect(applied.stdout).toMatch(/Removed 2 object\(s\) from /);
    expect(await openStore(dest).list(stagingPrefix('old-load'))).toEqual([]);
    expect(await openStore(dest).list(stagingPrefix('new-load'))).toHaveLength(2);
    const everything = await runCli(['clean', '--dest', dest, '--older-than', '30m', '--apply']);
    expect(everything.stdout).toContain('new-load');
    expect((await runCli(['verify', '--dest', dest])).code).toBe(0);
    expect((await runCli(['clean', '--dest', dest, '--older-than', 'a week'])).stderr).toBe(
      'error: --older-than: "a week" is not an age like 30m, 24h or 7d.\n',
    );
  });

  it('never removes parts of a committed load whose report is damaged, and names unreadable Parquet files', async () => {
    const dest = await copy();
    const before = await seen(dest);
    await writeFile(join(dest, '_loads', 'load-2.json'), '{}');
    const { code, report } = await verify(dest, '--fix');
    expect(code).toBe(7);
    expect(report.removed).toBeUndefined();
    expect(report.findings.map((f) => f.kind)).toEqual(['unreadable_report']);
    expect(report.findings[0]!.detail).toContain('_loads/load-2.json of committed load load-2 is unreadable');
    expect(await seen(dest)).toEqual(before);

    const other = await copy();
    const part = (await marker(other, 'load-1')).files[0]!.key;
    await writeFile(join(other, part), 'garbage');
    await writeFile(join(other, '_dlt_loads', 'load-2.parquet'), 'garbage');
    const damaged = await verify(other);
    expect(damaged.code).toBe(7);
    expect(damaged.report.findings.filter((f) => f.kind === 'unreadable_part').map((f) => f.detail)).toEqual([
      `_dlt_loads/load-2.parquet is not a readable Parquet file: every query of its table fails (restore it, or re-run its load id)`,
      `${part} is not a readable Parquet file: every query of its table fails (restore it, or re-run its load id)`,
    ]);
  });

  it('names an interrupted load as resumable, not as an abandoned one', async () => {
    const dest = await copy();
    await mkdir(join(dest, '_staging', 'load-9', 'batches', '00000'), { recursive: true });
    await writeFile(join(dest, '_staging', 'load-9', 'plan.json'), '{}');
    await writeFile(join(dest, '_staging', 'load-9', 'batches', '00000', 'manifest.json'), '{}');
    const { report } = await verify(dest);
    expect(report.findings.map((f) => [f.kind, f.detail])).toEqual([
      [
        'resumable_staging',
        "load load-9 was interrupted with 1 batch(es) staged (2 objects), resumable: re-run it to commit it ('paylink-loader load ... --resume load-9'), or remove it with --fix --discard-resumable",
      ],
    ]);
  });

  it('clean lists an interrupted load as resumable with its resume command, removes it with --apply, and never a live one', async () => {
    const dest = await copy();
    const stage = async (loadId: string) => {
      await mkdir(join(dest, '_staging', loadId, 'batches', '00000'), { recursive: true });
      const startedAt = new Date(Date.now() - 2 * 86_400_000);
      await writeFile(join(dest, '_staging', loadId, 'plan.json'), JSON.stringify({ loadId, startedAt }));
      await writeFile(join(dest, '_staging', loadId, 'batches', '00000', 'users.json'), '[]');
      await writeFile(join(dest, '_staging', loadId, 'batches', '00000', 'manifest.json'), '{}');
    };
    await stage('interrupted');
    await stage('running');
    await mkdir(dirname(join(dest, leaseKey('running', 1))), { recursive: true });
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    await writeFile(
      join(dest, leaseKey('running', 1)),
      JSON.stringify({ loadId: 'running', seq: 1, owner: { id: 'y', kind: 'cli' }, expiresAt }),
    );
    const dry = await runCli(['clean', '--dest', dest, '--older-than', '0s']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toBe(
      `  resumable_staging load interrupted: 1 batch(es) staged (3 objects), RESUMABLE: paylink-loader load --resume interrupted --dest ${dest} --users <the same file> ...\n` +
        `3 object(s) would be removed from ${dest}. Run again with --apply to remove them.\n`,
    );
    expect(await openStore(dest).list(stagingPrefix('interrupted'))).toHaveLength(3);
    const applied = await runCli(['clean', '--dest', dest, '--older-than', '0s', '--apply']);
    expect(applied.stdout).toMatch(/Removed 3 object\(s\) from /);
    expect(await openStore(dest).list(stagingPrefix('interrupted'))).toEqual([]);
    expect(await openStore(dest).list(stagingPrefix('running'))).toHaveLength(3);
  });

  it('tells an interrupted changed load to resume with --users changed, in verify and clean', async () => {
    const dest = await copy();
    const staging = join(dest, '_staging', 'changed-1');
    await mkdir(join(staging, 'batches', '00000'), { recursive: true });
    const startedAt = new Date(Date.now() - 2 * 86_400_000);
    await writeFile(join(staging, 'plan.json'), JSON.stringify({ loadId: 'changed-1', startedAt }));
    await writeFile(join(staging, 'changed.json'), JSON.stringify({ formatVersion: 1, schedule: 'local' }));
    await writeFile(join(staging, 'batches', '00000', 'manifest.json'), '{}');
    const { report } = await verify(dest);
    expect(report.findings.map((f) => f.detail)).toEqual([
      "load changed-1 was interrupted with 1 batch(es) staged (3 objects), resumable: re-run it to commit it ('paylink-loader load --users changed ... --resume changed-1'), or remove it with --fix --discard-resumable",
    ]);
    const dry = await runCli(['clean', '--dest', dest, '--older-than', '0s']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(
      `RESUMABLE: paylink-loader load --resume changed-1 --dest ${dest} --users changed ...\n`,
    );
  });

  it('refuses a --dest that is not there, instead of calling it clean or empty', async () => {
    for (const command of ['verify', 'clean', 'status']) {
      const run = await runCli([command, '--dest', scratch.path('no-such-lake')]);
      expect(run.code, command).toBe(1);
      expect(run.stderr, command).toMatch(
        /^error: --dest: no lake at .+no-such-lake \(the folder does not exist\)\.\n$/,
      );
    }
  });

  it('leaves a running load alone (a live lease)', async () => {
    const dest = await copy();
    await mkdir(join(dest, '_staging', 'load-3'), { recursive: true });
    await writeFile(join(dest, '_staging', 'load-3', 'plan.json'), '{}');
    await mkdir(dirname(join(dest, leaseKey('load-3', 1))), { recursive: true });
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    await writeFile(
      join(dest, leaseKey('load-3', 1)),
      JSON.stringify({ loadId: 'load-3', seq: 1, owner: { id: 'y', kind: 'cli' }, expiresAt }),
    );
    const { code, report } = await verify(dest, '--fix');
    expect(code).toBe(0);
    expect(report.running).toEqual(['load-3']);
    expect(await openStore(dest).list(stagingPrefix('load-3'))).toHaveLength(1);
  });

  it('names damage to committed loads and the registry, and --fix does not touch it', async () => {
    const dest = await copy();
    const files = (await marker(dest, 'load-1')).files;
    await rm(join(dest, files[0]!.key));
    const stray = files[1]!.key.replace(/\.(\d{5})\.(\d{4})\.parquet$/, '.99999.0000.parquet');
    await copyFile(join(dest, files[1]!.key), join(dest, stray));
    await rm(join(dest, '_schema', 'versions', '000001.json'));
    // A committed part rewritten with another Parquet type for one of its columns.
    const target = (await marker(dest, 'load-2')).files.find((f) => f.table === 'accounts')!.key;
    const registry = JSON.parse(
      await (await import('node:fs/promises')).readFile(join(dest, '_schema', 'current.json'), 'utf8'),
    ) as { tables: Record<string, { columns: { name: string; type: string }[] }> };
    const columns = registry.tables.accounts!.columns.map((c) =>
      c.name === 'user_identifier' ? { ...c, type: 'bigint' as const } : c,
    );
    const writer = await createParquetPartWriterFactory().open(openStore(dest), target, columns as never);
    await writer.append({ user_identifier: 1 } as never);
    await writer.close();

    const { code, report } = await verify(dest, '--fix');
    expect(code).toBe(7);
    // Nothing is fixable: a stray part of a committed load is visible to readers, a person decides.
    expect(report.removed).toBeUndefined();
    const kinds = report.findings.map((f) => f.kind).sort();
    expect(kinds).toEqual(['column_type', 'missing_part', 'registry_gap', 'stray_part']);
    expect(report.findings.find((f) => f.kind === 'stray_part')!.keys).toEqual([stray]);
    expect(report.findings.find((f) => f.kind === 'missing_part')!.detail).toContain(files[0]!.key);
    expect(report.findings.find((f) => f.kind === 'column_type')!.detail).toMatch(
      /^accounts\.user_identifier is text in the registry but bigint in committed files/,
    );
    expect(report.findings.every((f) => !f.fixable)).toBe(true);
    expect(await openStore(dest).get(stray)).toBeDefined();

    // A load refuses to write onto a registry that disagrees with the newest committed files.
    const users = await scratch.users('one.txt', generateIdentifiers(SEED, 1));
    const refused = await runLoad(
      { users, dest, baseUrl: sim.url, loadId: 'load-3' },
      credentialsEnv(API_KEY, API_SECRET),
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'disagrees with committed load load-2: accounts.user_identifier is text in the registry but bigint in committed files',
    );
    expect(await openStore(dest).list(stagingPrefix('load-3'))).toEqual([]);
  });
});
