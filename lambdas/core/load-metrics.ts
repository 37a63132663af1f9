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
  // load-batch
  batchUsers: 'BatchUsers',
  batchFailedUsers: 'BatchFailedUsers',
  deadlineSkippedUsers: 'DeadlineSkippedUsers',
  requests: 'Requests',
  retries: 'Retries',
  rateLimited: 'RateLimitedResponses',
  batchRows: 'BatchRows',
  batchFiles: 'BatchFiles',
  batchBytes: 'BatchBytes',
  batchSeconds: 'BatchSeconds',
  deadlineHeadroomSeconds: 'DeadlineHeadroomSeconds',
  /** Per ErrorCode: users of a batch with a failed unit of that code. */
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
}

const count = (name: string, value: number): MetricPoint => ({ name, unit: 'Count', value });
const seconds = (name: string, value: number): MetricPoint => ({ name, unit: 'Seconds', value });

export function planMetrics(plan: {
  readonly users: number;
  readonly batches: number;
  readonly requests: number;
  readonly expectedSeconds: number;
}): MetricGroup[] {
  return [
    {
      dimensions: {},
      points: [
        count(METRIC.plannedUsers, plan.users),
        count(METRIC.plannedBatches, plan.batches),
        count(METRIC.plannedRequests, plan.requests),
        seconds(METRIC.expectedRunSeconds, plan.expectedSeconds),
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
  readonly retries: number;
  /** Responses answered 429 (each attempt counts). */
  readonly rateLimited: number;
  readonly seconds: number;
  /** Time left before the Lambda's deadline when the batch was staged; undefined outside Lambda. */
  readonly headroomSeconds: number | undefined;
  /** Users with a failed unit, by that unit's error code (a user counts once per code). */
  readonly failedUsersByCode: Readonly<Record<string, number>>;
}

export function batchMetrics(batch: BatchFigures): MetricGroup[] {
  const points = [
    count(METRIC.batchUsers, batch.users),
    count(METRIC.batchFailedUsers, batch.failedUsers),
    count(METRIC.deadlineSkippedUsers, batch.deadlineSkipped),
    count(METRIC.requests, batch.requests),
    count(METRIC.retries, batch.retries),
    count(METRIC.rateLimited, batch.rateLimited),
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

export interface CommitFigures {
  readonly users: number;
  readonly failedUsers: number;
  readonly files: number;
  readonly bytes: number;
  readonly schemaChanges: number;
  readonly missingBatches: number;
  readonly commitSeconds: number;
  /** The published files (the marker's `files`): counted and sized per table. */
  readonly filesOf: readonly { readonly table: string; readonly bytes: number }[];
}

export function commitMetrics(load: CommitFigures, signals: LoadSignals): MetricGroup[] {
  const rows = signals.tables.reduce((sum, t) => sum + t.rows, 0);
  return [
    {
      dimensions: {},
      points: [
        count(METRIC.loadUsers, load.users),
        count(METRIC.loadFailedUsers, load.failedUsers),
        { name: METRIC.failedUserShare, unit: 'Percent', value: signals.failedUserSharePercent },
        count(METRIC.loadRows, rows),
        count(METRIC.loadFiles, load.files),
        { name: METRIC.loadBytes, unit: 'Bytes', value: load.bytes },
        count(METRIC.schemaChanges, load.schemaChanges),
        count(METRIC.missingBatches, load.missingBatches),
        count(METRIC.endpointUnavailable, signals.endpointUnavailable.length),
        seconds(METRIC.runSeconds, signals.runSeconds),
        seconds(METRIC.commitSeconds, load.commitSeconds),
        ...(signals.lowestRatio === undefined
          ? []
          : [{ name: METRIC.lowestRowsToTrailingMedian, unit: 'None', value: signals.lowestRatio } as const]),
      ],
    },
    ...signals.tables.map((t) => ({
      dimensions: { [DIM.table]: t.table },
      points: [
        count(METRIC.tableRows, t.rows),
        count(METRIC.tableFiles, load.filesOf.filter((f) => f.table === t.table).length),
        {
          name: METRIC.tableBytes,
          unit: 'Bytes',
          value: load.filesOf.reduce((sum, f) => sum + (f.table === t.table ? f.bytes : 0), 0),
        } as const,
        ...(t.ratio === undefined
          ? []
          : [{ name: METRIC.rowsToTrailingMedian, unit: 'None', value: t.ratio } as const]),
      ],
    })),
  ];
}
