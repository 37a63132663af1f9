/**
 * A deployed schedule's plan (the plan Lambda's handler, over S3 on loopback) warns of users
 * learned from webhook events whose identifiers start or end with whitespace, as the CLI's loads
 * do on stderr: one WARN line per run, `learned_identifiers_whitespace`, with the count and never
 * an identifier; for a `changed` run's users and for those an `all` run adds to its list. A run
 * with none such says nothing.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createS3Store } from '#adapters/s3-store.ts';
import type { ObjectStore } from '#core/ports.ts';
import { receiveWebhook, signWebhookBody } from '#core/webhook.ts';
import { HANDLER_ENV, LEARNED_WHITESPACE_EVENT } from '#handlers/contract.ts';
import { handler as planHandler } from '#handlers/plan.ts';
import { resetRuntime } from '#handlers/runtime.ts';
import { jsonLines, type LogRecord } from '#test/helpers/log-lines.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const BUCKET = 'plan-learned-whitespace';
const PREFIX = 'paylink';
const SECRET = 'plan-whitespace-secret';
const PADDED = [' padded-lead', 'padded-trail\t'];

let s3: RunningS3rver;
let restoreEnv: () => void;
let store: ObjectStore;
const saved: Record<string, string | undefined> = {};

async function receive(identifier: string, at: string): Promise<void> {
  const body = JSON.stringify({
    eventType: 'pay-link-accounts-updated',
    eventTime: at,
    user: { _id: 'atomic-x', identifier },
    data: {},
  });
  const outcome = await receiveWebhook(
    {
      headers: { 'X-HMAC-Signature-Sha-256': signWebhookBody(body, SECRET) },
      body: new TextEncoder().encode(body),
    },
    { store, secret: SECRET, receivedAt: new Date(at) },
  );
  expect(outcome.kind).toBe('accepted');
}

/** Runs the plan handler and returns every JSON line it logged (stdout and stderr alike). */
async function plan(schedule: string, scheduledTime: string, users?: 'changed'): Promise<LogRecord[]> {
  resetRuntime();
  let written = '';
  const capture = (chunk: unknown) => {
    written += String(chunk);
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    await planHandler({ schedule, scheduledTime, ...(users === undefined ? {} : { users }) });
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return jsonLines(written);
}

const warnings = (lines: LogRecord[]) => lines.filter((l) => l.message === LEARNED_WHITESPACE_EVENT);

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET] });
  restoreEnv = withS3Env(s3.endpoint);
  for (const [name, value] of Object.entries({
    [HANDLER_ENV.bucket]: BUCKET,
    [HANDLER_ENV.prefix]: PREFIX,
    [HANDLER_ENV.secretArn]: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:plan-ws-AbCdEf',
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
    saved[name] ??= process.env[name];
    process.env[name] = value;
  }
  store = createS3Store({ bucket: BUCKET, prefix: PREFIX });
  await createS3Store({ bucket: BUCKET, prefix: '' }).put('users.txt', 'listed-1\nlisted-2');
}, 60_000);

afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  restoreEnv?.();
  resetRuntime();
  await s3?.close();
});

describe('the deployed plan and learned identifiers with surrounding whitespace', () => {
  it('says nothing when no learned identifier has any', async () => {
    await receive('plain-user', '2026-12-01T08:00:00.000Z');
    const lines = await plan('hourly', '2026-12-01T09:00:00.000Z', 'changed');
    expect(lines.some((l) => l.message === 'planned')).toBe(true);
    expect(warnings(lines)).toEqual([]);
  });

  it('warns once, counted, without the identifiers, for a changed run and for an all run', async () => {
    for (const identifier of PADDED) await receive(identifier, '2026-12-01T09:30:00.000Z');
    for (const lines of [
      await plan('hourly', '2026-12-01T10:00:00.000Z', 'changed'),
      await plan('daily', '2026-12-02T03:00:00.000Z'),
    ]) {
      const found = warnings(lines);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({
        level: 'WARN',
        event: LEARNED_WHITESPACE_EVENT,
        users: 2,
        detail:
          '2 identifier(s) of the users learned from webhook events start or end with whitespace; they are loaded exactly as written (a different user from the same identifier without it)',
      });
      const text = JSON.stringify(lines);
      expect(text).not.toContain('padded-lead');
      expect(text).not.toContain('padded-trail');
    }
  });
});
