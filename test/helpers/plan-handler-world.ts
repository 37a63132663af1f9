/**
 * The plan Lambda's world for tests that call its handler in-process: s3rver on loopback, the
 * handler's environment (bucket, prefix, secret ARN, users list `users.txt` = listed-1, listed-2,
 * a small capacity), and webhook events received into the lake as the receiver stores them.
 * `close()` puts the environment back and stops s3rver.
 */
import { expect, vi } from 'vitest';
import { createS3Store } from '#adapters/s3-store.ts';
import type { ObjectStore } from '#core/ports.ts';
import { receiveWebhook, signWebhookBody } from '#core/webhook.ts';
import { HANDLER_ENV, type PlanResult } from '#handlers/contract.ts';
import { handler as planHandler } from '#handlers/plan.ts';
import { resetRuntime } from '#handlers/runtime.ts';
import { jsonLines, type LogRecord } from '#test/helpers/log-lines.ts';
import { startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

export const PLAN_WORLD_PREFIX = 'paylink';

export interface PlanWorld {
  /** The lake (`<bucket>/paylink/`). */
  readonly store: ObjectStore;
  /**
   * Receives a signed event for `identifier` at `at` (its event time and receive time): a
   * `task-status-updated` when `data.taskId` is given, else `pay-link-accounts-updated`.
   */
  receive(identifier: string, at: string, data?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

/** `name` names the bucket, the secret and the webhook secret's value. */
export async function startPlanWorld(name: string): Promise<PlanWorld> {
  const secret = `${name}-secret`;
  const s3 = await startS3rver({ buckets: [name] });
  const restoreS3Env = withS3Env(s3.endpoint);
  const saved: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries({
    [HANDLER_ENV.bucket]: name,
    [HANDLER_ENV.prefix]: PLAN_WORLD_PREFIX,
    [HANDLER_ENV.secretArn]: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`,
    [HANDLER_ENV.usersKey]: 'users.txt',
    [HANDLER_ENV.capacity]: JSON.stringify({
      requestRate: 100,
      maxConcurrency: 4,
      maxBatchSize: 500,
      batchTimeoutSeconds: 900,
      batchMarginSeconds: 120,
      commitSeconds: 60,
      guardSeconds: 10,
      runDeadlineSeconds: { hourly: 3600, daily: 86_400 },
    }),
  })) {
    saved[key] ??= process.env[key];
    process.env[key] = value;
  }
  const store = createS3Store({ bucket: name, prefix: PLAN_WORLD_PREFIX });
  await createS3Store({ bucket: name, prefix: '' }).put('users.txt', 'listed-1\nlisted-2');
  return {
    store,
    async receive(identifier, at, data = {}) {
      const body = JSON.stringify({
        eventType: data.taskId === undefined ? 'pay-link-accounts-updated' : 'task-status-updated',
        eventTime: at,
        user: { _id: `atomic-${identifier}`, identifier },
        data,
      });
      const outcome = await receiveWebhook(
        {
          headers: { 'X-HMAC-Signature-Sha-256': signWebhookBody(body, secret) },
          body: new TextEncoder().encode(body),
        },
        { store, secret, receivedAt: new Date(at) },
      );
      expect(outcome.kind).toBe('accepted');
    },
    async close() {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      restoreS3Env();
      resetRuntime();
      await s3.close();
    },
  };
}

/**
 * Runs the plan handler (a fresh runtime, as a cold container) and returns its result and every
 * JSON line it logged, stdout and stderr alike.
 */
export async function planLogged(
  schedule: string,
  scheduledTime: string,
  users?: 'changed',
): Promise<{ result: PlanResult; lines: LogRecord[] }> {
  resetRuntime();
  let written = '';
  const capture = (chunk: unknown) => {
    written += String(chunk);
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    const result = await planHandler({ schedule, scheduledTime, ...(users === undefined ? {} : { users }) });
    return { result, lines: jsonLines(written) };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
