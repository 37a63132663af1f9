import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '#core/errors.ts';
import { USER_LOADS_COLUMNS } from '#core/load-user.ts';
import { mergeBudgetSeconds } from '#core/merge-fan-out.ts';
import { parseScheduleExpression, stalenessWindowSeconds } from '#core/schedule-expression.ts';
import { batchRequestRate } from '#infra/batch-rate.ts';
import { MAX_COMMIT_MERGE_SECONDS, parseStackConfig, readStackConfig } from '#infra/config.ts';
import { planEventTemplate } from '#infra/constructs/load-schedules.ts';
import { handlerEnvironment } from '#infra/handler-environment.ts';
import {
  currentStateQuery,
  LOAD_STARTED_AT,
  loadHistoryQuery,
  scheduledTables,
} from '#infra/named-queries.ts';
import { exampleConfig } from './app-fixture.ts';

function configError(input: unknown): ConfigError {
  try {
    parseStackConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const schedule = (s: Record<string, unknown>) => exampleConfig({ schedules: [{ name: 'daily', ...s }] });

describe('stack config', () => {
  it('accepts the cdk.json example and fills the documented defaults', () => {
    const config = parseStackConfig({ schedules: [{ name: 'daily', expression: 'rate(1 day)' }] });
    expect(config).toMatchObject({
      stackName: 'PaylinkLakeLoader',
      bucket: { kind: 'create' },
      secret: { kind: 'create' },
      prefix: 'paylink',
      baseUrl: 'https://sandbox-api.atomicfi.com',
      usersList: { key: 'users.txt' },
      maxConcurrency: 4,
      toleratedFailurePercentage: 0,
      logRetentionDays: 90,
      tracing: true,
      athena: { database: 'paylink', workgroup: 'paylink' },
    });
    expect(parseStackConfig(exampleConfig()).schedules[0]).toMatchObject({ name: 'daily', users: 'all' });
  });

  it('reads imports of an existing bucket and secret, with their KMS keys', () => {
    const config = parseStackConfig(
      exampleConfig({
        bucket: { importName: 'bank-lake', kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/abcd-1234' },
        secret: { importArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:paylink-AbCdEf' },
      }),
    );
    expect(config.bucket).toEqual({
      kind: 'import',
      name: 'bank-lake',
      kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/abcd-1234',
    });
    expect(config.secret).toEqual({
      kind: 'import',
      arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:paylink-AbCdEf',
    });
  });

  it('rejects a bad schedule expression, naming the key and not the value', () => {
    const error = configError(schedule({ expression: 'every day at 3' }));
    expect(error.key).toBe('paylink.schedules.0.expression');
    expect(error.message).toBe(
      'paylink.schedules.0.expression: must be rate(<n> <unit>) or cron(<6 fields>)',
    );
    expect(error.message).not.toContain('every day');
  });

  it('rejects rate() with the wrong number of the unit and one-time at() schedules', () => {
    expect(configError(schedule({ expression: 'rate(1 days)' })).key).toBe('paylink.schedules.0.expression');
    expect(configError(schedule({ expression: 'rate(2 hour)' })).key).toBe('paylink.schedules.0.expression');
    expect(configError(schedule({ expression: 'at(2030-01-01T00:00:00)' })).key).toBe(
      'paylink.schedules.0.expression',
    );
    expect(configError(schedule({ expression: 'cron(0 3 * * * *)', expectedPeriodHours: 24 })).key).toBe(
      'paylink.schedules.0.expression',
    );
  });

  it('rejects an unknown resource name and lists the known ones', () => {
    const error = configError(schedule({ expression: 'rate(1 day)', resources: ['accounts', 'acounts'] }));
    expect(error.key).toBe('paylink.schedules.0.resources.1');
    expect(error.message).toContain('unknown resource; known: account, accounts, action_history');
  });

  it('accepts a resource that the loader config adds to the catalog', () => {
    const config = parseStackConfig(
      exampleConfig({
        schedules: [{ name: 'daily', expression: 'rate(1 day)', resources: ['statements'] }],
        loaderConfig: {
          resources: {
            statements: {
              path: '/pay-link/statements',
              kind: 'list',
              selectors: ['statements'],
              defaultEnabled: false,
            },
          },
        },
      }),
    );
    expect(config.schedules[0]!.resources).toEqual(['statements']);
  });

  it('names a bad logLevel, its value and the accepted levels; takes a level in any case', () => {
    for (const [raw, shown] of [
      ['TRACE', '"TRACE"'],
      ['verbose', '"verbose"'],
      ['', '""'],
      [42, '42'],
      [null, 'null'],
    ] as const) {
      const error = configError(exampleConfig({ logLevel: raw }));
      expect(error.key).toBe('paylink.logLevel');
      expect(error.message).toBe(
        `paylink.logLevel: ${shown} is not a log level: use one of DEBUG, INFO, WARN, ERROR`,
      );
    }
    expect(parseStackConfig(exampleConfig({ logLevel: 'debug' })).logLevel).toBe('DEBUG');
    expect(parseStackConfig(exampleConfig({ logLevel: undefined })).logLevel).toBe('INFO');
    expect(parseStackConfig(exampleConfig({ logLevel: 'WARN' })).logLevel).toBe('WARN');
  });

  it('rejects a bucket that is both created and imported, and one that is neither', () => {
    const both = configError(exampleConfig({ bucket: { create: true, importName: 'bank-lake' } }));
    expect(both.key).toBe('paylink.bucket');
    expect(both.message).toBe('paylink.bucket: set exactly one of create: true or importName');
    expect(configError(exampleConfig({ bucket: {} })).key).toBe('paylink.bucket');
    const secret = configError(
      exampleConfig({
        secret: { create: true, importArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x' },
      }),
    );
    expect(secret.message).toBe('paylink.secret: set exactly one of create: true or importArn');
  });

  it('never echoes a rejected value in the message', () => {
    const email = configError(exampleConfig({ alarmEmail: 'not-an-address-secret-ish' }));
    expect(email.key).toBe('paylink.alarmEmail');
    expect(email.message).not.toContain('secret-ish');
    const arn = configError(exampleConfig({ secret: { importArn: 'arn:aws:iam::123456789012:user/leaky' } }));
    expect(arn.key).toBe('paylink.secret.importArn');
    expect(arn.message).not.toContain('leaky');
  });

  it('requires expectedPeriodHours for cron and refuses it for rate', () => {
    expect(configError(schedule({ expression: 'cron(0 3 * * ? *)' })).key).toBe(
      'paylink.schedules.0.expectedPeriodHours',
    );
    expect(configError(schedule({ expression: 'rate(1 day)', expectedPeriodHours: 24 })).message).toContain(
      'only applies to cron()',
    );
  });

  it('takes maxUsersPerRun on a changed schedule only, a whole number of users in range, in one line', () => {
    const changed = { expression: 'rate(1 hour)', users: 'changed' };
    expect(parseStackConfig(schedule({ ...changed, maxUsersPerRun: 2000 })).schedules[0]).toMatchObject({
      maxUsersPerRun: 2000,
    });
    for (const bad of [0, 2.5, 10_000_001, '20']) {
      const error = configError(schedule({ ...changed, maxUsersPerRun: bad }));
      expect(error.key).toBe('paylink.schedules.0.maxUsersPerRun');
      expect(error.message).toContain('must be a whole number of users from 1 to 10000000');
      expect(error.message).not.toContain('\n');
    }
    const all = configError(schedule({ expression: 'rate(1 day)', maxUsersPerRun: 10 }));
    expect(all.key).toBe('paylink.schedules.0.maxUsersPerRun');
    expect(all.message).toContain("only applies to a 'changed' schedule");
  });

  it('refuses periods whose staleness window CloudWatch cannot alarm on', () => {
    expect(configError(schedule({ expression: 'rate(4 days)' })).key).toBe('paylink.schedules.0.expression');
    expect(configError(schedule({ expression: 'cron(0 3 ? * MON *)', expectedPeriodHours: 168 })).key).toBe(
      'paylink.schedules.0.expectedPeriodHours',
    );
  });

  it('rejects duplicate schedule names, non-kebab names, unknown keys and a bad time zone', () => {
    const twice = { name: 'daily', expression: 'rate(1 day)' };
    expect(configError(exampleConfig({ schedules: [twice, twice] })).key).toBe('paylink.schedules.1.name');
    expect(configError(schedule({ name: 'Daily_Load', expression: 'rate(1 day)' })).key).toBe(
      'paylink.schedules.0.name',
    );
    // The unknown key itself, with the nearest known one: the words status and load use too.
    expect(configError(exampleConfig({ bukcet: { create: true } })).message).toBe(
      'paylink.bukcet: unknown key (did you mean "bucket"?)',
    );
    expect(configError(schedule({ expression: 'rate(1 day)', timezone: 'Mars/Olympus' })).key).toBe(
      'paylink.schedules.0.timezone',
    );
    expect(configError(schedule({ expression: 'rate(1 day)', users: 'some' })).message).toContain(
      "must be 'all' or 'changed'",
    );
  });

  it('accepts a changed-users schedule, whose runs tell the plan to load only users with new webhook events', () => {
    const parsed = parseStackConfig(
      schedule({ name: 'hourly', expression: 'rate(1 hour)', users: 'changed' }),
    );
    expect(parsed.schedules[0]).toMatchObject({ name: 'hourly', users: 'changed' });
    expect(planEventTemplate(parsed.schedules[0]!)).toEqual({
      schedule: 'hourly',
      scheduledTime: '<aws.scheduler.scheduled-time>',
      users: 'changed',
    });
    expect(planEventTemplate(parseStackConfig(exampleConfig()).schedules[0]!)).not.toHaveProperty('users');
  });

  it('rejects an empty prefix, a users list key that escapes _config/, and an invalid retention', () => {
    expect(configError(exampleConfig({ prefix: '' })).key).toBe('paylink.prefix');
    expect(configError(exampleConfig({ usersList: { key: '../paylink/accounts/x' } })).key).toBe(
      'paylink.usersList.key',
    );
    expect(configError(exampleConfig({ logRetentionDays: 42 })).key).toBe('paylink.logRetentionDays');
  });

  it('accepts a commit merge budget of 0 to the 390 s its deadline allows (0: every merge goes to the Map) and nothing else', () => {
    expect(parseStackConfig(exampleConfig()).commitMergeSeconds).toBeUndefined();
    expect(parseStackConfig(exampleConfig({ commitMergeSeconds: 0 })).commitMergeSeconds).toBe(0);
    // The cap is what the commit's own deadline leaves it: (900 s - 120 s reserve) x 0.5.
    expect(MAX_COMMIT_MERGE_SECONDS).toBe(mergeBudgetSeconds({ remainingSeconds: () => 900 }));
    expect(MAX_COMMIT_MERGE_SECONDS).toBe(390);
    expect(parseStackConfig(exampleConfig({ commitMergeSeconds: 390 })).commitMergeSeconds).toBe(390);
    for (const bad of [-1, 391, 600, 900, 901, '60']) {
      const error = configError(exampleConfig({ commitMergeSeconds: bad }));
      expect(error.key).toBe('paylink.commitMergeSeconds');
      // The message says the cap and why: a value above it would do nothing.
      expect(error.message).toContain('from 0 to 390');
      expect(error.message).toContain('900 s Lambda timeout - 120 s reserved for the publish');
    }
  });

  it('reads the config from the CDK context, also as the JSON string `-c paylink=...` gives', () => {
    const asObject = readStackConfig(new App({ context: { paylink: exampleConfig() } }));
    const asString = readStackConfig(new App({ context: { paylink: JSON.stringify(exampleConfig()) } }));
    expect(asString).toEqual(asObject);
    expect(() => readStackConfig(new App())).toThrow(/^paylink: missing/);
    expect(() => readStackConfig(new App({ context: { paylink: '{not json' } }))).toThrow(
      'paylink: is not valid JSON',
    );
  });
});

describe('derived settings', () => {
  it("gives each concurrent batch its share of the run's request rate, never more in total", () => {
    expect(batchRequestRate(20, 4)).toBe(5);
    expect(batchRequestRate(20, 3)).toBe(6.666);
    expect(batchRequestRate(1, 3) * 3).toBeLessThanOrEqual(1);
    expect(() => batchRequestRate(1, 10_000)).toThrow(ConfigError);
  });

  it('derives the staleness window from rate() and from the configured cron period', () => {
    expect(stalenessWindowSeconds(parseScheduleExpression('rate(1 day)')!)).toBe(172_800);
    expect(stalenessWindowSeconds(parseScheduleExpression('rate(15 minutes)')!)).toBe(1_800);
    expect(stalenessWindowSeconds(parseScheduleExpression('cron(0 */6 * * ? *)')!, 6)).toBe(43_200);
    // Rounded up to whole minutes: CloudWatch periods are multiples of 60 s.
    expect(stalenessWindowSeconds(parseScheduleExpression('cron(0 * * * ? *)')!, 0.01)).toBe(120);
    expect(() => stalenessWindowSeconds(parseScheduleExpression('cron(0 3 * * ? *)')!)).toThrow(RangeError);
  });

  it('takes the misses that retire a task id as a whole number of loads from 1 to 1000 (default 2)', () => {
    expect(parseStackConfig(exampleConfig()).retireTaskAfterMisses).toBe(2);
    expect(parseStackConfig(exampleConfig({ retireTaskAfterMisses: 4 })).retireTaskAfterMisses).toBe(4);
    for (const bad of [0, 2.5, 1001, '3'])
      expect(configError(exampleConfig({ retireTaskAfterMisses: bad })).key).toBe(
        'paylink.retireTaskAfterMisses',
      );
  });

  it('puts every handler variable of the contract in the environment, the users list under _config/', () => {
    const env = handlerEnvironment({
      bucketName: 'lake',
      prefix: 'paylink',
      secretArn: 'arn:secret',
      baseUrl: 'https://sandbox-api.atomicfi.com',
      usersListKey: 'users.txt',
      batchSize: 500,
      batchRequestRate: 5,
      userConcurrency: 8,
      glueDatabase: 'paylink',
    });
    expect(env).toEqual({
      LAKE_BUCKET: 'lake',
      LAKE_PREFIX: 'paylink',
      PAYLINK_SECRET_ARN: 'arn:secret',
      PAYLINK_BASE_URL: 'https://sandbox-api.atomicfi.com',
      USERS_BUCKET: 'lake',
      USERS_KEY: '_config/users.txt',
      BATCH_SIZE: '500',
      BATCH_REQUEST_RATE: '5',
      USER_CONCURRENCY: '8',
      GLUE_DATABASE: 'paylink',
    });
  });

  it('uses user_loads columns the loader writes', () => {
    const names = USER_LOADS_COLUMNS.map((c) => c.name as string);
    for (const column of [
      '_dlt_load_id',
      'user_identifier',
      'resource',
      'status',
      'rows',
      'error_code',
      LOAD_STARTED_AT,
    ]) {
      expect(names).toContain(column);
    }
  });

  it('names the tables the schedules load: their lists, or the default-enabled catalog', () => {
    const tables = scheduledTables({
      schedules: [
        { name: 'a', expression: 'rate(1 day)', users: 'all' },
        { name: 'b', expression: 'rate(1 day)', users: 'all', resources: ['tasks'] },
      ],
    });
    expect(tables).toContain('accounts');
    expect(tables).toContain('tasks');
    expect(tables).not.toContain('account');
  });

  it("builds the current-state query from each user's latest successful load of that resource", () => {
    const { sql, name } = currentStateQuery('paylink', 'accounts');
    expect(name).toBe('current_state_accounts');
    // The current-state view the commit keeps (lake-views.ts holds its logic and its tests).
    expect(sql).toBe('SELECT *\nFROM "paylink_current"."accounts"');
    expect(loadHistoryQuery('paylink').sql).toContain('GROUP BY _dlt_load_id, resource');
  });
});

describe('the Glue database name', () => {
  it("leaves room for the deploy-unique part and the _current / _raw suffixes within Glue's 255 characters", () => {
    const config = (database: string) => exampleConfig({ athena: { database, workgroup: 'paylink' } });
    expect(() => parseStackConfig(config('a'.repeat(238)))).not.toThrow();
    expect(configError(config('a'.repeat(239))).message).toContain('athena.database');
  });
});
