/** The machine a run was measured on: figures from different machines do not compare. */
import { execFileSync } from 'node:child_process';
import { arch, availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';

export interface MachineInfo {
  readonly os: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly node: string;
  readonly totalMemoryBytes: number;
  /** 1-minute load average when the run started: other work on the machine skews every figure. */
  readonly loadAverage: number;
  /** HEAD of the checkout when git can tell (uncommitted edits are not reflected). */
  readonly revision: string | undefined;
}

export function describeMachine(): MachineInfo {
  return {
    os: `${type()} ${release()} (${arch()})`,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    totalMemoryBytes: totalmem(),
    loadAverage: loadavg()[0] ?? 0,
    revision: gitRevision(),
  };
}

/** Read-only on purpose: `git describe --dirty` may rewrite the index of a shared checkout. */
function gitRevision(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}
