/**
 * `paylink-loader verify --dest <lake> [--fix] [--json]`: checks the lake against its commits
 * (core/verify.ts) and, with `--fix`, removes what crashed or abandoned runs left behind.
 * Exit codes: 0 the lake is clean (after `--fix`, if given); 7 findings remain (listed);
 * 1 the lake could not be read.
 */
import { isAbandonedOnThisHost } from '#adapters/lease-owner.ts';
import { listUnfinishedWrites, removeUnfinishedWrites } from '#adapters/local-store.ts';
import { openStore, parseDestination } from '#adapters/open-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { ConfigError } from '#core/errors.ts';
import type { ObjectStore } from '#core/ports.ts';
import { type Finding, repairLake, type VerifyDeps, type VerifyReport, verifyLake } from '#core/verify.ts';
import { destFrom, parseFlags, required } from './args.ts';
import { existingLake } from './existing-lake.ts';
import type { Io } from './io.ts';

export const VERIFY_USAGE = `paylink-loader verify --dest <dir|s3://bucket/prefix> [--fix [--discard-resumable]] [--json]

  Checks the lake against its commits: every part a committed load lists exists and no other
  part of it does; no parts, reports, staging, temporary files or expired leases of loads that
  are not committed and not running; the schema registry's version chain; one Parquet type per
  column across the committed files' footers. Loads running now (a live lease) are skipped.

  --fix    remove the leftovers of loads that are not committed (and staging of committed
           ones); never anything a committed load lists. The staging (and published parts)
           of an interrupted load that a re-run can still commit is kept: it is listed as
           resumable, with the command that finishes it
  --discard-resumable
           with --fix: remove resumable loads too (you will not re-run them)
  --json   print the report as JSON

  Exit codes: 0 clean, 7 findings remain (a resumable load kept by --fix is one), 1 the lake
  could not be read.`;

export const VERIFY_FINDINGS_EXIT = 7;

/**
 * What `verify` and `clean` check and repair a lake with: the store of a `--dest` already
 * checked to be a lake (existing-lake.ts),
 * and, for a local lake, its temporary files of killed writes (S3's incomplete uploads are the
 * bucket lifecycle rule's).
 */
export function lakeCheck(
  dest: string,
  io: Pick<Io, 'cwd' | 'now'>,
  options: { tempGraceMs?: number } = {},
): { store: ObjectStore; deps: VerifyDeps; repairDeps: Parameters<typeof repairLake>[0] } {
  const path = destFrom(io.cwd, dest);
  const local = parseDestination(path, io.cwd).kind === 'local' ? path : undefined;
  const store = openStore(path);
  const deps: VerifyDeps = {
    store,
    reader: createParquetPartReader(),
    clock: io.now,
    isAbandoned: isAbandonedOnThisHost,
    ...(options.tempGraceMs === undefined ? {} : { tempGraceMs: options.tempGraceMs }),
    ...(local === undefined ? {} : { unfinishedWrites: () => listUnfinishedWrites(local) }),
  };
  const repairDeps = {
    ...deps,
    ...(local === undefined
      ? {}
      : { removeUnfinished: (keys: readonly string[]) => removeUnfinishedWrites(local, keys) }),
  };
  return { store, deps, repairDeps };
}

export async function verifyCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, {
    dest: { type: 'string' },
    fix: { type: 'boolean' },
    'discard-resumable': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  const discardResumable = values['discard-resumable'] ?? false;
  if (discardResumable && !values.fix)
    throw new ConfigError('--discard-resumable', 'only goes with --fix (verify alone removes nothing)');
  const { deps, repairDeps } = lakeCheck(await existingLake(io.cwd, required(values.dest, '--dest')), io);
  let report = await verifyLake(deps);
  let removed: number | undefined;
  if (values.fix && report.findings.some((f) => f.fixable && (discardResumable || !f.resumable))) {
    removed = await repairLake(repairDeps, report, { discardResumable });
    report = await verifyLake(deps);
  }
  if (values.json)
    io.stdout.write(
      `${JSON.stringify({ ...report, ...(removed === undefined ? {} : { removed }) }, null, 2)}\n`,
    );
  else io.stdout.write(formatReport(report, removed, values.fix ?? false));
  return report.findings.length === 0 ? 0 : VERIFY_FINDINGS_EXIT;
}

function formatReport(report: VerifyReport, removed: number | undefined, fix: boolean): string {
  const lines = [
    `verify ${report.dest}: ${report.committedLoads} committed load(s), ${report.partsChecked} committed part(s) checked` +
      (report.running.length > 0 ? `, running now (skipped): ${report.running.join(', ')}` : ''),
  ];
  if (removed !== undefined) lines.push(`removed ${removed} leftover object(s)`);
  for (const f of report.findings) lines.push(`  ${f.kind.padEnd(16)} ${describe(f)}`);
  const fixable = report.findings.filter((f) => f.fixable && !f.resumable).length;
  const resumable = [...new Set(report.findings.filter((f) => f.resumable).map((f) => f.loadId ?? ''))];
  if (report.findings.length === 0) lines.push('clean: the lake holds exactly what its commits say.');
  else
    lines.push(
      `${report.findings.length} finding(s)` +
        (fixable > 0 && !fix ? `; ${fixable} can be removed with --fix` : '') +
        (resumable.length > 0
          ? `; load(s) ${resumable.join(', ')} can still be committed by a re-run (${fix ? 'kept by --fix' : '--fix keeps them'}; --fix --discard-resumable removes them)`
          : '') +
        (report.findings.length > fixable + resumableFindings(report)
          ? `; ${report.findings.length - fixable - resumableFindings(report)} need a person (see above)`
          : '') +
        '.',
    );
  return `${lines.join('\n')}\n`;
}

const resumableFindings = (report: VerifyReport) => report.findings.filter((f) => f.resumable).length;

function describe(f: Finding): string {
  if (f.resumable && f.kind !== 'resumable_staging')
    return `${f.detail} [kept with the resumable load ${f.loadId}]`;
  return `${f.detail}${f.fixable ? '' : ' [not fixable by --fix]'}`;
}
