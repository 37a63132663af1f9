/**
 * Where an offline deployment's time goes, opt-in: with OFFLINE_PROFILE=<file> set, each world
 * start (and its parts), execution and Lambda invocation appends one JSON line to that file
 * (phase, milliseconds, test file). Off by default: nothing is written and nothing is timed.
 */
import { appendFileSync } from 'node:fs';
import { expect } from 'vitest';

const target = process.env.OFFLINE_PROFILE;

/** Runs `work`, recording how long it took under `phase` when profiling is on. */
export async function timed<T>(
  phase: string,
  work: () => Promise<T>,
  detail?: Record<string, unknown>,
): Promise<T> {
  if (!target) return work();
  const started = performance.now();
  try {
    return await work();
  } finally {
    record(phase, performance.now() - started, detail);
  }
}

export function record(phase: string, ms: number, detail?: Record<string, unknown>): void {
  if (!target) return;
  const file = expect.getState().testPath ?? '';
  appendFileSync(
    target,
    `${JSON.stringify({ file: file.replace(/^.*\/test\//, 'test/'), test: expect.getState().currentTestName, phase, ms: Math.round(ms), ...detail })}\n`,
  );
}
