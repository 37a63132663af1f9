import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#cli/main.ts';
import { planCapacity, STACK_DEFAULTS } from '#core/capacity.ts';
import { captureIo, runCli } from '#test/helpers/lake-harness.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'plan-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('paylink-loader plan', () => {
  it('prints the estimate the deployed plan makes for 100k users at the default rate', async () => {
    const run = await runCli(['plan', '--users', '100000']);
    expect(run.code).toBe(0);
    const expected = planCapacity({
      users: 100_000,
      requestRate: 20,
      maxConcurrency: STACK_DEFAULTS.maxConcurrency,
      maxBatchSize: 500,
      requestsPerUser: 8,
      batchTimeoutSeconds: STACK_DEFAULTS.batchTimeoutSeconds,
      batchMarginSeconds: STACK_DEFAULTS.batchMarginSeconds,
      runDeadlineSeconds: Math.floor(24 * 3600 * STACK_DEFAULTS.runDeadlineFraction),
      guardSeconds: STACK_DEFAULTS.guardSeconds,
      commitSeconds: STACK_DEFAULTS.commitSeconds,
    });
    expect(run.stdout).toContain(`batches        ${expected.batches} of at most ${expected.batchSize} users`);
    expect(run.stdout).toContain(`waves          ${expected.waves}`);
    expect(run.stdout).toContain('requests       800000');
    expect(run.stdout).toContain('fits           yes');
  });

  it('counts the distinct users of a list file and exits 2, with the numbers, when the run cannot fit', async () => {
    const file = path.join(dir, 'users.txt');
    await writeFile(file, ['a', 'b', 'b', 'c'].join('\n'));
    const captured = captureIo({}, { cwd: dir });
    const code = await main(
      [
        'plan',
        '--users',
        'users.txt',
        '--rate-limit',
        '0.05',
        '--concurrency',
        '1',
        '--period-hours',
        '0.01',
        '--json',
      ],
      captured.io,
    );
    const plan = JSON.parse(captured.stdout());
    expect(plan.users).toBe(3);
    expect(code).toBe(2);
    expect(plan.fits).toBe(false);
    expect(plan.problem).toContain('3 users x 8 requests at 0.05 request/s');
  });

  it('names the flag that is wrong', async () => {
    const run = await runCli(['plan', '--users', 'no-such-file.txt']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('--users: is neither a number nor a readable file');
    const rate = await runCli(['plan', '--users', '10', '--rate-limit', '0']);
    expect(rate.stderr).toContain('--rate-limit: must be a positive number');
  });
});
