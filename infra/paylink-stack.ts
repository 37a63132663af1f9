import { Annotations, ArnFormat, CfnOutput, Duration, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { scheduleListWarnings } from '#core/schedule-config.ts';
import {
  parseScheduleExpression,
  runDeadlineSeconds,
  schedulePeriodSeconds,
  stalenessWindowSeconds,
} from '#core/schedule-expression.ts';
import { HANDLER_ENV, OVER_DEADLINE_DIMENSIONS, OVER_DEADLINE_EVENT } from '#handlers/contract.ts';
import { batchRequestRate } from './batch-rate.ts';
import { capacitySettings, checkCapacity, scheduleRequestRate } from './capacity-settings.ts';
import type { StackConfig } from './config.ts';
import { FUNCTION_DEFAULTS } from './constants.ts';
import { LakeAnalytics } from './constructs/lake-analytics.ts';
import { LakeStorage } from './constructs/lake-storage.ts';
import { LoadSchedules } from './constructs/load-schedules.ts';
import { LoadWorkflow } from './constructs/load-workflow.ts';
import { LoaderFunction } from './constructs/loader-function.ts';
import { Operations } from './constructs/operations.ts';
import { OperationsDashboard } from './constructs/operations-dashboard.ts';
import { PayLinkCredentials } from './constructs/paylink-credentials.ts';
import { WebhookReceiver } from './constructs/webhook-receiver.ts';
import { handlerEnvironment } from './handler-environment.ts';
import { scheduledTables } from './named-queries.ts';

export interface PaylinkLoaderStackProps extends StackProps {
  readonly config: StackConfig;
}

/** PascalCase of a kebab-case name, for output ids: `daily-all` -> `DailyAll`. */
const pascal = (name: string) => name.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());

/**
 * The deployed loader, top-down as the architecture diagram reads:
 * storage and credentials -> the three Lambdas -> one state machine and schedule per configured
 * schedule -> Athena over the lake -> alarms -> outputs an operator needs to finish the setup.
 */
export class PaylinkLoaderStack extends Stack {
  readonly config: StackConfig;
  readonly lake: LakeStorage;
  readonly credentials: PayLinkCredentials;
  readonly analytics: LakeAnalytics;
  readonly functions: {
    readonly plan: LoaderFunction;
    readonly loadBatch: LoaderFunction;
    readonly commit: LoaderFunction;
  };
  readonly workflows: ReadonlyMap<string, LoadWorkflow>;
  readonly scheduling: LoadSchedules;
  readonly operations: Operations;
  /** The CloudWatch dashboard an operator opens (infra/constructs/operations-dashboard.ts). */
  readonly dashboard: OperationsDashboard;
  /** Atomic webhooks in: a Function URL storing verified events under `_events/`. */
  readonly webhooks: WebhookReceiver;

  constructor(scope: Construct, id: string, props: PaylinkLoaderStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.config = config;

    // Storage and credentials.
    this.lake = new LakeStorage(this, 'Storage', {
      source: config.bucket,
      prefix: config.prefix,
      usersListKey: config.usersList.key,
    });
    this.credentials = new PayLinkCredentials(this, 'Credentials', { source: config.secret });
    this.analytics = new LakeAnalytics(this, 'Analytics', {
      databaseName: config.athena.database,
      workgroupName: config.athena.workgroup,
      tables: scheduledTables(config),
      accessLogsBucket: this.lake.accessLogsBucket,
    });

    // Capacity is planned, not hoped for: refuse at synth what cannot fit (capacity-settings.ts).
    const capacity = capacitySettings(config);
    checkCapacity(config, capacity);

    // The Lambdas: one environment (the handler contract), grants by intent.
    const environment = handlerEnvironment({
      bucketName: this.lake.bucket.bucketName,
      prefix: config.prefix,
      secretArn: this.credentials.secretArn,
      baseUrl: config.baseUrl,
      usersListKey: config.usersList.key,
      batchSize: config.batchSize,
      // Each schedule's share of requestRate, split between the batches a run has at once.
      batchRequestRate: batchRequestRate(scheduleRequestRate(config), config.maxConcurrency),
      userConcurrency: config.userConcurrency,
      glueDatabase: this.analytics.databaseName,
      loaderConfig: config.loaderConfig,
    });
    // Every function names its stack: the Stack dimension of its metrics and a key of its logs.
    const environmentWithStack = { ...environment, [HANDLER_ENV.stackName]: this.stackName };
    const common = {
      environment: environmentWithStack,
      logRetention: config.logRetentionDays,
      tracing: config.tracing,
      logLevel: config.logLevel,
    };
    const sized = (s: { memoryMiB: number; timeoutMinutes: number }) => ({
      memoryMiB: s.memoryMiB,
      timeout: Duration.minutes(s.timeoutMinutes),
    });
    this.functions = {
      plan: new LoaderFunction(this, 'Plan', {
        ...common,
        ...sized(FUNCTION_DEFAULTS.plan),
        environment: { ...environmentWithStack, [HANDLER_ENV.capacity]: JSON.stringify(capacity) },
        handlerFile: 'plan.ts',
        description: 'PayLink loader: reads the users list and cuts it into batches',
      }),
      loadBatch: new LoaderFunction(this, 'LoadBatch', {
        ...common,
        ...sized(FUNCTION_DEFAULTS.loadBatch),
        handlerFile: 'load-batch.ts',
        description: 'PayLink loader: loads one batch of users into staging',
      }),
      commit: new LoaderFunction(this, 'Commit', {
        ...common,
        ...sized(FUNCTION_DEFAULTS.commit),
        // The trailing-median window of the quiet-feed metric and the alarm's fraction, so the
        // commit's log names the tables the alarm would (lambdas/core/quality.ts).
        environment: {
          ...environmentWithStack,
          [HANDLER_ENV.trailingLoads]: String(config.dataQuality.trailingLoads),
          [HANDLER_ENV.minTrailingLoads]: String(config.dataQuality.minTrailingLoads),
          [HANDLER_ENV.quietFraction]: String(config.dataQuality.quietFeedFraction),
          [HANDLER_ENV.minExpectedRows]: String(config.dataQuality.minExpectedRows),
          [HANDLER_ENV.minUsersForFailedShare]: String(config.dataQuality.minUsersForFailedShare),
          // The commit folds each load's task checks into the registry (task-retirement.ts).
          [HANDLER_ENV.retireTaskAfterMisses]: String(config.retireTaskAfterMisses),
          // When the merge goes to the merge Map (infra/constructs/load-workflow.ts); unset: by deadline.
          ...(config.commitMergeSeconds === undefined
            ? {}
            : { [HANDLER_ENV.commitMergeSeconds]: String(config.commitMergeSeconds) }),
        },
        handlerFile: 'commit.ts',
        description: 'PayLink loader: publishes a load and updates the Glue tables',
      }),
    };
    const { plan, loadBatch, commit } = this.functions;
    // Each role gets what its step does (docs/deploy.md lists every grant and why); the
    // offline AWS run (test/infra/offline-aws.test.ts) fails on any call a role lacks.
    for (const fn of [plan, loadBatch, commit]) this.lake.grantList(fn);
    // plan: the users list, the previous marker (requests per user); writes its own staging.
    this.lake.grantReadUsersList(plan);
    // ... and, for webhooks: the stored events and the user registry / changed-users state.
    this.lake.grantReadAreas(plan, 'LakePlanRead', ['_loads/', '_events/', '_state/']);
    this.lake.grantWriteStaging(plan);
    // plan takes the load id's lease for its execution; load-batch checks it is still held.
    this.lake.grantLeases(plan);
    // load-batch: the plan and its users, the committed schema; writes its staging only.
    this.lake.grantReadAreas(loadBatch, 'LakeBatchRead', ['_staging/', '_schema/', '_leases/']);
    this.lake.grantWriteStaging(loadBatch);
    this.credentials.grantRead(loadBatch);
    // commit: the only step that publishes, and that deletes published keys.
    this.lake.grantPublish(commit);
    this.analytics.grantTableSync(commit);

    // A cron schedule whose expectedPeriodHours could not be checked against its runs (a year
    // field, a field croner cannot express): a synth warning, as status --stack-config notes it.
    for (const line of scheduleListWarnings(config.schedules))
      Annotations.of(this).addWarningV2('paylink:cronPeriodUnchecked', line);
    // One state machine and one schedule per configured schedule.
    const workflows = new Map<string, LoadWorkflow>();
    for (const schedule of config.schedules) {
      workflows.set(
        schedule.name,
        new LoadWorkflow(this, `Run-${schedule.name}`, {
          stateMachineName: `${this.stackName}-${schedule.name}`,
          plan,
          loadBatch,
          commit,
          maxConcurrency: config.maxConcurrency,
          toleratedFailurePercentage: config.toleratedFailurePercentage,
          tracing: config.tracing,
          logRetention: config.logRetentionDays,
          runTimeout: Duration.seconds(
            runDeadlineSeconds(parseScheduleExpression(schedule.expression)!, schedule.expectedPeriodHours),
          ),
          lake: this.lake,
          scheduleSelection: {
            users: schedule.users === 'changed' ? 'changed' : 'all',
            ...(schedule.resources === undefined ? {} : { resources: schedule.resources }),
          },
        }),
      );
    }
    this.workflows = workflows;
    // load-batch and commit of a redriven run list their schedule's running executions
    // (the redrive guard, lambdas/core/run-guard.ts): ListExecutions on these machines only.
    const machineArns = config.schedules.map((schedule) =>
      this.formatArn({
        service: 'states',
        resource: 'stateMachine',
        resourceName: `${this.stackName}-${schedule.name}`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    for (const fn of [loadBatch, commit])
      fn.addToRolePolicy(
        new PolicyStatement({
          sid: 'RedriveGuard',
          actions: ['states:ListExecutions'],
          resources: machineArns,
        }),
      );
    this.scheduling = new LoadSchedules(this, 'Scheduling', {
      runs: config.schedules.map((schedule) => ({
        schedule,
        scheduleName: `${this.stackName}-${schedule.name}`,
        stateMachine: workflows.get(schedule.name)!.stateMachine,
      })),
    });

    // Operations.
    this.operations = new Operations(this, 'Operations', {
      ...(config.alarmEmail === undefined ? {} : { alarmEmail: config.alarmEmail }),
    });
    this.operations.watchFunction('Plan', plan);
    this.operations.watchFunction('LoadBatch', loadBatch);
    this.operations.watchFunction('Commit', commit);
    this.operations.watchDeadLetterQueue(this.scheduling.deadLetterQueue);
    this.operations.watchPlanCapacity({
      planLogs: plan.logGroup,
      eventName: OVER_DEADLINE_EVENT,
      dimensions: OVER_DEADLINE_DIMENSIONS,
      stackName: this.stackName,
      scheduleNames: config.schedules.map((s) => s.name),
    });
    for (const schedule of config.schedules) {
      const expression = parseScheduleExpression(schedule.expression)!;
      this.operations.watchRun({
        scheduleName: schedule.name,
        stateMachine: workflows.get(schedule.name)!.stateMachine,
        stalenessWindow: Duration.seconds(stalenessWindowSeconds(expression, schedule.expectedPeriodHours)),
      });
      const quality = config.dataQuality;
      this.operations.watchDataQuality({
        stackName: this.stackName,
        scheduleName: schedule.name,
        failedUserSharePercent: quality.failedUserSharePercent,
        failedUserShare: quality.failedUserShare,
        quietFeedFraction: quality.quietFeedFraction,
        quietFeed: quality.quietFeed,
        endpointUnavailable: quality.endpointUnavailable,
        runWindowSeconds: quality.runOutsideWindow
          ? runDeadlineSeconds(expression, schedule.expectedPeriodHours)
          : undefined,
      });
    }

    // Atomic webhooks in (issue 12): verified events land under _events/ for later loads.
    this.webhooks = new WebhookReceiver(this, 'Webhooks', {
      lake: this.lake,
      credentials: this.credentials,
      alarmTopic: this.operations.topic,
      stackName: this.stackName,
      logRetention: config.logRetentionDays,
      tracing: config.tracing,
      logLevel: config.logLevel,
      reservedConcurrency: config.webhooks.reservedConcurrency,
    });
    this.operations.watchFunction('Webhook', this.webhooks.function);
    this.dashboard = new OperationsDashboard(this, 'Dashboard', {
      dashboardName: this.stackName,
      stackName: this.stackName,
      schedules: config.schedules.map((schedule) => ({
        name: schedule.name,
        stateMachine: workflows.get(schedule.name)!.stateMachine,
        runDeadlineSeconds: runDeadlineSeconds(
          parseScheduleExpression(schedule.expression)!,
          schedule.expectedPeriodHours,
        ),
        periodSeconds: schedulePeriodSeconds(
          parseScheduleExpression(schedule.expression)!,
          schedule.expectedPeriodHours,
        ),
      })),
      functions: { plan, loadBatch, commit, webhook: this.webhooks.function },
      requestRate: config.requestRate,
      quietFeedFraction: config.dataQuality.quietFeedFraction,
      failedUserSharePercent: config.dataQuality.failedUserSharePercent,
      alarms: [...this.operations.alarms, ...this.webhooks.alarms],
    });
    new CfnOutput(this, 'WebhookUrl', {
      value: this.webhooks.url.url,
      description:
        "Atomic webhook endpoint: register it in Atomic's console (events are signed with the API secret)",
    });

    // What an operator needs next (docs/deploy.md).
    new CfnOutput(this, 'LakeBucketName', { value: this.lake.bucket.bucketName, description: 'Lake bucket' });
    new CfnOutput(this, 'LakeRoot', {
      value: this.lake.lakeUri,
      description: 'Lake root (Athena tables live under it)',
    });
    new CfnOutput(this, 'UsersListUri', {
      value: this.lake.usersListUri,
      description: 'Upload the users list here: one PayLink user identifier per line',
    });
    new CfnOutput(this, 'SecretArn', {
      value: this.credentials.secretArn,
      description: 'PayLink credentials: fill with the PutSecretValueCommand output',
    });
    new CfnOutput(this, 'PutSecretValueCommand', {
      value: Fn.join('', [
        'aws secretsmanager put-secret-value --secret-id ',
        this.credentials.secretArn,
        ' --secret-string file://paylink-credentials.json',
      ]),
      description:
        'paylink-credentials.json holds {"api_key":"...","api_secret":"..."} (a file keeps it out of shell history)',
    });
    for (const [name, workflow] of workflows) {
      new CfnOutput(this, `StateMachineArn${pascal(name)}`, {
        value: workflow.stateMachine.stateMachineArn,
        description: `State machine of schedule '${name}'`,
      });
    }
    new CfnOutput(this, 'AthenaWorkgroup', {
      value: this.analytics.workgroupName,
      description: 'Athena workgroup',
    });
    new CfnOutput(this, 'GlueDatabase', { value: this.analytics.databaseName, description: 'Glue database' });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.operations.topic.topicArn,
      description: 'Alarm topic',
    });
  }
}
