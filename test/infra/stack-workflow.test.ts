import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import * as errors from '#core/errors.ts';
import * as runGuard from '#core/run-guard.ts';
import { LAMBDA_SERVICE_ERRORS, NON_RETRYABLE_ERRORS } from '#infra/constants.ts';
import {
  type Cfn,
  exampleConfig,
  type Synthesized,
  stateMachines,
  statementsOfRole,
  synth,
} from './app-fixture.ts';

const CONFIG = exampleConfig({
  schedules: [
    { name: 'daily', expression: 'cron(0 3 * * ? *)', timezone: 'Europe/London', expectedPeriodHours: 24 },
    { name: 'accounts-6h', expression: 'rate(6 hours)', resources: ['accounts', 'action_history'] },
  ],
  requestRate: 30,
  maxConcurrency: 4,
  toleratedFailurePercentage: 10,
  logRetentionDays: 30,
});

let built: Synthesized;
let template: Template;
let machines: ReturnType<typeof stateMachines>;

beforeAll(() => {
  built = synth(CONFIG);
  template = built.template;
  machines = stateMachines(template);
});

const logicalId = (construct: { node: { defaultChild?: unknown } } | unknown) =>
  built.stack.getLogicalId((construct as { node: { defaultChild: never } }).node.defaultChild);

function machineNamed(name: string) {
  const found = [...machines.values()].find(
    (m) => m.properties.StateMachineName === `PaylinkLakeLoader-${name}`,
  );
  if (!found) throw new Error(`no state machine for ${name}`);
  return found;
}

describe('the Lambdas', () => {
  it('run Node.js 22 on arm64 with the contract environment and a 15-minute load-batch', () => {
    // plan, load-batch, commit and the webhook receiver (test/infra/stack-webhooks.test.ts).
    template.resourceCountIs('AWS::Lambda::Function', 4);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('loads one batch'),
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Timeout: 900,
      MemorySize: 2048,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
      Environment: {
        Variables: Match.objectLike({
          LAKE_BUCKET: { Ref: Match.stringLikeRegexp('^StorageLake') },
          LAKE_PREFIX: 'paylink',
          PAYLINK_SECRET_ARN: { Ref: Match.stringLikeRegexp('^CredentialsSecret') },
          PAYLINK_BASE_URL: 'https://sandbox-api.atomicfi.com',
          USERS_BUCKET: { Ref: Match.stringLikeRegexp('^StorageLake') },
          USERS_KEY: '_config/users.txt',
          BATCH_SIZE: '500',
          // 30 requests/s shared by the 2 schedules (which may overlap), over MaxConcurrency 4.
          BATCH_REQUEST_RATE: '3.75',
          // Not configured: each batch adapts its users in flight to its rate share.
          USER_CONCURRENCY: 'adaptive',
          GLUE_DATABASE: Match.objectLike({ 'Fn::Join': ['_', Match.arrayWith(['paylink'])] }),
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('reads the users list'),
      Timeout: 300,
      MemorySize: 512,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('publishes a load'),
      Timeout: 900,
      MemorySize: 1024,
    });
  });

  it('give the commit a merge budget only when one is configured (unset: it goes by its deadline)', () => {
    const env = (t: Template) =>
      Object.values(t.findResources('AWS::Lambda::Function')).map(
        (f) => f.Properties.Environment?.Variables ?? {},
      );
    expect(env(template).some((v) => 'PAYLINK_COMMIT_MERGE_SECONDS' in v)).toBe(false);
    const configured = synth({ ...CONFIG, commitMergeSeconds: 0 });
    const { commit } = configured.stack.functions;
    const commitId = configured.stack.getLogicalId(commit.node.defaultChild as never);
    const resources = configured.template.toJSON().Resources;
    for (const [id, resource] of Object.entries(configured.template.findResources('AWS::Lambda::Function'))) {
      const value = resource.Properties.Environment?.Variables?.PAYLINK_COMMIT_MERGE_SECONDS;
      expect(value, id).toBe(id === commitId ? '0' : undefined);
    }
    expect(resources[commitId]).toBeDefined();
  });

  it('each log to their own log group with the configured retention, kept on stack deletion', () => {
    const { plan, loadBatch, commit } = built.stack.functions;
    const groups = template.findResources('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 30 } });
    // Three Lambdas, the webhook receiver and two state machines.
    expect(Object.keys(groups)).toHaveLength(6);
    for (const group of Object.values(groups)) expect(group.DeletionPolicy).toBe('Retain');
    const used = [plan, loadBatch, commit].map(
      (fn) => template.toJSON().Resources[logicalId(fn)].Properties.LoggingConfig.LogGroup.Ref,
    );
    expect(new Set(used).size).toBe(3);
    for (const group of used) expect(groups[group]).toBeDefined();
  });
});

describe('the state machine of each schedule', () => {
  it('exists once per schedule, logs ALL to its own log group and is traced', () => {
    expect(machines.size).toBe(2);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'PaylinkLakeLoader-daily',
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }],
      },
    });
    // Retained, so named with the stack id's unique part: a redeploy after destroy cannot collide.
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: {
        'Fn::Join': [
          '',
          [
            '/aws/vendedlogs/states/PaylinkLakeLoader-accounts-6h-',
            { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] },
          ],
        ],
      },
      RetentionInDays: 30,
    });
  });

  it("runs plan, then a Distributed Map over the plan's item file in S3, then commit with the load id", () => {
    const { definition } = machineNamed('daily');
    const plan = definition.States.Plan;
    // The Scheduler's input plus the execution, which takes the load id's lease.
    expect(plan.Parameters['Payload.$']).toBe('States.JsonMerge($$.Execution.Input, $.guard.owner, false)');
    expect(plan.OutputPath).toBe('$.Payload');
    // A run with no batch (a changed run without new events) ends successfully after its plan.
    expect(plan.Next).toBe('AnythingToLoad');
    expect(definition.States.AnythingToLoad).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.batches', NumericEquals: 0, Next: 'NothingToLoad' }],
      Default: 'LoadBatches',
    });
    expect(definition.States.NothingToLoad).toMatchObject({ Type: 'Succeed' });
    // Bounded by the function's own timeout (300 s) plus slack.
    expect(plan.TimeoutSeconds).toBe(360);

    const map = definition.States.LoadBatches;
    expect(map).toMatchObject({
      Type: 'Map',
      ItemReader: {
        Resource: 'arn:TOKEN:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { 'Bucket.$': '$.itemsBucket', 'Key.$': '$.itemsKey' },
      },
      MaxConcurrency: 4,
      ToleratedFailurePercentage: 10,
      ResultPath: '$.batchMarks',
      Next: 'CheckBatches',
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
    });
    const item = map.ItemProcessor.States[map.ItemProcessor.StartAt];
    // Each item carries the parent execution (evaluated in the parent's context) and the child
    // passes its own redrive count: the redrive guard of load-batch needs both.
    const run = {
      'execution.$': '$$.Execution.Id',
      'stateMachine.$': '$$.StateMachine.Id',
      'redriveCount.$': '$$.Execution.RedriveCount',
    };
    expect(map.ItemSelector).toEqual({
      'loadId.$': '$$.Map.Item.Value.loadId',
      'batch.$': '$$.Map.Item.Value.batch',
      run,
    });
    expect(item.Parameters.Payload).toEqual({
      'loadId.$': '$.loadId',
      'batch.$': '$.batch',
      'run.$': '$.run',
      'childRedriveCount.$': '$$.Execution.RedriveCount',
    });
    expect(item.ResultSelector).toEqual({ s: 0 });
    // A systemic batch is caught, marked, and stops the run before commit (workflow-systemic.test.ts runs it).
    expect(item.Catch).toEqual([
      {
        ErrorEquals: ['SystemicFailureError', 'PayLinkUnavailableError'],
        ResultPath: '$.failure',
        Next: 'MarkSystemicBatch',
      },
    ]);
    expect(definition.States.AnyBatchSystemic.Default).toBe('Commit');
    expect(item.TimeoutSeconds).toBe(960);
    expect(map.ItemsPath).toBeUndefined();

    // The schedule from the execution's input: the commit's metrics dimension, even without a plan.
    // With the schedule's own selection: a subset started by hand is judged under `daily:manual`.
    expect(definition.States.Commit.Parameters.Payload).toEqual({
      'loadId.$': '$.loadId',
      run,
      'runInput.$': '$$.Execution.Input',
      scheduleSelection: { users: 'all' },
    });
    // A schedule of named resources passes them: a run of fewer is no load of its series.
    expect(machineNamed('accounts-6h').definition.States.Commit.Parameters.Payload.scheduleSelection).toEqual(
      {
        users: 'all',
        resources: ['accounts', 'action_history'],
      },
    );
    // Then the run ends, unless the commit handed its merge to the Map (below).
    expect(definition.States.Commit.Next).toBe('MergeHandedOff');
    expect(definition.States.MergeHandedOff.Default).toBe('Committed');
    expect(definition.States.Committed).toEqual({ Type: 'Succeed' });
    expect(definition.States.Commit.TimeoutSeconds).toBe(960);
    // 90% of the daily period: a run ends before the next slot starts.
    expect(definition.TimeoutSeconds).toBe(Math.floor(0.9 * 24 * 3600));
  });

  it('merges a load too large for one commit with a Map of one commit invocation per partition, then commits again', () => {
    const { definition } = machineNamed('daily');
    const run = {
      'execution.$': '$$.Execution.Id',
      'stateMachine.$': '$$.StateMachine.Id',
      'redriveCount.$': '$$.Execution.RedriveCount',
    };
    expect(definition.States.MergeHandedOff).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.mergeFanOut', IsPresent: true, Next: 'MergeGroups' }],
      Default: 'Committed',
    });
    const map = definition.States.MergeGroups;
    expect(map).toMatchObject({
      Type: 'Map',
      // The commit's item file in S3: keys of (table, partition, slice), never data, in the state.
      ItemReader: {
        Resource: 'arn:TOKEN:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { 'Bucket.$': '$.mergeFanOut.itemsBucket', 'Key.$': '$.mergeFanOut.itemsKey' },
      },
      ItemSelector: {
        'loadId.$': '$$.Map.Item.Value.loadId',
        'table.$': '$$.Map.Item.Value.table',
        'dt.$': '$$.Map.Item.Value.dt',
        'slice.$': '$$.Map.Item.Value.slice',
        run,
      },
      MaxConcurrency: 10,
      // The state stays the commit's answer: its load id goes on to the commit after the Map.
      ResultPath: null,
      Next: 'CommitMerged',
      Label: 'MergeGroups',
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
    });
    // Any failed partition fails the Map: nothing is published half merged (a redrive re-runs it).
    expect(map.ToleratedFailurePercentage ?? 0).toBe(0);
    expect(map.ToleratedFailureCount).toBeUndefined();
    const item = map.ItemProcessor.States[map.ItemProcessor.StartAt];
    expect(map.ItemProcessor.StartAt).toBe('MergeGroup');
    expect(item.Parameters.Payload).toEqual({
      'loadId.$': '$.loadId',
      mergeGroup: { 'table.$': '$.table', 'dt.$': '$.dt', 'slice.$': '$.slice' },
      'run.$': '$.run',
      'childRedriveCount.$': '$$.Execution.RedriveCount',
    });
    expect(item.ResultSelector).toEqual({ m: 0 });
    expect(item.TimeoutSeconds).toBe(960);
    expect(item.End).toBe(true);
    // The same function as the commit: one bundle, one role, one more mode.
    expect(item.Parameters.FunctionName).toEqual(definition.States.Commit.Parameters.FunctionName);
    expect(definition.States.CommitMerged).toMatchObject({
      Parameters: {
        FunctionName: definition.States.Commit.Parameters.FunctionName,
        Payload: {
          'loadId.$': '$.loadId',
          run,
          'runInput.$': '$$.Execution.Input',
          scheduleSelection: { users: 'all' },
          afterMerge: true,
        },
      },
      OutputPath: '$.Payload',
      TimeoutSeconds: 960,
      End: true,
    });
  });

  it('lets the state machine redrive the merge Map and read its item file in staging, nothing more', () => {
    const [id] = Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).find(
      ([, r]) => r.Properties.StateMachineName === 'PaylinkLakeLoader-daily',
    )!;
    const role = template.toJSON().Resources[id].Properties.RoleArn['Fn::GetAtt'][0];
    const statements = statementsOfRole(template, role);
    // Redrive: the child executions of this machine's two Maps, by their labels.
    const redrive = statements.filter((s) => [s.Action].flat().includes('states:RedriveExecution'));
    expect(redrive).toHaveLength(1);
    const labels = (redrive[0].Resource as Cfn[]).map((r) => r['Fn::Join'][1].at(-1));
    expect(labels).toEqual(['/LoadBatches:*', '/MergeGroups:*']);
    // The merge Map's item file is under _staging/ like the batches': the one S3 grant covers both.
    const reads = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('s3:')));
    expect(reads).toHaveLength(1);
    expect(reads[0].Action).toBe('s3:GetObject');
    expect(JSON.stringify(reads[0].Resource)).toMatch(/\/paylink\/_staging\/\*"\]\]\}$/);
    // Both Maps' child executions may be redriven; the Lambda tasks invoke only the stack's three.
    const invoke = statements.filter((s) => s.Action === 'lambda:InvokeFunction');
    const invoked = JSON.stringify(invoke.map((s) => s.Resource));
    expect(invoked).toContain(logicalId(built.stack.functions.commit));
  });

  it('retries Lambda service errors and task failures with backoff, and never what cannot heal', () => {
    const { definition } = machineNamed('daily');
    const map = definition.States.LoadBatches;
    const timedOut = ['States.Timeout', 'Sandbox.Timedout', 'Lambda.Unknown'];
    const mergeItem = definition.States.MergeGroups.ItemProcessor.States.MergeGroup;
    const tasks = [
      definition.States.Plan,
      map.ItemProcessor.States.LoadBatch,
      definition.States.Commit,
      mergeItem,
      definition.States.CommitMerged,
    ];
    for (const task of tasks) {
      // A plan or load-batch that ran out its time would run it out again: never retried. A
      // commit resumes where it stopped (moved parts are skipped, merged partitions reused):
      // retried once, and that retrier comes before States.TaskFailed, which would otherwise
      // match Lambda.Unknown. So is a merge item: it writes its partition's staged files again.
      const isCommit = [definition.States.Commit, mergeItem, definition.States.CommitMerged].includes(task);
      // A systemic batch (PayLink unusable for its first users) is not retried when the cause is
      // the configuration, and retried after 1, 2 and 4 minutes when PayLink was unavailable.
      const isBatch = task === map.ItemProcessor.States.LoadBatch;
      const systemic = isBatch ? ['SystemicFailureError'] : [];
      expect(task.Retry).toEqual([
        {
          ErrorEquals: [...NON_RETRYABLE_ERRORS, ...(isCommit ? [] : timedOut), ...systemic],
          MaxAttempts: 0,
        },
        ...(isCommit ? [{ ErrorEquals: timedOut, IntervalSeconds: 30, MaxAttempts: 1 }] : []),
        ...(isBatch
          ? [
              {
                ErrorEquals: ['PayLinkUnavailableError'],
                IntervalSeconds: 60,
                MaxAttempts: 3,
                BackoffRate: 2,
              },
            ]
          : []),
        {
          ErrorEquals: [...LAMBDA_SERVICE_ERRORS],
          IntervalSeconds: 2,
          MaxAttempts: 6,
          BackoffRate: 2,
          JitterStrategy: 'FULL',
        },
        {
          ErrorEquals: ['States.TaskFailed'],
          IntervalSeconds: 30,
          MaxAttempts: 2,
          BackoffRate: 2,
          JitterStrategy: 'FULL',
        },
      ]);
    }
  });

  it('names only error classes the handlers can actually throw as non-retryable', () => {
    const classes = new Set(
      [...Object.values(errors), ...Object.values(runGuard)].flatMap((e) =>
        typeof e === 'function' ? [e.name] : [],
      ),
    );
    for (const name of NON_RETRYABLE_ERRORS) expect(classes).toContain(name);
  });

  it('lets only the oldest running execution of a schedule through, failing the others fast', () => {
    const { definition } = machineNamed('daily');
    expect(definition.StartAt).toBe('SettleBeforeGuard');
    expect(definition.States.SettleBeforeGuard).toMatchObject({
      Type: 'Wait',
      Seconds: 10,
      Next: 'ListRunningExecutions',
    });
    expect(definition.States.ListRunningExecutions).toMatchObject({
      Type: 'Task',
      Resource: 'arn:TOKEN:states:::aws-sdk:sfn:listExecutions',
      Parameters: { 'StateMachineArn.$': '$$.StateMachine.Id', StatusFilter: 'RUNNING', MaxResults: 1000 },
      ResultSelector: { 'running.$': '$.Executions[*].ExecutionArn' },
      ResultPath: '$.guard',
      // A throttled ListExecutions must not lose the slot: Scheduler will not retry it.
      Retry: [
        {
          ErrorEquals: ['States.TaskFailed'],
          IntervalSeconds: 2,
          MaxAttempts: 5,
          BackoffRate: 2,
          JitterStrategy: 'FULL',
        },
      ],
    });
    expect(definition.States.SeesItselfRunning).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.guard.running[0]', IsPresent: true, Next: 'PickOldestRun' }],
      Default: 'GuardInconclusive',
    });
    // ListExecutions lists newest first: the last element is the oldest running execution.
    expect(definition.States.PickOldestRun.Parameters).toEqual({
      'oldest.$':
        'States.ArrayGetItem($.guard.running, States.MathAdd(States.ArrayLength($.guard.running), -1))',
      'self.$': '$$.Execution.Id',
      owner: { 'executionId.$': '$$.Execution.Id' },
    });
    expect(definition.States.IsOldestRun).toMatchObject({
      Choices: [{ Variable: '$.guard.oldest', StringEqualsPath: '$.guard.self', Next: 'Plan' }],
      Default: 'AnotherRunInProgress',
    });
    expect(definition.States.AnotherRunInProgress).toMatchObject({
      Type: 'Fail',
      Error: 'PayLink.RunInProgress',
    });
    expect(definition.States.GuardInconclusive).toMatchObject({
      Type: 'Fail',
      Error: 'PayLink.RunGuardInconclusive',
    });
  });

  it('may list executions of its own state machine only', () => {
    const [id] = Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).find(
      ([, r]) => r.Properties.StateMachineName === 'PaylinkLakeLoader-daily',
    )!;
    const role = template.toJSON().Resources[id].Properties.RoleArn['Fn::GetAtt'][0];
    const list = statementsOfRole(template, role).filter((s) => s.Action === 'states:ListExecutions');
    expect(list).toHaveLength(1);
    expect(JSON.stringify(list[0].Resource)).toContain(':stateMachine:PaylinkLakeLoader-daily"');
    expect(JSON.stringify(list[0].Resource)).not.toContain('*');
  });
});

describe('the schedules', () => {
  it('start their state machine with the plan event, exact slots, retries and the DLQ', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    const dlq = logicalId(built.stack.scheduling.deadLetterQueue);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'PaylinkLakeLoader-daily',
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/London',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: {
        Arn: { Ref: logicalId(built.stack.workflows.get('daily')!.stateMachine) },
        Input: JSON.stringify({ schedule: 'daily', scheduledTime: '<aws.scheduler.scheduled-time>' }),
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 20 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
        RoleArn: Match.anyValue(),
      },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'PaylinkLakeLoader-accounts-6h',
      ScheduleExpression: 'rate(6 hours)',
      Target: Match.objectLike({
        Input: JSON.stringify({
          schedule: 'accounts-6h',
          scheduledTime: '<aws.scheduler.scheduled-time>',
          resources: ['accounts', 'action_history'],
        }),
      }),
    });
  });

  it('have a dead-letter queue that is encrypted and refuses plain HTTP', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 86400,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('assume roles that may only start their one state machine and write to the DLQ', () => {
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule'));
    for (const schedule of schedules) {
      const role = schedule.Properties.Target.RoleArn['Fn::GetAtt'][0];
      const statements = statementsOfRole(template, role);
      expect(statements).toEqual([
        { Action: 'states:StartExecution', Effect: 'Allow', Resource: schedule.Properties.Target.Arn },
        {
          Action: 'sqs:SendMessage',
          Effect: 'Allow',
          Resource: schedule.Properties.Target.DeadLetterConfig.Arn,
        },
      ]);
      const trust = template.toJSON().Resources[role].Properties.AssumeRolePolicyDocument.Statement[0];
      expect(trust.Principal).toEqual({ Service: 'scheduler.amazonaws.com' });
      expect(trust.Condition.StringEquals['aws:SourceAccount']).toEqual({ Ref: 'AWS::AccountId' });
    }
  });
});
