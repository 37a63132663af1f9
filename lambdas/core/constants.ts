/**
 * Defaults and limits, in one documented place. Config may override the ones marked
 * "default"; the others are properties of the lake format and never change.
 */
/**
 * Ranges shared by the stack's config (infra/config.ts) and the CLI's flags (cli/flag-ranges.ts),
 * so `load --batch-size` accepts what `batchSize` does.
 */
export const LIMITS = {
  /** Users per batch: one Lambda invocation's worth. */
  maxBatchSize: 100_000,
  /**
   * Requests/second of one run. Far above any PayLink quota we know of (20/s is the default);
   * a larger value is a typo, and would make the limiter's refill interval sub-0.1 ms.
   */
  maxRequestRate: 10_000,
} as const;

export const DEFAULTS = {
  /** PayLink sandbox; production is https://api.atomicfi.com. */
  baseUrl: 'https://sandbox-api.atomicfi.com',
  /** Users processed at once within a batch. */
  concurrency: 8,
  /** Client-side request rate, shared by every concurrent user (requests/second). */
  rateLimit: 20,
  /** Users per batch (one Lambda invocation in the deployed stack). */
  batchSize: 500,
  /**
   * Batches of a local run (the CLI) staging at once at most while the next one loads
   * (staging-window.ts): small batches stage slower than they load. Whatever this number, the
   * batches staging together hold at most one batch's buffered rows and bytes (`parquet`).
   */
  stagingBatches: 16,
  /**
   * A CLI run's lease on its load id lives this long without a heartbeat (renewed every third
   * of it): how long a crashed run on another host blocks a re-run of its load id. A crashed
   * run on the same host is detected at once (its process is gone).
   */
  leaseTtlMs: 120_000,
  http: {
    /** Per-attempt timeout. */
    timeoutMs: 15_000,
    /** Attempts per request, first one included. */
    attempts: 5,
    /** Exponential backoff: base * 2^(attempt-1), with full jitter, capped. */
    backoffBaseMs: 250,
    backoffMaxMs: 10_000,
    /** A Retry-After above this is capped: a Lambda cannot sleep for an hour. */
    retryAfterMaxMs: 30_000,
    /** All attempts of one request together stop after this long. */
    requestBudgetMs: 90_000,
    /**
     * Largest response body accepted (bytes). Generous: PayLink lists are unpaginated, so one
     * user's accounts come in one body; anything bigger is a fault, not data, and fails that unit.
     */
    maxResponseBytes: 64 * 1024 * 1024,
  },
  pagination: {
    /** A paginator that never stops is a bug or an API change: bound it. */
    maxPages: 1_000,
  },
  parquet: {
    /** Rows per row group (parquetjs-lite's default is 4096, small for Athena). */
    rowGroupRows: 10_000,
    /** A part is closed and a new one opened past these, so memory stays bounded. */
    partMaxRows: 250_000,
    partMaxBytes: 64 * 1024 * 1024,
    /**
     * Rows buffered (not yet encoded) across ALL open parts of a batch. A batch writes one part
     * per table (about 20), so a per-part row group alone would let memory grow with the table
     * count; the budget is shared instead, with row groups never below `minRowGroupRows`.
     */
    bufferedRowsBudget: 40_000,
    minRowGroupRows: 1_000,
    /**
     * A row group also closes once the values appended to it reach this many estimated bytes
     * (row-group-budget.ts `rowBytes`: strings' length, 8 per number), so wide rows do not make a
     * row group of `rowGroupRows` rows too big to hold: parquetjs-lite took ~2.6 bytes of memory
     * per estimated byte buffered (bench/results/issue-11.md (j)). The simulated world's widest
     * table's rows are well under 1,000 estimated bytes, so its row groups stay at the row cap.
     */
    rowGroupBytes: 16 * 1024 * 1024,
    /**
     * Estimated bytes buffered across all open writers (a batch's parts, or the commit's merges
     * running at once), shared as the rows budget is, each writer's share never below
     * `minRowGroupBytes`.
     */
    bufferedBytesBudget: 48 * 1024 * 1024,
    minRowGroupBytes: 1024 * 1024,
    /** Rows of a table held before its first part opens, so its columns settle first. */
    firstPartHoldRows: 2_000,
  },
} as const;

/** Properties of the lake format (not configurable). */
export const LAKE = {
  /** dlt's column names for lineage. */
  idColumn: '_dlt_id',
  loadIdColumn: '_dlt_load_id',
  parentIdColumn: '_dlt_parent_id',
  /** On child rows: the `_dlt_id` of the root row they descend from (dlt adds it for merge). */
  rootIdColumn: '_dlt_root_id',
  listIndexColumn: '_dlt_list_idx',
  userColumn: 'user_identifier',
  /** dlt's separator for flattened paths and child tables. */
  pathSeparator: '__',
  /** Suffix of a variant column: `<column>__v_<type>`. */
  variantInfix: '__v_',
  /** Column of a child row built from a list of scalars. */
  scalarListColumn: 'value',
  /** Longest identifier before deterministic shortening (Glue allows 255; dlt's filesystem default). */
  maxIdentifierLength: 255,
  /** Table of per-(load, user, resource) outcomes. */
  userLoadsTable: 'user_loads',
  /**
   * One row per committed load, written as the commit's last step: the commit point readers
   * trust (dlt's `_dlt_loads`). Rows of a load without a row here are invisible through every
   * documented reading path.
   */
  loadsTable: '_dlt_loads',
  /** dlt's `_dlt_loads.status` for a completed load. */
  loadCommittedStatus: 0,
  /** Schema name recorded in `_dlt_loads.schema_name` (dlt records its pipeline schema there). */
  schemaName: 'paylink',
} as const;
