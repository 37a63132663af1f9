/**
 * The contract between the state machine (infra) and the Lambda handlers: event and result
 * shapes, and the environment each handler reads. Kept free of runtime imports so infra can
 * import it without pulling handler code into the CDK app.
 */
import type { RunRef } from '#core/run-guard.ts';

/**
 * Time load-batch keeps back from its Lambda deadline: users in flight finish their requests
 * (each bounded by the HTTP request budget) and the parts and manifest are written. The plan
 * sizes batches to the timeout less this (lambdas/core/capacity.ts).
 */
export const BATCH_DEADLINE_MARGIN_SECONDS = 120;

/**
 * The `event` of the plan's log line when the run is not expected to finish before the next
 * one; the stack's metric filter on the plan's log group counts it and an alarm fires.
 */
export const OVER_DEADLINE_EVENT = 'plan_over_deadline';

/**
 * The plan's log line when a `changed` run's cap (`maxUsersPerRun`) left users with new events
 * for the next run: how many users and events. Information, not a warning: the next run takes
 * them first. The ChangedUsersDeferred metric carries the count.
 */
export const CHANGED_DEFERRED_EVENT = 'changed_users_deferred';

/**
 * The `event` of the plan's log line when a `changed` run has no user to load (no webhook event
 * since the schedule's last committed load): the run ends there, successfully.
 */
export const NOTHING_TO_LOAD_EVENT = 'nothing_to_load';

/**
 * The plan's warning when users learned from webhook events (a `changed` run's, or those an `all`
 * run adds to the list) have identifiers that start or end with whitespace: loaded exactly as
 * written, so `user-1 ` is another user than `user-1`. Once per run, a count, never an identifier
 * (the CLI's loads warn alike on stderr).
 */
export const LEARNED_WHITESPACE_EVENT = 'learned_identifiers_whitespace';

/**
 * A `changed` run's plan found webhook events in `_events/` partitions dated more than a day
 * ahead (WARN, once per run, with counts): no run takes them before the day before their date
 * (the CLI's changed loads, `status` and `verify` say the same).
 */
export const EVENTS_HELD_BACK_EVENT = 'events_held_back';

/**
 * The over-deadline line is one bare JSON object on stdout (not console.log, which the Lambda
 * runtime wraps in its own JSON record), so a JSON metric filter can match `event` and take
 * these fields as the metric's dimensions: one metric per stack and schedule.
 */
export const OVER_DEADLINE_DIMENSIONS = { Stack: 'stack', Schedule: 'schedule' } as const;

/** Environment variable names set by the stack and read once per container by the handlers. */
export const HANDLER_ENV = {
  /** Lake bucket name. */
  bucket: 'LAKE_BUCKET',
  /** Key prefix of the lake inside the bucket (no leading/trailing slash; may be empty). */
  prefix: 'LAKE_PREFIX',
  /** ARN of the Secrets Manager secret holding {"api_key","api_secret"}. */
  secretArn: 'PAYLINK_SECRET_ARN',
  /** PayLink base URL. */
  baseUrl: 'PAYLINK_BASE_URL',
  /** Bucket and key of the users list object (one identifier per line) the operator maintains. */
  usersBucket: 'USERS_BUCKET',
  usersKey: 'USERS_KEY',
  /** Users per batch (plan). */
  batchSize: 'BATCH_SIZE',
  /** Requests/second one load-batch invocation may send (total rate / Map MaxConcurrency). */
  batchRequestRate: 'BATCH_REQUEST_RATE',
  /** Users processed at once inside one load-batch invocation. */
  userConcurrency: 'USER_CONCURRENCY',
  /** Glue database the commit keeps tables in (unset: no Glue updates, e.g. local runs). */
  glueDatabase: 'GLUE_DATABASE',
  /** Optional JSON of resource overrides (same shape as the CLI's --config file). */
  loaderConfig: 'PAYLINK_LOADER_CONFIG',
  /** JSON CapacitySettings (plan only): what the plan sizes batches and checks the schedule with. */
  capacity: 'PAYLINK_CAPACITY',
  /** The stack's name: the Stack dimension of every metric, so stacks in one account stay apart. */
  stackName: 'PAYLINK_STACK_NAME',
  /** Commit only: loads the trailing median of a table's rows is taken over (lambdas/core/quality.ts). */
  trailingLoads: 'PAYLINK_TRAILING_LOADS',
  /** Commit only: fewer earlier loads than this, no trailing median yet. */
  minTrailingLoads: 'PAYLINK_MIN_TRAILING_LOADS',
  /** Commit only: a table is quiet below this fraction of its trailing median (`dataQuality.quietFeedFraction`). */
  quietFraction: 'PAYLINK_QUIET_FRACTION',
  /** Commit only: a table is judged only when this many rows were expected (`dataQuality.minExpectedRows`). */
  minExpectedRows: 'PAYLINK_MIN_EXPECTED_ROWS',
  /** Commit only: the failed-user share is judged from this many users (`dataQuality.minUsersForFailedShare`). */
  minUsersForFailedShare: 'PAYLINK_MIN_USERS_FAILED_SHARE',
  /** Commit only: consecutive 404 loads that retire a registry task id (`retireTaskAfterMisses`). */
  retireTaskAfterMisses: 'PAYLINK_RETIRE_TASK_AFTER_MISSES',
  /**
   * Commit only, optional: the most estimated seconds of merging one commit invocation does
   * itself; a larger merge goes to the merge Map (lambdas/core/merge-fan-out.ts). Unset: a share
   * of the time the invocation has left. 0: every merge goes to the Map.
   */
  commitMergeSeconds: 'PAYLINK_COMMIT_MERGE_SECONDS',
} as const;

/**
 * How the plan sizes a run (lambdas/core/capacity.ts), set by the stack from its config.
 * `maxBatchSize` is the config's `batchSize`: the plan may cut smaller batches, never larger.
 */
export interface CapacitySettings {
  readonly requestRate: number;
  readonly maxConcurrency: number;
  readonly maxBatchSize: number;
  readonly batchTimeoutSeconds: number;
  readonly batchMarginSeconds: number;
  readonly commitSeconds: number;
  /** The commit Lambda's timeout (absent: core STACK_DEFAULTS), for the merge budget. */
  readonly commitTimeoutSeconds?: number;
  /** The stack's `commitMergeSeconds`, when set. */
  readonly commitMergeSeconds?: number;
  /** The merge Map's MaxConcurrency (absent: core STACK_DEFAULTS). */
  readonly mergeConcurrency?: number;
  /** The webhook receiver's reserved concurrency, out of the account's unreserved pool (absent: none). */
  readonly webhookReservedConcurrency?: number;
  readonly guardSeconds: number;
  /** Run deadline (state machine timeout) of each schedule, by schedule name. */
  readonly runDeadlineSeconds: Readonly<Record<string, number>>;
  /**
   * cdk.json's `maxUsersPerRun` of the `changed` schedules that set one, by schedule name; a
   * `changed` schedule without one is capped at what its run can afford (core/capacity.ts
   * `changedRunCap`).
   */
  readonly maxUsersPerRun?: Readonly<Record<string, number>>;
}

/** Input of the state machine (sent by EventBridge Scheduler) and of the plan handler. */
export interface PlanEvent {
  /** Schedule name from the stack config. */
  readonly schedule: string;
  /** The slot's scheduled time (`<aws.scheduler.scheduled-time>`): the load id derives from it, so a retried slot re-uses its load id. */
  readonly scheduledTime: string;
  /** Resource tables to load; omitted = the defaults. */
  readonly resources?: readonly string[];
  /**
   * `changed`: only the users with webhook events this schedule has not seen in a committed load
   * (lambdas/core/changed-users.ts), plus `tasks` for the task ids they name when `resources`
   * is omitted. Omitted or `all`: the users list and the users learned from webhooks.
   */
  readonly users?: 'all' | 'changed';
  /**
   * The Step Functions execution (ARN), added by the state machine: it takes the load id's
   * lease (core/lease.ts) for the whole run; a redrive is the same execution and keeps it.
   */
  readonly executionId?: string;
}

export interface BatchRef {
  readonly loadId: string;
  readonly batch: number;
}

/** The plan's sizing, in its output and logs: what an operator reads when the alarm fires. */
export interface PlanCapacity {
  readonly batchSize: number;
  readonly waves: number;
  readonly requestsPerUser: number;
  readonly requests: number;
  /** The commit to its commit point, its merge included (and the merge Map, when it hands off). */
  readonly commitSeconds: number;
  /** Whether the commit is expected to hand its merge to the merge Map. */
  readonly mergeHandOff: boolean;
  readonly expectedSeconds: number;
  readonly runDeadlineSeconds: number;
  readonly fits: boolean;
  /** Why the run is not expected to finish in time, with the numbers; absent when it fits. */
  readonly problem?: string;
  /** A `changed` run: the most users it loads (`maxUsersPerRun`, set or derived). */
  readonly maxUsersPerRun?: number;
  /** A `changed` run: users with new events (and their events) left for the next run by the cap. */
  readonly changedUsersDeferred?: number;
  readonly changedEventsDeferred?: number;
}

/**
 * Output of the plan task. Small whatever the user count: the batches are an S3 object (a JSON
 * array of BatchRef) the Distributed Map reads with its ItemReader, not part of this payload.
 */
export interface PlanResult {
  readonly loadId: string;
  readonly users: number;
  readonly batches: number;
  /** Bucket and key of the Map's item file. */
  readonly itemsBucket: string;
  readonly itemsKey: string;
  /** The sizing; absent when there is nothing to load. */
  readonly capacity?: PlanCapacity;
  /**
   * A `changed` run with no user to load: nothing was staged or locked, and the state machine
   * ends the run successfully without loading or committing (`NothingToLoad`).
   */
  readonly nothingToLoad?: true;
}

/**
 * Input of load-batch: one Distributed Map item, with the parent execution (`run`, set by the
 * Map's ItemSelector) and the child execution's own redrive count: a Map Run redrive redrives
 * failed child executions with their original input, so only their own count shows it.
 * Both optional: a direct invocation (tests, a manual run) skips the redrive guard.
 */
export interface LoadBatchEvent extends BatchRef {
  readonly run?: RunRef;
  readonly childRedriveCount?: number;
}

export interface LoadBatchResult {
  readonly loadId: string;
  readonly batch: number;
  readonly users: number;
  readonly failedUsers: number;
  readonly rows: number;
}

/** Input of commit: the plan's load id (the Map's results are not needed: batch manifests are in S3). */
/** A schedule's configured selection, as the stack defined it (PlanEvent's two fields). */
export interface ScheduleSelection {
  /** Omitted: the default resources. */
  readonly resources?: readonly string[];
  readonly users: 'all' | 'changed';
}

export interface CommitEvent {
  readonly loadId: string;
  /** The execution, for the redrive guard (optional: a direct invocation skips it). */
  readonly run?: RunRef;
  /**
   * Commit nothing: a batch found the load cannot work, and the run only needs that batch's
   * cause (lambdas/core/systemic-cause.ts) to fail with. Answers a SystemicCauseResult.
   */
  readonly readSystemicCause?: true;
  /**
   * The execution's input (a PlanEvent when EventBridge Scheduler started it), set by the state
   * machine: its `schedule` is the metrics' dimension.
   */
  readonly runInput?: { readonly schedule?: unknown };
  /**
   * The schedule's own selection (its cdk.json `resources` and `users`), set by the state
   * machine: a run started by hand with a narrower one (`"resources":["accounts"]`) is no load
   * of the schedule's series, and writes its judgement metrics under `<schedule>:manual`
   * (quality.ts MANUAL_SCHEDULE_SUFFIX), never under the dimension its alarms watch.
   */
  readonly scheduleSelection?: ScheduleSelection;
  /**
   * Set by the state machine on the commit after the merge Map: merge whatever is left here,
   * never hand off again (the run has no second Map).
   */
  readonly afterMerge?: true;
}

/**
 * Input of a merge Map item (the commit function in its merge mode): one (table, partition)
 * group the commit handed off, the parent execution and the child's own redrive count, as for
 * load-batch (LoadBatchEvent).
 */
export interface MergeGroupEvent {
  readonly loadId: string;
  /** `slice`: which slice of a partition too large for one item (absent in items of earlier releases: 0). */
  readonly mergeGroup: { readonly table: string; readonly dt: string; readonly slice?: number };
  readonly run?: RunRef;
  readonly childRedriveCount?: number;
}

/** A merge item's answer (the Map discards it: its state stays the commit's hand-off). */
export interface MergeGroupResult {
  readonly table: string;
  readonly dt: string;
  readonly slice: number;
  readonly outputs: number;
  readonly reused: boolean;
}

/**
 * The commit's answer when it handed its merge off instead of committing: the Map's item file
 * (bucket and key, as the load-batch Map's) and the figures of the decision.
 */
export interface MergeFanOutResult {
  readonly loadId: string;
  readonly mergeFanOut: {
    /** Map items: merges of a partition or of a slice of one. */
    readonly groups: number;
    readonly partitions: number;
    readonly rows: number;
    readonly bytes: number;
    readonly estimatedSeconds: number;
    readonly budgetSeconds: number;
    readonly itemsBucket: string;
    readonly itemsKey: string;
  };
}

/** The commit function's answer to `readSystemicCause`: one line, never a stack trace. */
export interface SystemicCauseResult {
  readonly cause: string;
}

export interface CommitResult {
  readonly loadId: string;
  readonly users: number;
  readonly failedUsers: number;
  readonly rows: number;
  readonly files: number;
  readonly schemaVersion: number;
  readonly schemaChanges: number;
}
