/** The CLI's `plan` estimates with core STACK_DEFAULTS: the stack must be built with the same numbers. */
import { describe, expect, it } from 'vitest';
import { STACK_DEFAULTS } from '#core/capacity.ts';
import { BATCH_DEADLINE_MARGIN_SECONDS, HANDLER_ENV } from '#handlers/contract.ts';
import { FUNCTION_DEFAULTS, GUARD_SETTLE_SECONDS } from '#infra/constants.ts';
import { MERGE_MAX_CONCURRENCY } from '#infra/constructs/load-workflow.ts';
import { buildApp, exampleConfig, synth } from './app-fixture.ts';

describe('capacity defaults', () => {
  it('match the deployed stack', () => {
    expect(FUNCTION_DEFAULTS.loadBatch.timeoutMinutes * 60).toBe(STACK_DEFAULTS.batchTimeoutSeconds);
    expect(BATCH_DEADLINE_MARGIN_SECONDS).toBe(STACK_DEFAULTS.batchMarginSeconds);
    expect(GUARD_SETTLE_SECONDS).toBe(STACK_DEFAULTS.guardSeconds);
    expect(FUNCTION_DEFAULTS.commit.timeoutMinutes * 60).toBe(STACK_DEFAULTS.commitTimeoutSeconds);
    expect(MERGE_MAX_CONCURRENCY).toBe(STACK_DEFAULTS.mergeConcurrency);
    const { paylink } = { paylink: exampleConfig() } as { paylink: Record<string, unknown> };
    expect((paylink.schedules as { expectedPeriodHours: number }[])[0]!.expectedPeriodHours).toBe(
      STACK_DEFAULTS.periodHours,
    );
  });

  it('reach the plan function as PAYLINK_CAPACITY, and only the plan function', () => {
    const { stack, template } = synth(exampleConfig());
    const env = (fn: { node: { defaultChild?: unknown } }) =>
      template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as never)].Properties.Environment
        .Variables;
    const capacity = JSON.parse(env(stack.functions.plan)[HANDLER_ENV.capacity]);
    expect(capacity).toEqual({
      requestRate: 20,
      maxConcurrency: STACK_DEFAULTS.maxConcurrency,
      maxBatchSize: 500,
      batchTimeoutSeconds: STACK_DEFAULTS.batchTimeoutSeconds,
      batchMarginSeconds: STACK_DEFAULTS.batchMarginSeconds,
      commitSeconds: STACK_DEFAULTS.commitSeconds,
      commitTimeoutSeconds: STACK_DEFAULTS.commitTimeoutSeconds,
      mergeConcurrency: STACK_DEFAULTS.mergeConcurrency,
      webhookReservedConcurrency: STACK_DEFAULTS.webhookReservedConcurrency,
      guardSeconds: STACK_DEFAULTS.guardSeconds,
      runDeadlineSeconds: { daily: Math.floor(24 * 3600 * STACK_DEFAULTS.runDeadlineFraction) },
    });
    // The stack's commitMergeSeconds, when set, sizes the plan's merge budget as it does the commit's.
    const capped = synth(exampleConfig({ commitMergeSeconds: 0 }));
    const cappedEnv =
      capped.template.toJSON().Resources[
        capped.stack.getLogicalId(capped.stack.functions.plan.node.defaultChild as never)
      ].Properties.Environment.Variables;
    expect(JSON.parse(cappedEnv[HANDLER_ENV.capacity]).commitMergeSeconds).toBe(0);
    // The webhook receiver's reserved concurrency leaves the account's pool: the plan subtracts what cdk.json sets.
    const reserving = synth(exampleConfig({ webhooks: { reservedConcurrency: 40 } }));
    const reservingEnv =
      reserving.template.toJSON().Resources[
        reserving.stack.getLogicalId(reserving.stack.functions.plan.node.defaultChild as never)
      ].Properties.Environment.Variables;
    expect(JSON.parse(reservingEnv[HANDLER_ENV.capacity]).webhookReservedConcurrency).toBe(40);
    // Synth refuses batches at once that only fit an account without the receiver (1,000 - 40 - 100 = 860).
    expect(() =>
      buildApp(
        exampleConfig({ expectedUsers: 100_000, maxConcurrency: 870, webhooks: { reservedConcurrency: 40 } }),
      ),
    ).toThrow(/40 of them reserved by the webhook receiver\).*lower maxConcurrency to 860 or less/);
    expect(env(stack.functions.loadBatch)[HANDLER_ENV.capacity]).toBeUndefined();
    expect(env(stack.functions.commit)[HANDLER_ENV.capacity]).toBeUndefined();
  });

  it('share requestRate between the schedules, which may run at once: each run is sized, and checked, at its share', () => {
    const two = exampleConfig({
      schedules: [
        { name: 'daily', expression: 'rate(1 day)' },
        { name: 'hourly', expression: 'rate(1 hour)', resources: ['financial_transactions_most_recent'] },
      ],
      requestRate: 20,
    });
    const { stack, template } = synth(two);
    const vars = (fn: { node: { defaultChild?: unknown } }) =>
      template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as never)].Properties.Environment
        .Variables;
    expect(JSON.parse(vars(stack.functions.plan)[HANDLER_ENV.capacity]).requestRate).toBe(10);
    // 10 request/s per schedule over 4 batches: the two schedules' batches together send <= 20.
    expect(vars(stack.functions.loadBatch)[HANDLER_ENV.batchRequestRate]).toBe('2.5');
    // 150k users x 8 requests fit a day at 20 request/s (16.7 h), not at a share of 10 (33 h).
    expect(() => buildApp(exampleConfig({ expectedUsers: 150_000 }))).not.toThrow();
    expect(() => buildApp({ ...two, expectedUsers: 150_000 })).toThrow(
      /paylink\.expectedUsers \(schedule daily\): 150000 users x 8 requests at 10 request\/s/,
    );
  });
});
