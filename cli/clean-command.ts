import { changedSelectionKey } from '#core/changed-users.ts';
import { ConfigError } from '#core/errors.ts';
import { planKey } from '#core/layout.ts';
import type { PlanDoc } from '#core/plan.ts';
import { readJson } from '#core/store-json.ts';
import { type Finding, repairLake, verifyLake } from '#core/verify.ts';
import { parseFlags, required } from './args.ts';
import { existingLake } from './existing-lake.ts';
import type { Io } from './io.ts';
import { lakeCheck } from './verify-command.ts';

export const CLEAN_USAGE = `paylink-loader clean --dest <dir|s3://bucket/prefix> [--older-than <age>] [--apply]

  Lists what abandoned loads left behind: staging, parts and reports of loads that never
  committed (invisible to readers), staging a committed load did not remove, expired leases,
  temporary files of killed writes, and the staging of interrupted loads (marked resumable, with
  the command that resumes them: resume those you still want before cleaning). Only loads that
  started longer ago than --older-than (default 24h; units s, m, h, d). Loads running now are
  never touched, nor anything a committed load lists.

  --apply   remove what is listed (default: only list it)`;

const KINDS = new Set([
  'orphan_part',
  'orphan_report',
  'orphan_staging',
  'resumable_staging',
  'leftover_staging',
  'expired_lease',
  'temp_file',
]);

export function parseAge(text: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (!m) throw new ConfigError('--older-than', `"${text}" is not an age like 30m, 24h or 7d`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

export async function cleanCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      dest: { type: 'string' },
      'older-than': { type: 'string' },
      apply: { type: 'boolean' },
    },
    false,
    // Negative values reach their checks, which name each flag's real range.
    ['older-than'],
  );
  const olderThanMs = parseAge(values['older-than'] ?? '24h');
  const { store, deps, repairDeps } = lakeCheck(
    await existingLake(io.cwd, required(values.dest, '--dest')),
    io,
    {
      tempGraceMs: olderThanMs,
    },
  );
  const now = io.now();
  const report = await verifyLake(deps);
  const old = async (f: Finding): Promise<boolean> => {
    if (f.loadId === undefined || f.kind === 'temp_file' || f.kind === 'expired_lease') return true;
    const plan = await readJson<PlanDoc>(store, planKey(f.loadId)).catch(() => undefined);
    // No plan left (its staging is gone): the load id's own time is unknown; its leftovers are old.
    return plan === undefined || now.getTime() - Date.parse(plan.startedAt) >= olderThanMs;
  };
  const selected: Finding[] = [];
  for (const f of report.findings) if (KINDS.has(f.kind) && f.fixable && (await old(f))) selected.push(f);
  const objects = selected.reduce((n, f) => n + f.keys.length, 0);
  const dest = values.dest!;
  const lines = selected.map((f) => `  ${f.kind.padEnd(17)} ${line(f, dest)}`);
  if (selected.length === 0) {
    io.stdout.write(
      `Nothing to clean in ${store.description} (older than ${values['older-than'] ?? '24h'}).\n`,
    );
    return 0;
  }
  if (!values.apply) {
    io.stdout.write(
      `${lines.join('\n')}\n${objects} object(s) would be removed from ${store.description}. Run again with --apply to remove them.\n`,
    );
    return 0;
  }
  // Listed as RESUMABLE above, older than --older-than and applied: given up on.
  const removed = await repairLake(repairDeps, { ...report, findings: selected }, { discardResumable: true });
  io.stdout.write(`${lines.join('\n')}\nRemoved ${removed} object(s) from ${store.description}.\n`);
  return 0;
}

/**
 * One listed finding. An interrupted load's staging is what `load --resume` continues from:
 * marked resumable, with the command (its users and options are the ones it was started with).
 */
function line(f: Finding, dest: string): string {
  if (f.kind !== 'resumable_staging' || f.loadId === undefined) return f.detail;
  const batches = f.keys.filter((k) => k.endsWith('/manifest.json')).length;
  // A `changed` load staged its selection: it resumes with `--users changed`, not a file.
  const users = f.keys.includes(changedSelectionKey(f.loadId)) ? 'changed' : '<the same file>';
  return (
    `load ${f.loadId}: ${batches} batch(es) staged (${f.keys.length} objects), RESUMABLE: ` +
    `paylink-loader load --resume ${f.loadId} --dest ${dest} --users ${users} ...`
  );
}
