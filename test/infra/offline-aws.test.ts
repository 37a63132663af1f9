/**
 * The synthesized stack run offline as AWS runs it (test/helpers/offline-aws.ts): the state
 * machine from the template in a kept ASL interpreter, each Lambda task the shipped bundle in
 * its own containers with its synthesized environment and role, every AWS call authorized by
 * iam-simulate against the synthesized policies and answered with S3's documented semantics
 * (403 for a missing key without s3:ListBucket, 412 for a create-only write of an existing key).
 *
 * Scenarios, in order on one lake: the first run on an empty bucket, a second run, the run
 * guard with a run in progress (and a throttled ListExecutions), a batch that fails through its
 * retries and is redriven, a missing users list, a secret still holding its placeholder. Every
 * scenario ends with zero denied calls; a denial would be printed with its action and resource.
 */

import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store } from '#adapters/s3-store.ts';
import { DEFAULT_REQUESTS_PER_USER } from '#core/capacity.ts';
import { StoreError } from '#core/errors.ts';
import { decodePrestoView, lakeDatabases } from '#core/glue-view.ts';
import { parseScheduleExpression, runDeadlineSeconds } from '#core/schedule-expression.ts';
import { NON_RETRYABLE_ERRORS } from '#infra/constants.ts';
import { RUN_IN_PROGRESS_ERROR } from '#infra/constructs/load-workflow.ts';
import { SECRET_PLACEHOLDER_KEY, SECRET_PLACEHOLDER_VALUE } from '#infra/constructs/paylink-credentials.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { s3InternalErrors, withFault } from '#test/helpers/aws-gateway.ts';
import type { ExecutionOutcome } from '#test/helpers/offline-aws.ts';
import {
  describeDenials,
  explainOutcome,
  type OfflineWorld,
  offlineConfig,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';
import { exampleConfig } from './app-fixture.ts';

const SEED = 'offline';
const USERS = generateIdentifiers(SEED, 6);
const SLOT = (day: number) => `2026-12-${String(day).padStart(2, '0')}T03:00:00.000Z`;

/**
 * The example stack with batches of at most 2 users (6 users: 3 batches) and a fast rate; users
 * in flight not configured, so the bundled load-batch adapts them (as deployed by default).
 */
const CONFIG = offlineConfig({ batchSize: 2 });

let world: OfflineWorld;

beforeAll(async () => {
  world = await startOfflineWorld({ config: CONFIG, simulator: { seed: SEED } });
  await world.bucket.put(world.usersKey, `${USERS.join('\n')}\n`);
}, 120_000);

afterAll(async () => {
  await world?.close();
});

const run = (day: number, options = {}) =>
  world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(day) }, options);

const explain = (outcome: ExecutionOutcome) => explainOutcome(world, outcome);

const lakeKeys = async () =>
  (await world.bucket.list(`${world.prefix}/`)).map((k) => k.slice(world.prefix.length + 1));

describe('the deployed loader, offline under AWS rules', () => {
  let first: ExecutionOutcome;
  let second: ExecutionOutcome;

  beforeAll(async () => {
    first = await run(1);
    second = await run(2);
  }, 120_000);

  it('commits its first load on an empty bucket with zero denied calls', async () => {
    expect(first.status, explain(first)).toBe('SUCCEEDED');
    expect(describeDenials(world.gate)).toEqual([]);
    const keys = await lakeKeys();
    const loadId = first.output.loadId as string;
    expect(keys).toContain(`_loads/${loadId}.json`);
    expect(keys.filter((k) => k.startsWith(`_staging/${loadId}/`))).toEqual([]);
    // The first load reads keys that do not exist yet; S3 answered 404 because the roles may list.
    expect(world.gateway.calls.some((c) => c.action === 's3:GetObject' && c.status === 404)).toBe(true);
    expect(world.gateway.calls.filter((c) => c.status === 403)).toEqual([]);
    // Batches came from the plan's item file: plan, 3 batches, commit.
    expect(first.invocations.map((i) => i.fn)).toEqual([
      'plan',
      'loadBatch',
      'loadBatch',
      'loadBatch',
      'commit',
    ]);
    expect(first.output).toMatchObject({ loadId, users: USERS.length });
    const databases = Object.values(lakeDatabases(world.databaseName));
    expect([...world.glue.tables.keys()].every((k) => databases.includes(k.slice(0, k.indexOf('.'))))).toBe(
      true,
    );
    // The commit point and its views: raw table, history view, no current view.
    expect(world.glue.tables.get(`${world.databaseName}_raw._dlt_loads`)?.input.TableType).toBe(
      'EXTERNAL_TABLE',
    );
    expect(world.glue.tables.get(`${world.databaseName}._dlt_loads`)?.input.TableType).toBe('VIRTUAL_VIEW');
    expect(world.glue.tables.get(`${world.databaseName}_current.accounts`)?.input.TableType).toBe(
      'VIRTUAL_VIEW',
    );
    // The deployed commit knows action_history fans out over accounts: its current view follows them.
    const history = world.glue.tables.get(`${world.databaseName}_current.action_history`)?.input;
    const sql = decodePrestoView(history?.ViewOriginalText)?.originalSql ?? '';
    expect(sql).toContain(`FROM "${world.databaseName}_raw"."accounts" AS p`);
    expect(sql).toContain('CAST(t."_accounts_id" AS VARCHAR)');
    expect(history?.Description).toContain('while their accounts record is current');
    expect(world.glue.tables.size).toBeGreaterThan(0);
  });

  it('sizes the first plan with the documented default, the next with the requests the previous load measured', async () => {
    const plan = (outcome: ExecutionOutcome) =>
      JSON.parse(
        outcome.invocations
          .find((i) => i.fn === 'plan')!
          .logs.split('\n')
          .find((l) => l.includes('"planned"'))!,
      );
    expect(plan(first).requestsPerUser).toBe(DEFAULT_REQUESTS_PER_USER);
    expect(second.status, explain(second)).toBe('SUCCEEDED');
    const marker = JSON.parse(
      new TextDecoder().decode(await world.bucket.get(`${world.prefix}/_loads/${first.output.loadId}.json`)),
    );
    expect(plan(second).requestsPerUser).toBe(Math.round((marker.requests / marker.users) * 100) / 100);
    expect(plan(second).fits).toBe(true);
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it('lets an execution through the run guard after a throttled ListExecutions, and skips it while an older run is in progress', async () => {
    const arn = [...world.aws.stateMachines.values()][0]!.arn;
    world.aws.running.set(arn, [
      { executionArn: `${arn.replace(':stateMachine:', ':execution:')}:older`, startDate: new Date(0) },
    ]);
    let skipped: ExecutionOutcome;
    try {
      skipped = await run(3, { throttleListExecutions: 1 });
    } finally {
      world.aws.running.set(arn, []);
    }
    expect(skipped.status).toBe('FAILED');
    expect(skipped.error).toBe(RUN_IN_PROGRESS_ERROR);
    expect(skipped.invocations).toEqual([]);
    const retried = skipped.events.filter(
      (e) =>
        e.type === 'StateRetried' &&
        (e as { state: { name: string } }).state.name === 'ListRunningExecutions',
    );
    expect(retried).toHaveLength(1);
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it('retries a failing batch, fails the run, and a redrive re-runs only that batch and commits', async () => {
    // Batch 1's users list: its first read, so each attempt fails fast.
    const manifest = /\/_staging\/[^/]+\/batches\/00001\/users\.json$/;
    const failed = await withFault(world.gateway, s3InternalErrors('s3:GetObject', manifest), () => run(4));
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toBe('StoreError');
    const batchOne = failed.invocations.filter((i) => i.fn === 'loadBatch' && !i.ok);
    // One attempt and two retries (States.TaskFailed, MaxAttempts 2), all of batch 1.
    expect(batchOne).toHaveLength(3);
    const keys = await lakeKeys();
    expect(keys.some((k) => k.startsWith('_loads/') && k.includes('1796353200'))).toBe(false);

    // Redriven while a later run of the schedule is going (it started while this one was
    // FAILED, so the state machine's guard let it through): the redrive restarts past that
    // guard, so the redriven batch checks for itself, sees the other run and loads nothing.
    const arn = [...world.aws.stateMachines.values()][0]!.arn;
    const later = {
      executionArn: `${arn.replace(':stateMachine:', ':execution:')}:later`,
      startDate: new Date(),
    };
    world.aws.running.set(arn, [later]);
    let refused: ExecutionOutcome;
    try {
      refused = await world.aws.redrive('daily', failed);
    } finally {
      world.aws.running.set(arn, []);
    }
    expect(refused.status).toBe('FAILED');
    expect(refused.error, explain(refused)).toBe('RunInProgressError');
    expect(refused.cause).toContain(later.executionArn);
    // Refused once, not retried, and nothing committed.
    expect(refused.invocations.map((i) => [i.fn, i.errorType])).toEqual([
      ['loadBatch', 'RunInProgressError'],
    ]);
    expect((await lakeKeys()).some((k) => k.startsWith('_loads/') && k.includes('1796353200'))).toBe(false);
    expect(world.gateway.calls).toContainEqual(
      expect.objectContaining({
        principal: 'loadBatch',
        action: 'states:ListExecutions',
        resource: arn,
        status: 200,
      }),
    );

    // Once that run has finished, the redrive recognises itself as the only run and commits.
    const redriven = await world.aws.redrive('daily', refused);
    expect(redriven.status, explain(redriven)).toBe('SUCCEEDED');
    expect(redriven.invocations.map((i) => i.fn)).toEqual(['loadBatch', 'commit']);
    expect(redriven.invocations.every((i) => i.logs.includes('redrive_guard_passed'))).toBe(true);
    expect(redriven.output).toMatchObject({ users: USERS.length, failedUsers: 0 });
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it('guards a redrive that restarts at the commit: refused while another run is going, then it commits', async () => {
    // Only the commit reads batch manifests: each of its attempts fails, the batches do not.
    const manifests = /\/_staging\/[^/]+\/batches\/\d+\/manifest\.json$/;
    const failed = await withFault(world.gateway, s3InternalErrors('s3:GetObject', manifests), () => run(9));
    expect(failed.status).toBe('FAILED');
    expect(failed.invocations.filter((i) => i.fn === 'commit').map((i) => i.ok)).toEqual([
      false,
      false,
      false,
    ]);
    const markers = async () => (await lakeKeys()).filter((k) => k.startsWith('_loads/'));
    const committedBefore = await markers();

    const arn = [...world.aws.stateMachines.values()][0]!.arn;
    const later = {
      executionArn: `${arn.replace(':stateMachine:', ':execution:')}:later`,
      startDate: new Date(),
    };
    world.aws.running.set(arn, [later]);
    let refused: ExecutionOutcome;
    try {
      refused = await world.aws.redrive('daily', failed);
    } finally {
      world.aws.running.set(arn, []);
    }
    expect(refused.error, explain(refused)).toBe('RunInProgressError');
    expect(refused.invocations.map((i) => [i.fn, i.errorType])).toEqual([['commit', 'RunInProgressError']]);
    expect(await markers()).toEqual(committedBefore);

    const redriven = await world.aws.redrive('daily', refused);
    expect(redriven.status, explain(redriven)).toBe('SUCCEEDED');
    expect(redriven.invocations.map((i) => i.fn)).toEqual(['commit']);
    expect(redriven.output).toMatchObject({ users: USERS.length, failedUsers: 0 });
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it('fails a run without a users list with ConfigError at once (404, not a retried 403)', async () => {
    const list = await world.bucket.get(world.usersKey);
    await world.bucket.delete([world.usersKey]);
    let outcome: ExecutionOutcome;
    try {
      outcome = await run(5);
    } finally {
      await world.bucket.put(world.usersKey, list!);
    }
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('ConfigError');
    expect(outcome.cause).toContain('no users list');
    expect(outcome.invocations.map((i) => i.fn)).toEqual(['plan']);
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it('fails a run whose secret still holds the placeholder CloudFormation created, without retrying batches', async () => {
    const filled = world.secretValues[world.secretArn]!;
    world.secretValues[world.secretArn] = JSON.stringify({
      [SECRET_PLACEHOLDER_KEY]: SECRET_PLACEHOLDER_VALUE,
      api_secret: 'generatedByCloudFormation0123',
    });
    // A stack deployed with the placeholder has no container that cached a real secret.
    world.aws.recycle();
    let outcome: ExecutionOutcome;
    try {
      outcome = await run(6);
    } finally {
      world.secretValues[world.secretArn] = filled;
    }
    expect(outcome.status).toBe('FAILED');
    expect(NON_RETRYABLE_ERRORS).toContain(outcome.error);
    const attempts = outcome.invocations.filter((i) => i.fn === 'loadBatch');
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.length).toBeLessThanOrEqual(3);
    expect(describeDenials(world.gate)).toEqual([]);
  });
});

describe('100k users planned with the example config (20 request/s, batches of at most 500)', () => {
  let big: OfflineWorld;
  let outcome: ExecutionOutcome;
  const USER_COUNT = 100_000;

  beforeAll(async () => {
    big = await startOfflineWorld({
      config: exampleConfig(),
      simulator: { seed: SEED },
      bundles: world.bundles,
    });
    const list = Array.from({ length: USER_COUNT }, (_, i) => `user-${String(i).padStart(6, '0')}`);
    await big.bucket.put(big.usersKey, `${list.join('\n')}\n`);
    // Plan and the Map's input only: the run stops once the Map has read its item file.
    outcome = await big.aws.execute(
      'daily',
      { schedule: 'daily', scheduledTime: SLOT(10) },
      { stopAtMap: true },
    );
  }, 180_000);

  afterAll(async () => {
    await big?.close();
  });

  it('plans every user into batches that fit their deadline and a run that fits the day, with zero denied calls', () => {
    expect(outcome.status, explain(outcome)).toBe('SUCCEEDED');
    expect(describeDenials(big.gate)).toEqual([]);
    const { items, ...plan } = outcome.output as {
      items: { loadId: string; batch: number }[];
      [k: string]: unknown;
    };
    const capacity = plan.capacity as Record<string, number | boolean>;
    expect(plan.users).toBe(USER_COUNT);
    expect(items).toHaveLength(plan.batches as number);
    expect(items.map((i) => i.batch)).toEqual(items.map((_, i) => i));
    // 20 request/s over 4 batches = 5 request/s per batch; 8 requests per user; 780 s usable x 0.8.
    expect(capacity.batchSize).toBeLessThanOrEqual(390);
    expect((capacity.batchSize as number) * (plan.batches as number)).toBeGreaterThanOrEqual(USER_COUNT);
    const deadline = runDeadlineSeconds(parseScheduleExpression('cron(0 3 * * ? *)')!, 24);
    expect(capacity.runDeadlineSeconds).toBe(deadline);
    expect(capacity.fits).toBe(true);
    expect(capacity.expectedSeconds).toBeLessThan(deadline);
  });

  it("keeps the plan's output (the state payload) small and constant, the batches being an S3 item file", () => {
    const { items: _items, ...plan } = outcome.output as Record<string, unknown>;
    expect(JSON.stringify(plan).length).toBeLessThan(1024);
  });
});

describe('a run that cannot finish before the next one at the configured rate', () => {
  it('still plans every user, says so in its output and logs the line the alarm counts', async () => {
    const slow = await startOfflineWorld({
      config: exampleConfig({
        requestRate: 1,
        maxConcurrency: 1,
        schedules: [{ name: 'hourly', expression: 'rate(1 hour)' }],
      }),
      simulator: { seed: SEED },
      bundles: world.bundles,
    });
    try {
      const users = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
      await slow.bucket.put(slow.usersKey, `${users.join('\n')}\n`);
      const outcome = await slow.aws.execute(
        'hourly',
        { schedule: 'hourly', scheduledTime: SLOT(11) },
        { stopAtMap: true },
      );
      expect(outcome.status, explain(outcome)).toBe('SUCCEEDED');
      const { capacity, users: planned, batches } = outcome.output;
      expect(planned).toBe(2000);
      expect(capacity.fits).toBe(false);
      expect(capacity.problem).toMatch(
        /^2000 users x 8 requests at 1 request\/s take .* more than the 54 min/,
      );
      expect(capacity.batchSize * batches).toBeGreaterThanOrEqual(2000);
      const planLogs = outcome.invocations.find((i) => i.fn === 'plan')!.logs;
      // The synthesized metric filter: `{ $.event = "..." }` over a bare JSON line, its
      // dimensions taken from fields of that line. The plan's line must carry all of them.
      const filter = slow.template
        .idsOfType('AWS::Logs::MetricFilter')
        .map((id) => slow.template.resolve(slow.template.resources[id].Properties))[0]!;
      const [, field, value] = /^\{ \$\.(\w+) = "([^"]+)" \}$/.exec(filter.FilterPattern)!;
      const matched = planLogs
        .split('\n')
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        })
        .filter((line) => line[field!] === value);
      expect(matched).toHaveLength(1);
      const dimensions = Object.fromEntries(
        (filter.MetricTransformations[0].Dimensions as { Key: string; Value: string }[]).map((d) => [
          d.Key,
          matched[0]![d.Value.replace(/^\$\./, '')],
        ]),
      );
      expect(dimensions).toEqual({ Stack: slow.template.deployment.stackName, Schedule: 'hourly' });
      expect(describeDenials(slow.gate)).toEqual([]);
    } finally {
      await slow.close();
    }
  }, 120_000);
});

describe('S3 as the roles see it through the gateway', () => {
  /** The lake as one function's role sees it (its credentials, the gateway's endpoint). */
  const lakeAs = (fn: 'plan' | 'loadBatch' | 'commit') => {
    const f = world.aws.functions.get(fn)!;
    return createS3Store({
      bucket: f.environment.LAKE_BUCKET!,
      prefix: world.prefix,
      client: new S3Client({
        region: 'us-east-1',
        endpoint: world.gateway.url,
        forcePathStyle: true,
        credentials: { accessKeyId: f.accessKeyId, secretAccessKey: 'offline-secret' },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
    });
  };

  it('answers a create-only write of an existing key with 412 (s3rver alone would overwrite)', async () => {
    const commit = lakeAs('commit');
    const key = '_schema/versions/999999.json';
    try {
      expect(await commit.putIfAbsent(key, '{"v":1}')).toBe(true);
      expect(await commit.putIfAbsent(key, '{"v":2}')).toBe(false);
      expect(new TextDecoder().decode(await commit.get(key))).toBe('{"v":1}');
      const answers = await Promise.all(
        [1, 2, 3].map((n) => commit.putIfAbsent(`${key}.race`, `{"n":${n}}`)),
      );
      expect(answers.filter(Boolean)).toHaveLength(1);
    } finally {
      await commit.delete([key, `${key}.race`]);
    }
  });

  it('refuses a staging role the published keys, key by key, inside a DeleteObjects answer', async () => {
    const published = '_loads/0000000001.000000.json';
    const staged = '_staging/0000000001.000000/x.json';
    await lakeAs('commit').put(published, '{}');
    await lakeAs('loadBatch').put(staged, '{}');
    const before = world.gate.decisions.length;
    try {
      const attempt = lakeAs('loadBatch').delete([staged, published]);
      await expect(attempt).rejects.toThrow(StoreError);
      await expect(attempt).rejects.toThrow(/AccessDenied/);
      expect(await world.bucket.get(`${world.prefix}/${staged}`)).toBeUndefined();
      expect(await world.bucket.get(`${world.prefix}/${published}`)).toBeDefined();
      expect(world.gate.decisions.slice(before).filter((d) => !d.allowed)).toEqual([
        expect.objectContaining({
          principal: 'loadBatch',
          action: 's3:DeleteObject',
          resource: expect.stringMatching(/_loads\//),
        }),
      ]);
    } finally {
      world.gate.decisions.splice(before);
      await world.bucket.delete([`${world.prefix}/${published}`]);
    }
  });
});
