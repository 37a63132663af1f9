/**
 * The contract between the state machine (infra) and the Lambda handlers: event and result
 * shapes, and the environment each handler reads. Kept free of runtime imports so infra can
 * import it without pulling handler code into the CDK app.
 */

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
} as const;

/** Input of the state machine (sent by EventBridge Scheduler) and of the plan handler. */
export interface PlanEvent {
  /** Schedule name from the stack config. */
  readonly schedule: string;
  /** The slot's scheduled time (`<aws.scheduler.scheduled-time>`): the load id derives from it, so a retried slot re-uses its load id. */
  readonly scheduledTime: string;
  /** Resource tables to load; omitted = the defaults. */
  readonly resources?: readonly string[];
}

export interface BatchRef {
  readonly loadId: string;
  readonly batch: number;
}

export interface PlanResult {
  readonly loadId: string;
  readonly users: number;
  /** Items of the Distributed Map (small: one per batch). */
  readonly batches: readonly BatchRef[];
}

/** Input of load-batch: one Distributed Map item. */
export type LoadBatchEvent = BatchRef;

export interface LoadBatchResult {
  readonly loadId: string;
  readonly batch: number;
  readonly users: number;
  readonly failedUsers: number;
  readonly rows: number;
}

/** Input of commit: the plan's load id (the Map's results are not needed: batch manifests are in S3). */
export interface CommitEvent {
  readonly loadId: string;
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
