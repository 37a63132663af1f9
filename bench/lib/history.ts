/**
 * The dated sections the newer benchmarks append to their `results/<name>.md` history: one
 * section per run, newest last, opening with the machine, its load, the revision and the exact
 * command, so a figure is never read without the conditions it was measured in.
 */
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gibibytes } from './format.ts';
import { describeMachine, type MachineInfo } from './machine.ts';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** Whether the checkout has uncommitted changes (the revision alone would then mislead). */
export function isDirty(): boolean {
  try {
    return execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

/** The opening lines of a section: machine, load averages at start and end, revision, command. */
export function sectionHead(machine: MachineInfo, command: string, startedAt: Date): string[] {
  const [one, five] = loadavg();
  return [
    `## ${startedAt.toISOString()}`,
    '',
    `- machine: ${machine.os}, ${machine.cpuModel}, ${machine.cores} cores, ${gibibytes(machine.totalMemoryBytes)} RAM, Node ${machine.node}`,
    `- load average: ${machine.loadAverage.toFixed(2)} at start, ${(one ?? 0).toFixed(2)} (1 min) / ${(five ?? 0).toFixed(2)} (5 min) at the end`,
    `- revision: ${machine.revision ?? 'unknown'}${isDirty() ? ' (uncommitted changes)' : ''}`,
    `- command: \`${command}\``,
  ];
}

/** Appends `section` to results/<name>.md, creating it with `header` the first time. */
export async function appendHistory(name: string, header: string, section: string): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.md`);
  const exists = await stat(file).then(
    () => true,
    () => false,
  );
  await appendFile(file, `${exists ? '' : `${header.trim()}\n`}\n${section.trim()}\n`);
  return file;
}

/**
 * Prints one run's section (its head, the bench's notes, its table) and, unless `save` is
 * false, appends it to results/<name>.md, whose header points at the bench's README section.
 */
export async function recordRun(
  name: string,
  run: {
    machine: MachineInfo;
    command: string;
    startedAt: Date;
    notes: readonly string[];
    table: string;
    save: boolean;
  },
): Promise<void> {
  const section = [
    ...sectionHead(run.machine, run.command, run.startedAt),
    ...run.notes,
    '',
    run.table,
    '',
  ].join('\n');
  console.log(section);
  if (!run.save) return;
  const file = await appendHistory(
    name,
    `# ${name} benchmark results\n\nAppended by \`bench/${name}.ts\`, newest last. How to read them: [../README.md](../README.md#${name}).`,
    section,
  );
  console.log(`appended to ${path.relative(process.cwd(), file)}`);
}

export { describeMachine };

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
