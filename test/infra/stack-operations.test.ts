import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Cfn, exampleConfig, type Synthesized, synth } from './app-fixture.ts';

const CONFIG = exampleConfig({
  schedules: [
    { name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 24 },
    { name: 'quarter-hourly', expression: 'rate(15 minutes)', resources: ['accounts'] },
  ],
  alarmEmail: 'data-ops@example.com',
  athena: { database: 'paylink_lake', workgroup: 'paylink-analysts' },
});

/** A synthesized string with its tokens: Fn::Join flattened, anything else as `<id>`. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON.
function rendered(value: any): string {
  if (typeof value === 'string') return value;
  const join = value?.['Fn::Join'];
  if (join) return (join[1] as unknown[]).map(rendered).join(join[0]);
  return '<id>';
}

/** The database name: the configured one plus the stack id's first UUID group (deploy-unique). */
const DATABASE = 'paylink_lake_<id>';

let built: Synthesized;
let template: Template;

beforeAll(() => {
  built = synth(CONFIG);
  template = built.template;
});

const id = (construct: { node: { defaultChild?: unknown } }) =>
  built.stack.getLogicalId(construct.node.defaultChild as never);
const machineId = (name: string) => id(built.stack.workflows.get(name)!.stateMachine);

describe('Athena over the lake', () => {
  it('has the Glue database, and no Glue tables (commit creates them as the schema evolves)', () => {
    const database = Object.values(template.findResources('AWS::Glue::Database'))[0]!;
    expect(database.Properties.CatalogId).toEqual({ Ref: 'AWS::AccountId' });
    expect(rendered(database.Properties.DatabaseInput.Name)).toBe(DATABASE);
    expect(JSON.stringify(database.Properties.DatabaseInput.Name)).toContain('AWS::StackId');
    // Kept like the bucket its tables describe.
    expect(database.DeletionPolicy).toBe('Retain');
    template.resourceCountIs('AWS::Glue::Table', 0);
  });

  it('has a workgroup that enforces encrypted results in its own bucket', () => {
    const results = id(built.stack.analytics.resultsBucket);
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'paylink-analysts',
      State: 'ENABLED',
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        PublishCloudWatchMetricsEnabled: true,
        EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
        ResultConfiguration: {
          OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: results }, '/']] },
          EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
          ExpectedBucketOwner: { Ref: 'AWS::AccountId' },
        },
      },
    });
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire-results', ExpirationInDays: 30 })] },
        LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'athena-results/' },
      }),
    });
  });

  it('creates the <db>_raw and <db>_current databases beside the main one, all kept on stack deletion', () => {
    const databases = Object.values(template.findResources('AWS::Glue::Database'));
    expect(databases.map((d) => rendered(d.Properties.DatabaseInput.Name)).sort()).toEqual(
      [DATABASE, `${DATABASE}_current`, `${DATABASE}_raw`].sort(),
    );
    for (const d of databases) expect(d.DeletionPolicy).toBe('Retain');
  });

  it('ships current-state queries for the scheduled tables and a load history', () => {
    const queries = Object.values(template.findResources('AWS::Athena::NamedQuery')).map((q) => q.Properties);
    const names = queries.map((q) => q.Name).sort();
    expect(names).toContain('current_state_accounts');
    expect(names).toContain('current_state_orders');
    expect(names).toContain('load_history');
    expect(names).not.toContain('current_state_tasks');
    for (const query of queries) {
      expect(rendered(query.Database)).toBe(DATABASE);
      expect(query.WorkGroup).toEqual({ Ref: built.stack.getLogicalId(built.stack.analytics.workgroup) });
    }
    const current = queries.find((q) => q.Name === 'current_state_accounts')!;
    expect(rendered(current.QueryString)).toBe(`SELECT *\nFROM "${DATABASE}_current"."accounts"`);
  });
});

describe('alarms', () => {
  const alarmsFor = (dimension: string, ref: string) =>
    Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .map((a) => a.Properties)
      .filter((p) =>
        p.Dimensions?.some((d: Cfn) => d.Name === dimension && JSON.stringify(d.Value).includes(ref)),
      );

  it('go to an encrypted, TLS-only topic with the configured e-mail subscription', () => {
    const key = id(built.stack.node.findChild('Operations').node.findChild('TopicKey') as never);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'data-ops@example.com',
    });
    const topic = id(built.stack.operations.topic);
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
    }
  });

  it("watch each Lambda's errors", () => {
    for (const fn of Object.values(built.stack.functions)) {
      expect(alarmsFor('FunctionName', id(fn))).toEqual([
        expect.objectContaining({
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Statistic: 'Sum',
          Period: 300,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        }),
      ]);
    }
  });

  it('watch failed and timed-out runs of each schedule', () => {
    for (const name of ['daily', 'quarter-hourly']) {
      const metrics = alarmsFor('StateMachineArn', machineId(name)).map((a) => a.MetricName);
      expect(metrics).toEqual(expect.arrayContaining(['ExecutionsFailed', 'ExecutionsTimedOut']));
    }
  });

  it('fire when a schedule had no successful run in two of its periods, also when nothing ran', () => {
    const staleness = (name: string) =>
      alarmsFor('StateMachineArn', machineId(name)).find((a) => a.MetricName === 'ExecutionsSucceeded');
    const common = {
      Namespace: 'AWS/States',
      Statistic: 'Sum',
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    };
    expect(staleness('daily')).toMatchObject({ ...common, Period: 2 * 86_400 });
    expect(staleness('quarter-hourly')).toMatchObject({ ...common, Period: 2 * 15 * 60 });
  });

  it('fire when the scheduler dead-letter queue holds any message', () => {
    expect(alarmsFor('QueueName', id(built.stack.scheduling.deadLetterQueue))).toEqual([
      expect.objectContaining({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    ]);
  });

  it('fire per stack and schedule when a plan expects its run to outlast the schedule period', () => {
    const planLogs = built.stack.getLogicalId(built.stack.functions.plan.logGroup.node.defaultChild as never);
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: planLogs },
      FilterPattern: '{ $.event = "plan_over_deadline" }',
      MetricTransformations: [
        {
          MetricNamespace: 'PayLinkLoader',
          MetricName: 'PlanOverDeadline',
          MetricValue: '1',
          Dimensions: [
            { Key: 'Stack', Value: '$.stack' },
            { Key: 'Schedule', Value: '$.schedule' },
          ],
        },
      ],
    });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.MetricName === 'PlanOverDeadline',
    );
    // One alarm per schedule, each on its own (stack, schedule) series: another stack in the
    // account, or the other schedule, never trips it.
    const schedules = built.stack.config.schedules.map((s) => s.name).sort();
    expect(
      alarms
        .map((a) => a.Properties.Dimensions.find((d: { Name: string }) => d.Name === 'Schedule').Value)
        .sort(),
    ).toEqual(schedules);
    for (const alarm of alarms) {
      expect(alarm.Properties).toMatchObject({ Namespace: 'PayLinkLoader', Threshold: 1, Statistic: 'Sum' });
      expect(alarm.Properties.Dimensions).toContainEqual({ Name: 'Stack', Value: built.stack.stackName });
      expect(alarm.Properties.AlarmActions).toHaveLength(1);
    }
    // The plan knows which stack it belongs to.
    const planFn = built.stack.getLogicalId(built.stack.functions.plan.node.defaultChild as never);
    expect(template.toJSON().Resources[planFn].Properties.Environment.Variables.PAYLINK_STACK_NAME).toBe(
      built.stack.stackName,
    );
  });

  it('has no e-mail subscription when no address is configured', () => {
    synth(exampleConfig()).template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('outputs', () => {
  it('tell the operator every name and place needed to finish the set-up', () => {
    const lake = id(built.stack.lake.bucket as never);
    const secret = id(built.stack.credentials.secret as never);
    template.hasOutput('LakeBucketName', { Value: { Ref: lake } });
    template.hasOutput('UsersListUri', {
      Value: { 'Fn::Join': ['', ['s3://', { Ref: lake }, '/_config/users.txt']] },
    });
    template.hasOutput('SecretArn', { Value: { Ref: secret } });
    template.hasOutput('PutSecretValueCommand', {
      Value: {
        'Fn::Join': [
          '',
          [
            'aws secretsmanager put-secret-value --secret-id ',
            { Ref: secret },
            ' --secret-string file://paylink-credentials.json',
          ],
        ],
      },
    });
    template.hasOutput('StateMachineArnDaily', { Value: { Ref: machineId('daily') } });
    template.hasOutput('StateMachineArnQuarterHourly', { Value: { Ref: machineId('quarter-hourly') } });
    template.hasOutput('AthenaWorkgroup', { Value: 'paylink-analysts' });
    expect(rendered(template.findOutputs('GlueDatabase').GlueDatabase!.Value)).toBe(DATABASE);
  });
});
