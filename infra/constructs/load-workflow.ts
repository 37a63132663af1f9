import { ArnFormat, Aws, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Metric, type MetricOptions, Stats } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  DistributedMap,
  Fail,
  type IStateMachine,
  JitterType,
  JsonPath,
  LogLevel,
  Pass,
  S3JsonItemReader,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { CallAwsService, LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { UNREAD_SYSTEMIC_CAUSE } from '#core/systemic-cause.ts';
import type { ScheduleSelection } from '#handlers/contract.ts';
import { GUARD_SETTLE_SECONDS, LAMBDA_SERVICE_ERRORS, NON_RETRYABLE_ERRORS, RETRY } from '../constants.ts';
import type { LakeStorage } from './lake-storage.ts';

export interface LoadWorkflowProps {
  /** Physical name; also what the run guard's IAM grant names (no self-reference in the template). */
  readonly stateMachineName: string;
  readonly plan: IFunction;
  readonly loadBatch: IFunction;
  readonly commit: IFunction;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercentage: number;
  readonly tracing: boolean;
  readonly logRetention: RetentionDays;
  /** The whole run's bound (the schedule's run deadline, schedule-expression.ts). */
  readonly runTimeout: Duration;
  /** The lake: the Map reads the plan's item file from its staging area. */
  readonly lake: LakeStorage;
  /**
   * The schedule's own resources and users: the commit compares a run's with them, so a subset
   * started by hand does not write its judgement under the schedule's alarms' dimension.
   */
  readonly scheduleSelection?: ScheduleSelection;
}

/**
 * Seconds a Lambda task waits beyond its function's own timeout before Step Functions gives up
 * on it (States.Timeout): the invocation is over by then whatever happened to it.
 */
export const TASK_TIMEOUT_SLACK_SECONDS = 60;

/**
 * Errors of a load-batch that ran out its 15 minutes: a retry would spend 15 more on the same
 * hang. Step Functions reports a function timeout (and an out-of-memory end) as `Lambda.Unknown`
 * ("Handle transient Lambda service exceptions", Step Functions developer guide), so it is listed
 * with the task's own timeout names.
 */
export const TIMED_OUT_ERRORS = ['States.Timeout', 'Sandbox.Timedout', 'Lambda.Unknown'] as const;

/**
 * Errors of a load-batch saying the whole load cannot work (`SystemicFailureError`,
 * lambdas/core/errors.ts: the first users all failed at the network, got redirects, 5xx or
 * bodies that are not PayLink's). Committing would publish a load of failed users: the run fails
 * before commit with the cause.
 */
export const SYSTEMIC_ERRORS = ['SystemicFailureError', 'PayLinkUnavailableError'] as const;

/**
 * The systemic errors that may heal (`PayLinkUnavailableError`: PayLink unreachable or answering
 * 5xx). A short outage at the start of a run would otherwise fail the whole day's run, so the
 * batch is retried after 1, 2 and 4 minutes (an outage of about 7 minutes plus the batch's own
 * request retries is ridden out); a wrong --base-url (redirect, HTML, not PayLink) is not retried.
 */
export const TRANSIENT_SYSTEMIC_ERRORS = ['PayLinkUnavailableError'] as const;
export const UNAVAILABLE_RETRY = { intervalSeconds: 60, maxAttempts: 3, backoffRate: 2 } as const;

/**
 * The Distributed Map's label. Its child executions (one per batch) report their metrics under
 * `<state machine ARN>/<label>` ("Viewing a Distributed Map Run", Step Functions developer
 * guide): `mapItemsFailed` watches exactly those, never the parent run's.
 */
export const LOAD_BATCHES_LABEL = 'LoadBatches';
/** The merge Map's label (one commit invocation per table partition slice, merge-fan-out.ts). */
export const MERGE_GROUPS_LABEL = 'MergeGroups';

/** Failed batch executions of a schedule's Distributed Map (not failed runs of the state machine). */
export function mapItemsFailed(
  stateMachine: IStateMachine,
  options: MetricOptions = {},
  label: typeof LOAD_BATCHES_LABEL | typeof MERGE_GROUPS_LABEL = LOAD_BATCHES_LABEL,
): Metric {
  return new Metric({
    namespace: 'AWS/States',
    metricName: 'ExecutionsFailed',
    dimensionsMap: { StateMachineArn: `${stateMachine.stateMachineArn}/${label}` },
    statistic: Stats.SUM,
    ...options,
  });
}

/** Error a run fails with when a batch found the load cannot work; the cause is that batch's message. */
export const SYSTEMIC_FAILURE_ERROR = 'PayLink.SystemicFailure';

/** The run guard's ListExecutions: a throttle or blip must not lose the day's run. */
export const GUARD_RETRY = { intervalSeconds: 2, maxAttempts: 5, backoffRate: 2 } as const;

/** Error a skipped run fails with: an earlier run of the same schedule still holds the lake. */
export const RUN_IN_PROGRESS_ERROR = 'PayLink.RunInProgress';
export const GUARD_INCONCLUSIVE_ERROR = 'PayLink.RunGuardInconclusive';

/**
 * What a task does when its invocation ran out its time (TIMED_OUT_ERRORS), decided per step
 * from what a second attempt would do:
 * - `final`: not retried. load-batch: a retry spends 15 more minutes on the same users. plan:
 *   its time grows with the users list and a retry starts over (it clears its staging and
 *   re-reads the whole list), so it would time out again; the run fails and alarms instead.
 * - `once`: retried once. commit is idempotent and resumable: parts it already moved are
 *   skipped (they are found at their final keys), its commit intent is kept, and the timed-out
 *   invocation is over (the task's timeout is the function's plus slack), so a second attempt
 *   only finishes the remaining work and cannot race the first. If that one times out too, the
 *   run fails and can be redriven (commit again resumes).
 */
export type TimeoutPolicy = 'final' | 'once';

/** Retry of a commit that timed out: once, after the task back-off. */
export const TIMEOUT_RETRY = { intervalSeconds: 30, maxAttempts: 1 } as const;

/**
 * Partitions merged at once when the commit hands its merge to the Map (each item one commit
 * invocation, lambdas/core/merge-fan-out.ts). A day's load has a few tens of partitions; 10 keeps
 * what one run takes of the account's Lambda concurrency small, and S3 serves far more.
 */
export const MERGE_MAX_CONCURRENCY = 10;

/** The same retry policy on every Lambda task: never retry what cannot heal, back off on the rest. */
function withRetries(
  task: LambdaInvoke,
  onTimeout: TimeoutPolicy,
  alsoFinal: readonly string[] = [],
  heal?: { errors: readonly string[]; intervalSeconds: number; maxAttempts: number; backoffRate: number },
): LambdaInvoke {
  task.addRetry({
    errors: [...NON_RETRYABLE_ERRORS, ...(onTimeout === 'final' ? TIMED_OUT_ERRORS : []), ...alsoFinal],
    maxAttempts: 0,
  });
  // Before the States.TaskFailed retrier, which matches every error a Lambda throws.
  if (heal)
    task.addRetry({
      errors: [...heal.errors],
      interval: Duration.seconds(heal.intervalSeconds),
      maxAttempts: heal.maxAttempts,
      backoffRate: heal.backoffRate,
    });
  // Before the States.TaskFailed retrier, which matches Lambda.Unknown and Sandbox.Timedout too.
  if (onTimeout === 'once')
    task.addRetry({
      errors: [...TIMED_OUT_ERRORS],
      interval: Duration.seconds(TIMEOUT_RETRY.intervalSeconds),
      maxAttempts: TIMEOUT_RETRY.maxAttempts,
    });
  task.addRetry({
    errors: [...LAMBDA_SERVICE_ERRORS],
    interval: Duration.seconds(RETRY.service.intervalSeconds),
    maxAttempts: RETRY.service.maxAttempts,
    backoffRate: RETRY.service.backoffRate,
    jitterStrategy: JitterType.FULL,
  });
  task.addRetry({
    errors: ['States.TaskFailed'],
    interval: Duration.seconds(RETRY.task.intervalSeconds),
    maxAttempts: RETRY.task.maxAttempts,
    backoffRate: RETRY.task.backoffRate,
    jitterStrategy: JitterType.FULL,
  });
  return task;
}

/**
 * One load run: guard -> plan -> Distributed Map of load-batch over the plan's batches -> commit
 * (-> when the commit hands its merge off: Distributed Map of partition merges -> commit again).
 *
 * Why a guard, and why this one. Two runs of one schedule must never interleave (a second
 * commit could publish while the first one's batches still write). Scheduler delivers at least
 * once and a slow run can outlive its period, so overlaps happen. Each schedule has its own
 * state machine, and its first states elect a single runner among the running executions:
 * wait GUARD_SETTLE_SECONDS (ListExecutions is eventually consistent), list RUNNING executions
 * (newest first, per the API reference), and continue only if the oldest one is this execution.
 * Every later execution fails fast with PayLink.RunInProgress (alarmed: a period too short for
 * the load shows up). It is fail-safe: if the listing does not even show this execution, the
 * run fails (PayLink.RunGuardInconclusive) rather than risk interleaving. A duplicate delivery
 * of one slot carries the same scheduledTime, hence the same load id, so whichever copy wins
 * writes the same keys. No lease to leak: a crashed or timed-out run stops being RUNNING.
 *
 * A redrive restarts an execution at the state that failed, past the guard. So load-batch and
 * commit receive the execution and its redrive count, and a redriven run checks the running
 * executions itself before touching PayLink or the lake: it recognises itself in the listing and
 * goes on only if no other run of the schedule is going (RunInProgressError otherwise, not
 * retried). The plan needs no such check: it only writes its own load's staging, and every step
 * after it is guarded. A run started while a redriven one runs is refused by the guard above
 * (the redriven execution keeps its original start, so it is the oldest).
 */
export class LoadWorkflow extends Construct {
  readonly stateMachine: StateMachine;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: LoadWorkflowProps) {
    super(scope, id);
    const stateMachineArn = Stack.of(this).formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: props.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    const settle = new Wait(this, 'SettleBeforeGuard', {
      time: WaitTime.duration(Duration.seconds(GUARD_SETTLE_SECONDS)),
    });
    const listRunning = new CallAwsService(this, 'ListRunningExecutions', {
      service: 'sfn',
      action: 'listExecutions',
      iamAction: 'states:ListExecutions',
      iamResources: [stateMachineArn],
      parameters: {
        StateMachineArn: JsonPath.stringAt('$$.StateMachine.Id'),
        StatusFilter: 'RUNNING',
        MaxResults: 1000,
      },
      resultSelector: { running: JsonPath.listAt('$.Executions[*].ExecutionArn') },
      resultPath: '$.guard',
    });
    // The Scheduler does not retry a slot whose StartExecution succeeded: retry here instead.
    listRunning.addRetry({
      errors: ['States.TaskFailed'],
      interval: Duration.seconds(GUARD_RETRY.intervalSeconds),
      maxAttempts: GUARD_RETRY.maxAttempts,
      backoffRate: GUARD_RETRY.backoffRate,
      jitterStrategy: JitterType.FULL,
    });
    const pickOldest = new Pass(this, 'PickOldestRun', {
      parameters: {
        // The listing is newest first: its last element is the oldest running execution.
        'oldest.$':
          'States.ArrayGetItem($.guard.running, States.MathAdd(States.ArrayLength($.guard.running), -1))',
        self: JsonPath.stringAt('$$.Execution.Id'),
        // Merged into the plan's input: this execution takes the load id's lease.
        owner: { executionId: JsonPath.stringAt('$$.Execution.Id') },
      },
      resultPath: '$.guard',
    });
    const inProgress = new Fail(this, 'AnotherRunInProgress', {
      error: RUN_IN_PROGRESS_ERROR,
      cause: 'An earlier run of this schedule is still running; this run was skipped.',
    });
    const inconclusive = new Fail(this, 'GuardInconclusive', {
      error: GUARD_INCONCLUSIVE_ERROR,
      cause: 'ListExecutions did not show this execution; skipped rather than risk two runs at once.',
    });

    // The plan reads the original Scheduler input, plus the execution that takes the load id's lease.
    // Every Lambda task is bounded by its function's timeout (plus slack): without
    // TimeoutSeconds a task whose invocation is lost would wait for the whole run's timeout.
    const taskTimeout = (fn: IFunction) =>
      Timeout.duration(
        Duration.seconds(
          ((fn as { timeout?: Duration }).timeout ?? Duration.minutes(15)).toSeconds() +
            TASK_TIMEOUT_SLACK_SECONDS,
        ),
      );
    const plan = withRetries(
      new LambdaInvoke(this, 'Plan', {
        lambdaFunction: props.plan,
        payload: TaskInput.fromJsonPathAt(
          JsonPath.jsonMerge(JsonPath.objectAt('$$.Execution.Input'), JsonPath.objectAt('$.guard.owner')),
        ),
        outputPath: '$.Payload',
        retryOnServiceExceptions: false,
        taskTimeout: taskTimeout(props.plan),
      }),
      'final',
    );

    // The execution, for the redrive guard of load-batch and commit (lambdas/core/run-guard.ts).
    const run = {
      execution: JsonPath.stringAt('$$.Execution.Id'),
      stateMachine: JsonPath.stringAt('$$.StateMachine.Id'),
      redriveCount: JsonPath.numberAt('$$.Execution.RedriveCount'),
    };
    const loadBatch = withRetries(
      new LambdaInvoke(this, 'LoadBatch', {
        lambdaFunction: props.loadBatch,
        // `run` is the parent's (the Map's ItemSelector); a redriven child execution keeps its
        // original input, so its own redrive count is passed too.
        payload: TaskInput.fromObject({
          loadId: JsonPath.stringAt('$.loadId'),
          batch: JsonPath.numberAt('$.batch'),
          run: JsonPath.objectAt('$.run'),
          childRedriveCount: JsonPath.numberAt('$$.Execution.RedriveCount'),
        }),
        // A 7-byte per-item result (not systemic, see below): the Map gathers every item's output,
        // and must stay under the 256 KiB state limit. Manifests in S3 carry the rest.
        resultSelector: { s: 0 },
        retryOnServiceExceptions: false,
        taskTimeout: taskTimeout(props.loadBatch),
      }),
      'final',
      SYSTEMIC_ERRORS.filter((e) => !(TRANSIENT_SYSTEMIC_ERRORS as readonly string[]).includes(e)),
      { errors: TRANSIENT_SYSTEMIC_ERRORS, ...UNAVAILABLE_RETRY },
    );
    // A systemic batch must stop the run, but a failed Map item only counts toward the tolerated
    // failures (the Map would go on to commit). So the item catches it and succeeds with a mark:
    // every item's result is `{"s": 0}`, a systemic one's `{"s": 1}`; after the Map the run fails
    // with the cause the batch left in the load's staging (lambdas/core/systemic-cause.ts). A
    // constant 7 bytes per batch keep the Map's result under its 256 KiB limit up to ~30,000
    // batches whatever fails (a cause per item overflowed it at about 800 failing batches).
    const systemicMark = new Pass(this, 'MarkSystemicBatch', { parameters: { s: 1 } });
    loadBatch.addCatch(systemicMark, {
      errors: [...SYSTEMIC_ERRORS],
      resultPath: '$.failure',
    });
    const loadBatches = new DistributedMap(this, 'LoadBatches', {
      // The batches are the plan's item file in S3, not its output: no 256 KiB payload limit.
      // By path, so CDK adds no bucket-wide read; the grant below covers staging only.
      itemReader: new S3JsonItemReader({
        bucketNamePath: JsonPath.stringAt('$.itemsBucket'),
        key: JsonPath.stringAt('$.itemsKey'),
      }),
      // Evaluated in the parent's context: each item carries the parent execution.
      itemSelector: {
        loadId: JsonPath.stringAt('$$.Map.Item.Value.loadId'),
        batch: JsonPath.numberAt('$$.Map.Item.Value.batch'),
        run,
      },
      maxConcurrency: props.maxConcurrency,
      toleratedFailurePercentage: props.toleratedFailurePercentage,
      // Batches may run 15 minutes: longer than an express child workflow may live.
      mapExecutionType: StateMachineType.STANDARD,
      label: LOAD_BATCHES_LABEL,
      // Keep the plan result as the state for the commit, plus the batches' marks.
      resultPath: '$.batchMarks',
    });
    loadBatches.itemProcessor(loadBatch);
    // Intrinsics, not a filter: a JSONPath filter that matches nothing is a runtime error.
    const anySystemic = new Pass(this, 'CheckBatches', {
      parameters: { 'systemic.$': 'States.ArrayContains($.batchMarks[*].s, 1)' },
      resultPath: '$.outcome',
    });
    // The commit function reads the cause back (it commits nothing in this mode).
    const readCause = withRetries(
      new LambdaInvoke(this, 'ReadSystemicCause', {
        lambdaFunction: props.commit,
        payload: TaskInput.fromObject({ loadId: JsonPath.stringAt('$.loadId'), readSystemicCause: true }),
        resultSelector: { 'cause.$': '$.Payload.cause' },
        resultPath: '$.outcome',
        retryOnServiceExceptions: false,
        taskTimeout: taskTimeout(props.commit),
      }),
      'once',
    );
    const systemicFailure = new Fail(this, 'LoadCannotWork', {
      error: SYSTEMIC_FAILURE_ERROR,
      causePath: JsonPath.stringAt('$.outcome.cause'),
    });
    // Still the run's error, with the one cause the lake could not give back.
    readCause.addCatch(
      new Fail(this, 'LoadCannotWorkCauseUnread', {
        error: SYSTEMIC_FAILURE_ERROR,
        cause: UNREAD_SYSTEMIC_CAUSE,
      }),
      { errors: ['States.ALL'] },
    );

    // The commit's metrics are dimensioned by schedule: the execution's input names it, so an
    // unreadable plan cannot move them under a Schedule no alarm watches. The whole input, not
    // `.schedule`: a path to a missing field fails the run, and a run started by hand may lack it.
    const runInput = JsonPath.objectAt('$$.Execution.Input');
    // The schedule's own selection, a literal: a run's input may narrow it (docs/deploy.md).
    const selection =
      props.scheduleSelection === undefined
        ? {}
        : {
            scheduleSelection: {
              users: props.scheduleSelection.users,
              ...(props.scheduleSelection.resources === undefined
                ? {}
                : { resources: [...props.scheduleSelection.resources] }),
            },
          };
    const commit = withRetries(
      new LambdaInvoke(this, 'Commit', {
        lambdaFunction: props.commit,
        payload: TaskInput.fromObject({ loadId: JsonPath.stringAt('$.loadId'), run, runInput, ...selection }),
        outputPath: '$.Payload',
        retryOnServiceExceptions: false,
        taskTimeout: taskTimeout(props.commit),
      }),
      'once',
    );

    // The merge fanned out (lambdas/core/merge-fan-out.ts). The common load is one Commit task;
    // one whose merge the commit estimates longer than its invocation can afford comes back with
    // the merges handed off: the schema is settled and the Glue tables synced, nothing published.
    // A Map item per (table, partition) merges it with the commit function (a partition too large
    // for one invocation is several items, one per slice of its parts), then the commit runs
    // again, finds every partition merged and publishes. Items are keys (an S3 item file), not
    // data, so the 256 KiB state limit holds whatever the partitions.
    const mergeGroup = withRetries(
      new LambdaInvoke(this, 'MergeGroup', {
        lambdaFunction: props.commit,
        payload: TaskInput.fromObject({
          loadId: JsonPath.stringAt('$.loadId'),
          mergeGroup: {
            table: JsonPath.stringAt('$.table'),
            dt: JsonPath.stringAt('$.dt'),
            slice: JsonPath.numberAt('$.slice'),
          },
          run: JsonPath.objectAt('$.run'),
          childRedriveCount: JsonPath.numberAt('$$.Execution.RedriveCount'),
        }),
        // Constant, like the batches' marks: the Map gathers every item's result.
        resultSelector: { m: 0 },
        retryOnServiceExceptions: false,
        taskTimeout: taskTimeout(props.commit),
      }),
      // A merge item writes only its slice's staged files, the record last: re-runnable,
      // so a crashed or timed-out item is retried like the commit.
      'once',
    );
    const mergeGroups = new DistributedMap(this, 'MergeGroups', {
      itemReader: new S3JsonItemReader({
        bucketNamePath: JsonPath.stringAt('$.mergeFanOut.itemsBucket'),
        key: JsonPath.stringAt('$.mergeFanOut.itemsKey'),
      }),
      itemSelector: {
        loadId: JsonPath.stringAt('$$.Map.Item.Value.loadId'),
        table: JsonPath.stringAt('$$.Map.Item.Value.table'),
        dt: JsonPath.stringAt('$$.Map.Item.Value.dt'),
        slice: JsonPath.numberAt('$$.Map.Item.Value.slice'),
        run,
      },
      maxConcurrency: MERGE_MAX_CONCURRENCY,
      // Every partition merged or none published: a failed item fails the run (redrive re-runs it).
      toleratedFailurePercentage: 0,
      mapExecutionType: StateMachineType.STANDARD,
      label: MERGE_GROUPS_LABEL,
      // The state stays the commit's hand-off (its load id) for the commit after the Map.
      resultPath: JsonPath.DISCARD,
    });
    mergeGroups.itemProcessor(mergeGroup);
    const commitAfterMerge = withRetries(
      new LambdaInvoke(this, 'CommitMerged', {
        lambdaFunction: props.commit,
        payload: TaskInput.fromObject({
          loadId: JsonPath.stringAt('$.loadId'),
          run,
          runInput,
          ...selection,
          afterMerge: true,
        }),
        outputPath: '$.Payload',
        retryOnServiceExceptions: false,
        taskTimeout: taskTimeout(props.commit),
      }),
      'once',
    );
    const committed = commit.next(
      new Choice(this, 'MergeHandedOff')
        .when(Condition.isPresent('$.mergeFanOut'), mergeGroups.next(commitAfterMerge))
        .otherwise(new Succeed(this, 'Committed')),
    );

    // A run with no batch (a `changed` run with no new webhook event) has nothing to load: it ends
    // here, successfully, with the plan's result as its output (`users: 0`, `nothingToLoad`).
    // Without this an empty Map's results (`[]`) fail CheckBatches (a path into an empty list is
    // a runtime error). `batches` is always in the plan's result (a Choice on a missing path fails).
    const nothingToLoad = new Succeed(this, 'NothingToLoad', {
      comment:
        'No user to load (a changed run: no webhook event since the last committed load of this schedule)',
    });
    const load = plan.next(
      new Choice(this, 'AnythingToLoad')
        .when(Condition.numberEquals('$.batches', 0), nothingToLoad)
        .otherwise(
          loadBatches
            .next(anySystemic)
            .next(
              new Choice(this, 'AnyBatchSystemic')
                .when(Condition.booleanEquals('$.outcome.systemic', true), readCause.next(systemicFailure))
                .otherwise(committed),
            ),
        ),
    );
    const definition = settle
      .next(listRunning)
      .next(
        new Choice(this, 'SeesItselfRunning')
          .when(
            Condition.isPresent('$.guard.running[0]'),
            pickOldest.next(
              new Choice(this, 'IsOldestRun')
                .when(Condition.stringEqualsJsonPath('$.guard.oldest', '$.guard.self'), load)
                .otherwise(inProgress),
            ),
          )
          .otherwise(inconclusive),
      );

    this.logGroup = new LogGroup(this, 'Logs', {
      // The vendedlogs prefix keeps CloudWatch's resource policy small however many machines log.
      // The group is retained, so its name carries the stack id's unique part: a redeploy after
      // `cdk destroy` creates a new group instead of colliding with the kept one.
      logGroupName: Fn.join('', [
        `/aws/vendedlogs/states/${props.stateMachineName}-`,
        Fn.select(2, Fn.split('/', Aws.STACK_ID)),
      ]),
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(definition),
      timeout: props.runTimeout,
      tracingEnabled: props.tracing,
      // Execution data stays out of the logs; the execution history keeps it for 90 days.
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
      comment:
        'PayLink lake load: run guard, plan, load batches (Distributed Map), commit (merges fanned out when large)',
    });
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        sid: 'MapItemFile',
        actions: ['s3:GetObject'],
        resources: [props.lake.bucket.arnForObjects(`${props.lake.prefix}/_staging/*`)],
      }),
    );
  }
}
