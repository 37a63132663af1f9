import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#cli/main.ts';
import { changedRunCap, formatDuration, planCapacity, STACK_DEFAULTS } from '#core/capacity.ts';
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
    // 100k users' merge is over one commit's budget: the commit hands it to the merge Map.
    expect(expected.merge.handOff).toBe(true);
    // The commit line is the whole commit (what the expected run counts): two runs and the Map
    // between them; the merge line says what one invocation would take, against the budget.
    expect(expected.commitSeconds).toBe(2 * STACK_DEFAULTS.commitSeconds + expected.merge.mapSeconds);
    const commitRun = formatDuration(STACK_DEFAULTS.commitSeconds);
    expect(run.stdout).toContain(
      `  commit         ~${formatDuration(expected.commitSeconds)} in all, part of the expected run: a commit run (~${commitRun}), the merge Map (~${formatDuration(expected.merge.mapSeconds)}, ${expected.merge.items} items), a second commit run (~${commitRun})\n`,
    );
    expect(run.stdout).toContain(
      `  merge          ${expected.merge.rows} rows (${(expected.merge.bytes / 1e6).toFixed(1)} MB): ~${formatDuration(expected.merge.seconds)} if one invocation did it, over the commit's ${formatDuration(expected.merge.budgetSeconds)} merge budget, so the merge Map does it in ~${formatDuration(expected.merge.mapSeconds)}\n`,
    );
    // Nothing reads as a merge inside a shorter commit any more.
    expect(run.stdout).not.toMatch(/commit +~[^\n]*: merges/);
    expect(run.stdout).toContain(`expected run   ${formatDuration(expected.expectedSeconds)}`);
    expect(run.stdout).toContain('fits           yes');
  });

  it('says when the per-batch overhead allowance is most of the run, and the batch size that shortens it', async () => {
    // 1M users at 500 req/s in batches of 500: 500 waves of 32 s of requests and 30 s of allowance.
    const run = await runCli(['plan', '--users', '1000000', '--rate-limit', '500']);
    expect(run.code).toBe(0);
    const json = JSON.parse(
      (await runCli(['plan', '--users', '1000000', '--rate-limit', '500', '--json'])).stdout,
    );
    expect(json.overheadSeconds).toBe(json.waves * 30);
    expect(json.overheadSeconds).toBeGreaterThan(0.25 * json.expectedSeconds);
    expect(run.stdout).toContain(
      `overhead       ${formatDuration(json.overheadSeconds)} of it is the 30 s allowed per batch`,
    );
    // The suggestion is the largest batch that fits a batch's budget, and its plan is what the line says.
    const larger = JSON.parse(
      (
        await runCli([
          'plan',
          '--users',
          '1000000',
          '--rate-limit',
          '500',
          '--batch-size',
          String(json.fittingBatchSize),
          '--json',
        ])
      ).stdout,
    );
    expect(larger.batchSize).toBeLessThanOrEqual(json.fittingBatchSize);
    expect(larger.expectedSeconds).toBeLessThan(0.9 * json.expectedSeconds);
    expect(run.stdout).toContain(
      `--batch-size ${json.fittingBatchSize} (cdk.json batchSize) would make it ${formatDuration(larger.expectedSeconds)} in ${larger.waves} waves`,
    );
    // 100k users at 20 req/s: batches already fill their budget; no overhead line.
    expect((await runCli(['plan', '--users', '100000'])).stdout).not.toContain('overhead       ');
  });

  it("prints what a deployed 'changed' run of the period loads at most (its default maxUsersPerRun)", async () => {
    const run = await runCli(['plan', '--users', '100000', '--period-hours', '1']);
    const cap = changedRunCap({
      requestRate: 20,
      maxConcurrency: STACK_DEFAULTS.maxConcurrency,
      maxBatchSize: 500,
      requestsPerUser: 8,
      batchTimeoutSeconds: STACK_DEFAULTS.batchTimeoutSeconds,
      batchMarginSeconds: STACK_DEFAULTS.batchMarginSeconds,
      runDeadlineSeconds: Math.floor(3600 * STACK_DEFAULTS.runDeadlineFraction),
      guardSeconds: STACK_DEFAULTS.guardSeconds,
      commitSeconds: STACK_DEFAULTS.commitSeconds,
    });
    expect(run.stdout).toContain(`changed runs   at most ${cap} users a run`);
    const json = JSON.parse(
      (await runCli(['plan', '--users', '10', '--period-hours', '1', '--json'])).stdout,
    );
    expect(json.changedRunMaxUsers).toBe(cap);
  });

  it("counts the commit's merge in the commit, or through the merge Map with --commit-merge-seconds 0", async () => {
    const inCommit = JSON.parse((await runCli(['plan', '--users', '1000', '--json'])).stdout);
    expect(inCommit.merge.handOff).toBe(false);
    expect(inCommit.commitSeconds).toBe(STACK_DEFAULTS.commitSeconds + inCommit.merge.seconds);
    const text = await runCli(['plan', '--users', '1000']);
    // The commit line is the whole commit, one run here; the merge line what merging takes.
    expect(text.stdout).toContain(
      `  commit         ~${formatDuration(inCommit.commitSeconds)} in all, part of the expected run: one commit run, publishing (~${formatDuration(STACK_DEFAULTS.commitSeconds)}) and merging (~${formatDuration(inCommit.merge.seconds)})\n`,
    );
    expect(text.stdout).toContain(
      `  merge          ${inCommit.merge.rows} rows (${(inCommit.merge.bytes / 1e6).toFixed(1)} MB): ~${formatDuration(inCommit.merge.seconds)}, within the commit's ${formatDuration(inCommit.merge.budgetSeconds)} merge budget, so the commit merges them itself\n`,
    );

    const mapped = JSON.parse(
      (await runCli(['plan', '--users', '1000', '--commit-merge-seconds', '0', '--json'])).stdout,
    );
    expect(mapped.merge).toMatchObject({ handOff: true, budgetSeconds: 0 });
    expect(mapped.commitSeconds).toBe(2 * STACK_DEFAULTS.commitSeconds + mapped.merge.mapSeconds);
    expect(mapped.expectedSeconds - inCommit.expectedSeconds).toBe(
      mapped.commitSeconds - inCommit.commitSeconds,
    );

    const bad = await runCli(['plan', '--users', '1000', '--commit-merge-seconds', 'soon']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--commit-merge-seconds: must be a number of seconds (0 or more)');
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
    expect(rate.stderr).toContain(
      "--rate-limit: must be a number of requests per second above 0 and at most 10000 (got '0')",
    );
  });

  it('refuses a negative or fractional user count, however it is written, saying what --users takes', async () => {
    for (const argv of [['--users', '-5'], ['--users=-5'], ['--users', '1.5'], ['--users', '-1e3']]) {
      const run = await runCli(['plan', ...argv]);
      expect(run.code, argv.join(' ')).toBe(1);
      expect(run.stderr).toContain(
        '--users: must be a whole number of users (0 or more) or a users list file, not',
      );
      expect(run.stderr).not.toContain('ambiguous');
    }
  });

  it('prints the budget it sizes with, derived from the Lambda timeout it assumes, and singular counts', async () => {
    const run = await runCli(['plan', '--users', '1']);
    expect(run.code).toBe(0);
    const budget = (STACK_DEFAULTS.batchTimeoutSeconds - STACK_DEFAULTS.batchMarginSeconds) * 0.8;
    expect(run.stdout).toContain(
      `of a ${budget} s budget (${STACK_DEFAULTS.batchTimeoutSeconds} s Lambda timeout less ${STACK_DEFAULTS.batchMarginSeconds} s margin, x 0.8; 30 s of it overhead)`,
    );
    expect(run.stdout).toContain('Plan for 1 user at');
    expect(run.stdout).toContain('batches        1 of at most 1 user, 1 at once');
    expect(run.stdout).not.toMatch(/\b1 (users|batches|requests)\b/);
    // A user that cannot fit names the same budget, less the overhead.
    const tooSlow = await runCli(['plan', '--users', '10', '--rate-limit', '0.001']);
    expect(tooSlow.stderr).toContain(
      `more than the ${budget - 30} s a batch has for its users (${budget} s budget: ${STACK_DEFAULTS.batchTimeoutSeconds} s Lambda timeout`,
    );
  });

  it("does not call 1000 concurrent batches a fit: they would take a default account's Lambda concurrency", async () => {
    const run = await runCli(['plan', '--users', '100000', '--concurrency', '1000', '--json']);
    const plan = JSON.parse(run.stdout);
    expect(run.code).toBe(2);
    expect(plan.fits).toBe(false);
    // The schedule itself would be met: it is the concurrency that does not fit.
    expect(plan.expectedSeconds).toBeLessThan(plan.runDeadlineSeconds);
    expect(plan.problem).toContain(
      "1000 batches at once would take 1000 of the account's 1000 concurrent Lambda executions (25 of them reserved by the webhook receiver)",
    );
    // 1,000 less the receiver's reserved 25 (the stack's default) less the 100 kept for the rest.
    expect(plan.problem).toContain('lower maxConcurrency to 875 or less');
    const at = async (...flags: string[]) =>
      JSON.parse(
        (await runCli(['plan', '--users', '100000', '--concurrency', '900', '--json', ...flags])).stdout,
      );
    expect((await at()).fits).toBe(false);
    expect((await at('--webhook-reserved-concurrency', '0')).fits).toBe(true);
    const badReserved = await runCli(['plan', '--users', '10', '--webhook-reserved-concurrency', '2.5']);
    expect(badReserved.code).toBe(1);
    expect(badReserved.stderr).toContain('--webhook-reserved-concurrency: must be a whole number >= 0');

    const raised = await runCli([
      'plan',
      '--users',
      '100000',
      '--concurrency',
      '1000',
      '--account-concurrency',
      '5000',
    ]);
    expect(raised.code).toBe(0);
    expect(raised.stdout).toContain('fits           yes');
    // Only batches that exist run at once: 3 users under MaxConcurrency 1000 need 3 executions.
    const few = await runCli(['plan', '--users', '3', '--concurrency', '1000']);
    expect(few.stdout).toContain('fits           yes');

    const overMap = await runCli(['plan', '--users', '10', '--concurrency', '10001']);
    expect(overMap.code).toBe(1);
    expect(overMap.stderr).toContain('maxConcurrency: must be at most 10000 (a Distributed Map');
  });
});
