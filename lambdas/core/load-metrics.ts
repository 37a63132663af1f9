/**
 * The metrics a load reports (CloudWatch embedded metric format, written by the handlers with
 * Powertools Metrics), built from what the core returns: the plan's sizing, a batch's manifest,
 * the commit's marker and the quality signals (quality.ts). Pure: the handlers add the
 * dimensions they know (stack, schedule) and write them.
 *
 * Dimensions stay low-cardinality: stack, schedule, table and error code. A load id, a batch
 * number or a user identifier is never a dimension (each value would be a metric of its own);
 * the load id travels as an EMF property (`loadId`) and in the log lines.
 */
import type { LoadSignals } from './quality.ts';
import type { RequestCounts } from './request-minutes.ts';

/** The CloudWatch namespace of every loader metric (the plan's over-deadline filter's too). */
export const METRICS_NAMESPACE = 'PayLinkLoader';

/** Dimension names. */
export const DIM = {
  stack: 'Stack',
  schedule: 'Schedule',
  table: 'Table',
  errorCode: 'ErrorCode',
} as const;

/** Metric names, as the stack's alarms and dashboard name them. */
export const METRIC = {
  // plan
  plannedUsers: 'PlannedUsers',
  plannedBatches: 'PlannedBatches',
  plannedRequests: 'PlannedRequests',
  expectedRunSeconds: 'ExpectedRunSeconds',
  /**
   * A `changed` run: users with new webhook events its cap (`maxUsersPerRun`) left for the next
   * run, and their events. 0 on every changed run that took all; none on an `all` run.
   */
  changedUsersDeferred: 'ChangedUsersDeferred',
  changedEventsDeferred: 'ChangedEventsDeferred',
  // load-batch
  batchUsers: 'BatchUsers',
  batchFailedUsers: 'BatchFailedUsers',
  deadlineSkippedUsers: 'DeadlineSkippedUsers',
  requests: 'Requests',
  /** Per wall-clock minute, timestamped at it, published as the batch goes (`requestMetrics`). */
  retries: 'Retries',
  /** Responses answered 429, per wall-clock minute like Retries. */
  rateLimited: 'RateLimitedResponses',
  /**
   * Requests sent to PayLink (every attempt: what the rate limiter paces), per wall-clock
   * minute, each datapoint timestamped at its minute: summed over a period and divided by it,
   * the stack's true request rate (request-minutes.ts).
   */
  requestsSent: 'RequestsSent',
  batchRows: 'BatchRows',
  batchFiles: 'BatchFiles',
  batchBytes: 'BatchBytes',
  batchSeconds: 'BatchSeconds',
  deadlineHeadroomSeconds: 'DeadlineHeadroomSeconds',
  /**
   * Per ErrorCode: failed users, each once under its primary code (load-batch.ts
   * `primaryFailureCode`), from the batches and, for users no batch counted, the commit.
   */
  failedUsersByCode: 'FailedUsers',
  // commit
  loadUsers: 'LoadUsers',
  loadFailedUsers: 'LoadFailedUsers',
  failedUserShare: 'FailedUserShare',
  loadRows: 'LoadRows',
  loadFiles: 'LoadFiles',
  loadBytes: 'LoadBytes',
  schemaChanges: 'SchemaChanges',
  missingBatches: 'MissingBatches',
  endpointUnavailable: 'EndpointUnavailable',
  runSeconds: 'RunSeconds',
  commitSeconds: 'CommitSeconds',
  /** Per Table. */
  tableRows: 'Rows',
  /** Per Table: files and bytes the load published. */
  tableFiles: 'Files',
  tableBytes: 'Bytes',
  /** Per Table: rows / trailing median (quality.ts). */
  rowsToTrailingMedian: 'RowsToTrailingMedian',
  /** The smallest RowsToTrailingMedian of the load: the quiet-feed alarm's metric. */
  lowestRowsToTrailingMedian: 'LowestRowsToTrailingMedian',
  /**
   * 1 when the commit could not read the earlier loads (no quiet-feed judgement, hence no
   * LowestRowsToTrailingMedian) or a report it may have compared with (judged with the readable
   * ones, incomplete), else 0: alarmed, so a lost signal is not a silent one.
   */
  trailingLoadsUnreadable: 'TrailingLoadsUnreadable',
  /**
   * Webhook events the load committed whose task field named no task id (their
   * `webhook_events.task_id_problem` is set): their users were loaded, no task was fetched.
   */
  taskIdProblemEvents: 'TaskIdProblemEvents',
} as const;

/** Powertools MetricUnit values used here. */
export type MetricUnitName = 'Count' | 'Seconds' | 'Bytes' | 'Percent' | 'None';

export interface MetricPoint {
  readonly name: string;
  readonly unit: MetricUnitName;
  readonly value: number;
}

/** Points sharing one set of extra dimensions (beyond stack and schedule): one EMF record. */
export interface MetricGroup {
  readonly dimensions: Readonly<Record<string, string>>;
  readonly points: readonly MetricPoint[];
  /** When the points happened (ms since the epoch); absent: when the record is written. */
  readonly timestamp?: number;
}

const count = (name: string, value: number): MetricPoint => ({ name, unit: 'Count', value });
const seconds = (name: string, value: number): MetricPoint => ({ name, unit: 'Seconds', value });

export function planMetrics(plan: {
  readonly users: number;
  readonly batches: number;
  readonly requests: number;
  readonly expectedSeconds: number;
  /** A `changed` run only (a re-run's users are fixed: none). */
  readonly changedUsersDeferred?: number;
  readonly changedEventsDeferred?: number;
}): MetricGroup[] {
  return [
    {
      dimensions: {},
      points: [
        count(METRIC.plannedUsers, plan.users),
        count(METRIC.plannedBatches, plan.batches),
        count(METRIC.plannedRequests, plan.requests),
        seconds(METRIC.expectedRunSeconds, plan.expectedSeconds),
        ...(plan.changedUsersDeferred === undefined
          ? []
          : [
              count(METRIC.changedUsersDeferred, plan.changedUsersDeferred),
              count(METRIC.changedEventsDeferred, plan.changedEventsDeferred ?? 0),
            ]),
      ],
    },
  ];
}

export interface BatchFigures {
  readonly users: number;
  readonly failedUsers: number;
  readonly deadlineSkipped: number;
  readonly rows: number;
  readonly files: number;
  readonly bytes: number;
  readonly requests: number;
  /** The batch's retries and 429s (its log line; their metrics are per minute, `requestMetrics`). */
  readonly retries: number;
  /** Responses answered 429 (each attempt counts). */
  readonly rateLimited: number;
  readonly seconds: number;
  /** Time left before the Lambda's deadline when the batch was staged; undefined outside Lambda. */
  readonly headroomSeconds: number | undefined;
  /** Failed users, each once, by its primary error code (load-batch.ts `primaryFailureCode`). */
  readonly failedUsersByCode: Readonly<Record<string, number>>;
}

export function batchMetrics(batch: BatchFigures): MetricGroup[] {
  const points = [
    count(METRIC.batchUsers, batch.users),
    count(METRIC.batchFailedUsers, batch.failedUsers),
    count(METRIC.deadlineSkippedUsers, batch.deadlineSkipped),
    count(METRIC.requests, batch.requests),
    count(METRIC.batchRows, batch.rows),
    count(METRIC.batchFiles, batch.files),
    { name: METRIC.batchBytes, unit: 'Bytes', value: batch.bytes } as const,
    seconds(METRIC.batchSeconds, batch.seconds),
    ...(batch.headroomSeconds === undefined
      ? []
      : [seconds(METRIC.deadlineHeadroomSeconds, batch.headroomSeconds)]),
  ];
  return [
    { dimensions: {}, points },
    ...Object.entries(batch.failedUsersByCode)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([code, users]) => ({
        dimensions: { [DIM.errorCode]: code },
        points: [count(METRIC.failedUsersByCode, users)],
      })),
  ];
}

/**
 * One record per minute, timestamped at it: requests sent, retries and 429s of that minute
 * (request-minutes.ts). The batch publishes them as its minutes end and the rest at its end.
 */
export function requestMetrics(minutes: Readonly<Record<string, RequestCounts>>): MetricGroup[] {
  return Object.entries(minutes)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([minute, c]) => ({
      dimensions: {},
      points: [
        count(METRIC.requestsSent, c.sent),
        count(METRIC.retries, c.retries),
        count(METRIC.rateLimited, c.rateLimited),
      ],
      timestamp: Date.parse(minute),
    }));
}

/** What the commit's report needs from its load marker (lambdas/core/commit.ts LoadMarker). */
export interface CommittedLoad {
  readonly users: number;
  readonly failedUserCount: number;
  readonly requests: number;
  readonly rowsByTable: Readonly<Record<string, number>>;
  readonly files: readonly { readonly table: string; readonly bytes: number }[];
  readonly schemaChanges: readonly unknown[];
  readonly missingBatches: readonly unknown[];
  /** Failed users the batches did not count (settled at commit, missing batches), by code. */
  readonly failedAtCommitByCode?: Readonly<Record<string, number>>;
  /** The webhook events it committed (event-claims.ts MarkerEvents). */
  readonly events?: { readonly taskIdProblemEvents?: number };
}

export interface TableFigures {
  readonly table: string;
  readonly rows: number;
  readonly files: number;
  readonly bytes: number;
  /** Feed tables judged against their trailing median (quality.ts) only. */
  readonly trailingMedian?: number;
  readonly rowsToTrailingMedian?: number;
}

/**
 * The commit's figures of a load: its `committed` log line and its metrics (`commitMetrics`)
 * are both this object, so a number in the log and the metric of the same name cannot differ.
 * Rows are every table's the load published (`user_loads` included), as in its `_dlt_loads`
 * row and in `status`; per table they add up to the load's.
 */
export interface CommitFigures {
  readonly users: number;
  readonly failedUsers: number;
  readonly failedUserSharePercent: number;
  /**
   * False when the load had too few users for its share to be judged (quality.ts
   * `failedShareJudged`): no FailedUserShare datapoint, so the alarm keeps its state.
   */
  readonly failedUserShareJudged?: boolean;
  readonly requests: number;
  readonly rows: number;
  readonly files: number;
  readonly bytes: number;
  readonly schemaChanges: number;
  readonly missingBatches: number;
  /** Resources the load disabled after an endpoint finding. */
  readonly endpointUnavailable: readonly string[];
  readonly runSeconds: number;
  readonly commitSeconds: number;
  /** Earlier loads of its series the trailing medians were taken over. */
  readonly trailingLoads: number;
  /** The earlier loads could not be read: no table was judged. */
  readonly trailingLoadsUnreadable: boolean;
  readonly quietTables: readonly string[];
  readonly lowestRowsToTrailingMedian?: number;
  /**
   * FailedUsers by ErrorCode the commit writes: users no batch counted (a unit the commit
   * settled, a missing batch). With the batches' FailedUsers they add up to failedUsers.
   */
  readonly failedAtCommitByCode: Readonly<Record<string, number>>;
  /**
   * Webhook events committed with the load whose task field named no task id (MarkerEvents):
   * the same count as `load`'s summary (`taskIdProblemEvents`), 0 when it committed none.
   */
  readonly taskIdProblemEvents: number;
  readonly tables: readonly TableFigures[];
}

export function commitFigures(
  load: CommittedLoad,
  signals: LoadSignals,
  timing: {
    readonly commitSeconds: number;
    readonly trailingLoads: number;
    readonly trailingLoadsUnreadable?: boolean;
  },
): CommitFigures {
  const trends = new Map(signals.tables.map((t) => [t.table, t]));
  const names = [...new Set([...Object.keys(load.rowsByTable), ...trends.keys()])].sort();
  const tables = names.map((table): TableFigures => {
    const trend = trends.get(table);
    const files = load.files.filter((f) => f.table === table);
    return {
      table,
      rows: load.rowsByTable[table] ?? 0,
      files: files.length,
      bytes: files.reduce((sum, f) => sum + f.bytes, 0),
      ...(trend?.trailingMedian === undefined ? {} : { trailingMedian: trend.trailingMedian }),
      ...(trend?.ratio === undefined ? {} : { rowsToTrailingMedian: trend.ratio }),
    };
  });
  return {
    users: load.users,
    failedUsers: load.failedUserCount,
    failedUserSharePercent: signals.failedUserSharePercent,
    failedUserShareJudged: signals.failedUserShareJudged,
    requests: load.requests,
    rows: tables.reduce((sum, t) => sum + t.rows, 0),
    files: load.files.length,
    bytes: load.files.reduce((sum, f) => sum + f.bytes, 0),
    schemaChanges: load.schemaChanges.length,
    missingBatches: load.missingBatches.length,
    endpointUnavailable: signals.endpointUnavailable,
    runSeconds: signals.runSeconds,
    commitSeconds: timing.commitSeconds,
    trailingLoads: timing.trailingLoads,
    trailingLoadsUnreadable: timing.trailingLoadsUnreadable ?? false,
    quietTables: signals.quietTables,
    ...(signals.lowestRatio === undefined ? {} : { lowestRowsToTrailingMedian: signals.lowestRatio }),
    failedAtCommitByCode: load.failedAtCommitByCode ?? {},
    taskIdProblemEvents: load.events?.taskIdProblemEvents ?? 0,
    tables,
  };
}

const ratio = (name: string, value: number): MetricPoint => ({ name, unit: 'None', value });

/**
 * `judgementSchedule`: the Schedule dimension of the judgement metrics (the data-quality alarms'
 * metrics, RunSeconds included) when not the run's own (quality.ts `judgementScheduleOf`); the
 * counts and the other timings stay under the run's schedule.
 */
export function commitMetrics(load: CommitFigures, judgementSchedule?: string): MetricGroup[] {
  const judgement: MetricPoint[] = [
    // One rule with status's flag: a load of too few users writes no share for the alarm.
    ...(load.failedUserShareJudged === false
      ? []
      : [{ name: METRIC.failedUserShare, unit: 'Percent' as const, value: load.failedUserSharePercent }]),
    count(METRIC.endpointUnavailable, load.endpointUnavailable.length),
    count(METRIC.trailingLoadsUnreadable, load.trailingLoadsUnreadable ? 1 : 0),
    // RunOutsideWindow's metric: a run started by hand (a subset, or an old slot's scheduledTime)
    // must neither raise nor clear the schedule's window alarm.
    seconds(METRIC.runSeconds, load.runSeconds),
    ...(load.lowestRowsToTrailingMedian === undefined
      ? []
      : [ratio(METRIC.lowestRowsToTrailingMedian, load.lowestRowsToTrailingMedian)]),
  ];
  const judgedUnder: Readonly<Record<string, string>> =
    judgementSchedule === undefined ? {} : { [DIM.schedule]: judgementSchedule };
  const own = judgementSchedule === undefined;
  const tableRatio = (t: TableFigures) =>
    t.rowsToTrailingMedian === undefined ? [] : [ratio(METRIC.rowsToTrailingMedian, t.rowsToTrailingMedian)];
  return [
    {
      dimensions: {},
      points: [
        count(METRIC.loadUsers, load.users),
        count(METRIC.loadFailedUsers, load.failedUsers),
        count(METRIC.loadRows, load.rows),
        count(METRIC.loadFiles, load.files),
        { name: METRIC.loadBytes, unit: 'Bytes', value: load.bytes },
        count(METRIC.schemaChanges, load.schemaChanges),
        count(METRIC.missingBatches, load.missingBatches),
        seconds(METRIC.commitSeconds, load.commitSeconds),
        count(METRIC.taskIdProblemEvents, load.taskIdProblemEvents),
        ...(own ? judgement : []),
      ],
    },
    ...(own ? [] : [{ dimensions: judgedUnder, points: judgement }]),
    ...Object.entries(load.failedAtCommitByCode)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([code, users]) => ({
        dimensions: { [DIM.errorCode]: code },
        points: [count(METRIC.failedUsersByCode, users)],
      })),
    ...load.tables.map((t) => ({
      dimensions: { [DIM.table]: t.table },
      points: [
        count(METRIC.tableRows, t.rows),
        count(METRIC.tableFiles, t.files),
        { name: METRIC.tableBytes, unit: 'Bytes', value: t.bytes } as const,
        ...(own ? tableRatio(t) : []),
      ],
    })),
    ...(own
      ? []
      : load.tables
          .filter((t) => tableRatio(t).length > 0)
          .map((t) => ({ dimensions: { ...judgedUnder, [DIM.table]: t.table }, points: tableRatio(t) }))),
  ];
}
