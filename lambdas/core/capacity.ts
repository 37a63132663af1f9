/**
 * Capacity planning of a load: how many users one batch may take so it finishes before its
 * Lambda deadline, and whether the whole run finishes before the next scheduled run. Pure
 * arithmetic, shared by the CDK stack (synth-time check), the plan Lambda (run-time sizing from
 * the real user count) and the CLI (`paylink-loader plan`), so the three can never disagree.
 *
 * The model. A run sends at most `requestRate` requests/s to PayLink, shared by the
 * `maxConcurrency` batches the Distributed Map runs at once, so one batch sends at most
 * r = requestRate / maxConcurrency requests/s. A user costs `requestsPerUser` requests (measured
 * in the previous committed load: its marker's `requests / users`; DEFAULT_REQUESTS_PER_USER
 * before the first). A batch of n users therefore needs n * requestsPerUser / r seconds, and
 * must fit the Lambda timeout less the handler's deadline margin, times BATCH_SAFETY (rate
 * limiter bursts, retries, slow users). Batches run in waves of `maxConcurrency`; the run is
 * guard + plan + waves + commit, and must fit `runDeadlineSeconds` (the schedule period less
 * a margin: the state machine's timeout).
 *
 * The commit is its publish (`commitSeconds`) plus the merge of every table partition's staged
 * parts, estimated as the commit estimates it (merge-fan-out.ts: the staged rows and bytes at
 * MERGE_THROUGHPUT) from the rows and bytes a user stages (`MergeVolume`: measured by the
 * previous committed load, DEFAULT_MERGE_VOLUME before the first). Over the budget a commit
 * invocation merges in, the merge goes to the merge Map instead: the run is then the commit
 * that hands off, the Map (its items `mergeConcurrency` at once, the largest one alone at least)
 * and the commit after it. An item is a partition, or a slice of one too large for an item's
 * invocation (merge-fan-out.ts MERGE_SLICING): every size of load can commit.
 */
import { ConfigError } from './errors.ts';
import {
  MERGE_SLICING,
  MERGE_THROUGHPUT,
  type MergeThroughput,
  mergeBudgetSeconds,
} from './merge-fan-out.ts';

/**
 * Requests one user costs when no committed load has measured it yet: a 500-user batch of the
 * default resources against the PayLink simulator's default world sent about 3,950 requests
 * (token, accounts, per-account details and action history, bills, orders, suggestions,
 * transactions, tasks), i.e. 7.9 per user; rounded up.
 */
export const DEFAULT_REQUESTS_PER_USER = 8;

/** A batch is sized to use at most this share of its usable time (bursts, retries, slow users). */
export const BATCH_SAFETY = 0.8;

/** Per-wave fixed cost: a cold start, reading the plan and schema, writing parts and manifest. */
export const BATCH_OVERHEAD_SECONDS = 30;

/**
 * AWS limits a run's concurrency must respect, with their sources.
 * - A Distributed Map runs at most 10,000 child workflow executions at once (Step Functions
 *   developer guide, "Using Map state in Distributed mode": MaxConcurrency).
 * - Lambda gives an account 1,000 concurrent executions per Region by default, shared by every
 *   function (Lambda developer guide, "Lambda quotas": Concurrent executions; adjustable).
 * - Of those, Lambda keeps 100 unreserved for functions without reserved concurrency ("Configuring
 *   reserved concurrency"); we keep the same headroom for the plan, the commit, the other
 *   schedule's runs and the account's other functions, which would otherwise be throttled.
 * - A function's reserved concurrency is taken out of the account's unreserved pool, whether it
 *   runs or not (same page): the webhook receiver's (`webhooks.reservedConcurrency`) is never
 *   available to the batches, so a plan subtracts it (`webhookReservedConcurrency`).
 */
export const AWS_LIMITS = {
  mapMaxConcurrency: 10_000,
  lambdaAccountConcurrency: 1_000,
  lambdaHeadroom: 100,
} as const;

/** Estimated plan step (read the users list, write the batch files). */
export const PLAN_SECONDS = 60;

/**
 * What one user adds to the commit's merge: staged rows and bytes in all, and those of the table
 * partition that takes longest to merge (it is one merge Map item, so it bounds the Map's time).
 */
export interface MergeVolume {
  readonly rowsPerUser: number;
  readonly bytesPerUser: number;
  readonly largest: { readonly rowsPerUser: number; readonly bytesPerUser: number };
  /** Table partitions a load merges (merge Map items). */
  readonly partitions: number;
}

/**
 * The merge volume before a committed load measured one: the default resources against the
 * simulated world staged 252,396 rows and 17.52 MB for 5,000 users (bench/results/
 * merge-throughput.md: 50.5 rows and 3,504 bytes a user) in 20 table partitions, the largest
 * of which held 11.7% of the bytes (bench/results/files-per-table.md: 3.3 of 28 MiB at 10,000
 * users, 33 of 280 MiB at 100,000). Rounded up; the largest partition taken as 12% of the rows
 * and of the bytes.
 */
export const DEFAULT_MERGE_VOLUME: MergeVolume = {
  rowsPerUser: 51,
  bytesPerUser: 3_600,
  largest: { rowsPerUser: 6.2, bytesPerUser: 432 },
  partitions: 20,
};

/**
 * Per merge Map wave: an item's cold start, reading its task, writing its record. Not measured:
 * taken as generously as BATCH_OVERHEAD_SECONDS, which covers more work.
 */
export const MERGE_ITEM_OVERHEAD_SECONDS = 30;

/**
 * The deployed stack's sizing defaults, for estimates made without a stack (the CLI's `plan`):
 * Map MaxConcurrency (config `maxConcurrency`), load-batch's Lambda timeout and deadline margin,
 * the run guard's wait, the commit estimate, the schedule period (cdk.json's daily example) and
 * the share of it a run may take. test/infra/capacity-defaults.test.ts checks the stack agrees.
 */
export const STACK_DEFAULTS = {
  maxConcurrency: 4,
  batchTimeoutSeconds: 900,
  batchMarginSeconds: 120,
  guardSeconds: 10,
  /**
   * Commit moves each merged file once and writes a few small objects: seconds, estimated
   * generously (the merge is estimated apart, from the load's volume).
   */
  commitSeconds: 120,
  /** The commit Lambda's timeout: the merge budget of one invocation derives from it. */
  commitTimeoutSeconds: 900,
  /** Merge Map items at once (the MergeGroups state's MaxConcurrency). */
  mergeConcurrency: 10,
  periodHours: 24,
  runDeadlineFraction: 0.9,
  /**
   * The webhook receiver's reserved concurrency (cdk.json `webhooks.reservedConcurrency`; the
   * stack's WEBHOOK_DEFAULTS takes it from here): removed from the account's unreserved pool.
   */
  webhookReservedConcurrency: 25,
} as const;

export interface CapacityInput {
  /** Users to load (>= 0). */
  readonly users: number;
  /** Total PayLink requests/second of one run. */
  readonly requestRate: number;
  /** Batches run at once (Distributed Map MaxConcurrency). */
  readonly maxConcurrency: number;
  /** Requests per user (measured or DEFAULT_REQUESTS_PER_USER). */
  readonly requestsPerUser: number;
  /** Upper bound on users per batch (config `batchSize`). */
  readonly maxBatchSize: number;
  /** Lambda timeout of load-batch, seconds. */
  readonly batchTimeoutSeconds: number;
  /** Time load-batch keeps back from its deadline to finish cleanly, seconds. */
  readonly batchMarginSeconds: number;
  /** Time the whole run may take (state machine timeout), seconds. */
  readonly runDeadlineSeconds: number;
  /** Fixed time before the batches (run guard wait), seconds. */
  readonly guardSeconds: number;
  /** The commit's publish, seconds: the commit less its merge. */
  readonly commitSeconds: number;
  /** What a user adds to the commit's merge (default DEFAULT_MERGE_VOLUME). */
  readonly mergeVolume?: MergeVolume;
  /** The commit Lambda's timeout, seconds (default STACK_DEFAULTS.commitTimeoutSeconds). */
  readonly commitTimeoutSeconds?: number;
  /** The stack's `commitMergeSeconds`: most seconds of merging a commit does itself. */
  readonly commitMergeSeconds?: number;
  /** Merge Map items at once (default STACK_DEFAULTS.mergeConcurrency). */
  readonly mergeConcurrency?: number;
  /** The merge's throughput (default MERGE_THROUGHPUT, the commit's own). */
  readonly mergeThroughput?: MergeThroughput;
  /** The account's Lambda concurrent executions (default AWS_LIMITS.lambdaAccountConcurrency). */
  readonly accountConcurrency?: number;
  /**
   * The webhook receiver's reserved concurrency (`webhooks.reservedConcurrency` when the receiver
   * is deployed; default 0): reserved concurrency leaves the account's unreserved pool, which the
   * batches draw from (AWS_LIMITS).
   */
  readonly webhookReservedConcurrency?: number;
}

export interface CapacityPlan {
  readonly users: number;
  /** Users per batch (batches are balanced: the last one is at most this). */
  readonly batchSize: number;
  readonly batches: number;
  readonly waves: number;
  /** requests/s one batch may send. */
  readonly batchRequestRate: number;
  readonly requestsPerUser: number;
  /** Expected PayLink requests of the run. */
  readonly requests: number;
  /** Expected seconds of one batch (its users' requests at the batch rate, plus overhead). */
  readonly batchSeconds: number;
  /**
   * Seconds of the run that are the batches' fixed overhead (waves x BATCH_OVERHEAD_SECONDS): an
   * allowance, not a measurement; with many small batches it is most of the run.
   */
  readonly overheadSeconds: number;
  /** Most users one batch could take within its budget at the batch rate (batchSize caps it). */
  readonly fittingBatchSize: number;
  /**
   * Time one batch is planned to take at most, seconds: (Lambda timeout - deadline margin) x
   * BATCH_SAFETY. Its users' requests get this less BATCH_OVERHEAD_SECONDS.
   */
  readonly batchBudgetSeconds: number;
  /** The load-batch Lambda timeout the budget derives from, seconds. */
  readonly batchTimeoutSeconds: number;
  /** The commit's merge: expected staged rows and bytes, and seconds as the commit estimates them. */
  readonly merge: CommitMergePlan;
  /** Expected seconds from the commit's start to its commit point (a merge Map included). */
  readonly commitSeconds: number;
  /** Expected seconds of the whole run. */
  readonly expectedSeconds: number;
  readonly runDeadlineSeconds: number;
  /** True when the run is expected to finish before its deadline. */
  readonly fits: boolean;
  /** Why it does not fit, with the numbers (undefined when it fits). */
  readonly problem: string | undefined;
}

export interface CommitMergePlan {
  readonly rows: number;
  readonly bytes: number;
  /** Estimated seconds of merging all of it in one invocation. */
  readonly seconds: number;
  /** What one commit invocation merges in, at most; over it the commit hands the merge off. */
  readonly budgetSeconds: number;
  /** True when the commit is expected to hand its merge to the merge Map. */
  readonly handOff: boolean;
  /** The merge Map's expected seconds (0 without a hand-off). */
  readonly mapSeconds: number;
  /** Estimated seconds of the largest table partition (sliced over several Map items when over `itemSeconds`). */
  readonly largestPartitionSeconds: number;
  /** Most estimated seconds one Map item merges: a partition over it is sliced (MERGE_SLICING). */
  readonly itemSeconds: number;
  /** Expected Map items: the partitions, and the extra slices of those too large for one item (0 without a hand-off). */
  readonly items: number;
}

/**
 * The commit's merge of `users` users' staged parts: estimated at the throughput the commit
 * estimates with, against the budget a fresh commit invocation has (merge-fan-out.ts).
 */
export function planCommitMerge(
  users: number,
  input: Pick<
    CapacityInput,
    'mergeVolume' | 'commitTimeoutSeconds' | 'commitMergeSeconds' | 'mergeConcurrency' | 'mergeThroughput'
  >,
): CommitMergePlan {
  const volume = input.mergeVolume ?? DEFAULT_MERGE_VOLUME;
  const throughput = input.mergeThroughput ?? MERGE_THROUGHPUT;
  const seconds = (rows: number, bytes: number) =>
    Math.max(rows / throughput.rowsPerSecond, bytes / throughput.bytesPerSecond);
  const rows = Math.ceil(users * volume.rowsPerUser);
  const bytes = Math.ceil(users * volume.bytesPerUser);
  const total = seconds(rows, bytes);
  const largest = seconds(users * volume.largest.rowsPerUser, users * volume.largest.bytesPerUser);
  const timeout = input.commitTimeoutSeconds ?? STACK_DEFAULTS.commitTimeoutSeconds;
  const budgetSeconds = mergeBudgetSeconds({
    remainingSeconds: () => timeout,
    ...(input.commitMergeSeconds === undefined ? {} : { maxMergeSeconds: input.commitMergeSeconds }),
  });
  // The commit hands off only a merge it has: an empty load merges nothing.
  const handOff = rows > 0 && total > budgetSeconds;
  const concurrency = input.mergeConcurrency ?? STACK_DEFAULTS.mergeConcurrency;
  // A partition over one item's budget is sliced into that many balanced items: the longest item
  // is the largest partition's slice. The other partitions are smaller; sliced too if over the
  // budget, which the total's count bounds from below.
  const itemSeconds = MERGE_SLICING.maxSeconds;
  const largestSlices = Math.max(1, Math.ceil(largest / itemSeconds));
  const items = Math.max(1, volume.partitions - 1 + largestSlices, Math.ceil(total / itemSeconds));
  // Items run `concurrency` at once: the Map takes the longer of the two bounds (the items are
  // many and small beside the largest, so a greedy scheduler comes close to it), plus each wave's start.
  const waves = Math.ceil(items / concurrency);
  const mapSeconds = handOff
    ? Math.max(largest / largestSlices, total / concurrency) + waves * MERGE_ITEM_OVERHEAD_SECONDS
    : 0;
  return {
    rows,
    bytes,
    seconds: Math.ceil(total),
    budgetSeconds: Math.floor(budgetSeconds),
    handOff,
    mapSeconds: Math.ceil(mapSeconds),
    largestPartitionSeconds: Math.ceil(largest),
    itemSeconds: Math.floor(itemSeconds),
    items: handOff ? items : 0,
  };
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new ConfigError(name, 'must be a positive number');
  return value;
}

/** Formats seconds for people: `11.3 h`, `42 min`, `17 s`. */
export function formatDuration(seconds: number): string {
  if (seconds >= 7200) return `${(seconds / 3600).toFixed(1)} h`;
  if (seconds >= 120) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds)} s`;
}

/** `1 user`, `2 users`: counts in messages read as sentences. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * Sizes a run. Throws ConfigError when even one user cannot fit a batch's deadline (no batch
 * size can help: raise the rate or lower the concurrency), or when maxConcurrency passes the
 * Distributed Map's limit. Otherwise returns the plan; when the run does not fit its deadline,
 * or its concurrent batches would take the account's Lambda concurrency (AWS_LIMITS), `fits`
 * is false and `problem` says why with the numbers: the caller decides whether that refuses
 * (synth) or loads anyway and alarms (run time). Users are never dropped to make a plan fit.
 */
export function planCapacity(input: CapacityInput): CapacityPlan {
  if (!Number.isInteger(input.users) || input.users < 0)
    throw new ConfigError('users', 'must be a whole number >= 0');
  if (!Number.isInteger(input.maxConcurrency) || input.maxConcurrency < 1)
    throw new ConfigError('maxConcurrency', 'must be a positive integer');
  if (!Number.isInteger(input.maxBatchSize) || input.maxBatchSize < 1)
    throw new ConfigError('batchSize', 'must be a positive integer');
  if (input.maxConcurrency > AWS_LIMITS.mapMaxConcurrency)
    throw new ConfigError(
      'maxConcurrency',
      `must be at most ${AWS_LIMITS.mapMaxConcurrency} (a Distributed Map runs at most that many child executions at once)`,
    );
  const rate = positive('requestRate', input.requestRate);
  const accountConcurrency = positive(
    'accountConcurrency',
    input.accountConcurrency ?? AWS_LIMITS.lambdaAccountConcurrency,
  );
  const reserved = input.webhookReservedConcurrency ?? 0;
  if (!Number.isInteger(reserved) || reserved < 0)
    throw new ConfigError('webhookReservedConcurrency', 'must be a whole number >= 0');
  const perUser = positive('requestsPerUser', input.requestsPerUser);
  const timeout = positive('batchTimeoutSeconds', input.batchTimeoutSeconds);
  const deadline = positive('runDeadlineSeconds', input.runDeadlineSeconds);

  const batchRate = rate / input.maxConcurrency;
  const batchBudget = (timeout - input.batchMarginSeconds) * BATCH_SAFETY;
  const budget = batchBudget - BATCH_OVERHEAD_SECONDS;
  const fitting = Math.floor((budget * batchRate) / perUser);
  if (fitting < 1) {
    throw new ConfigError(
      'requestRate',
      `${rate} request/s over ${plural(input.maxConcurrency, 'concurrent batch', 'concurrent batches')} gives ${batchRate.toFixed(3)} request/s per batch: one user (${perUser} requests) needs ${Math.ceil(perUser / batchRate)} s, more than the ${Math.floor(budget)} s a batch has for its users (${Math.floor(batchBudget)} s budget: ${timeout} s Lambda timeout less ${input.batchMarginSeconds} s margin, x ${BATCH_SAFETY}; less ${BATCH_OVERHEAD_SECONDS} s overhead)`,
    );
  }
  const cap = Math.min(input.maxBatchSize, fitting);
  const batches = input.users === 0 ? 0 : Math.ceil(input.users / cap);
  // Balanced: 1001 users with a cap of 500 make 3 batches of 334, not 500 + 500 + 1.
  const batchSize = batches === 0 ? cap : Math.ceil(input.users / batches);
  const waves = Math.ceil(batches / input.maxConcurrency);
  const batchSeconds = (batchSize * perUser) / batchRate + BATCH_OVERHEAD_SECONDS;
  const merge = planCommitMerge(input.users, input);
  // Merging in the commit: its publish and the merge. Handed off: the commit that hands off (its
  // schema and task documents, counted as a publish), the Map, the commit that publishes.
  const commitSeconds = merge.handOff
    ? 2 * input.commitSeconds + merge.mapSeconds
    : input.commitSeconds + merge.seconds;
  const expectedSeconds = Math.ceil(input.guardSeconds + PLAN_SECONDS + waves * batchSeconds + commitSeconds);
  const requests = Math.ceil(input.users * perUser);
  // What the batches can draw from: the unreserved pool (less what other functions reserve), less our headroom.
  const usableConcurrency = Math.max(0, accountConcurrency - reserved - AWS_LIMITS.lambdaHeadroom);
  // Only the batches that can run at once count: 3 batches under MaxConcurrency 1000 use 3.
  const concurrent = Math.min(batches, input.maxConcurrency);
  const problems: string[] = [];
  if (expectedSeconds > deadline)
    problems.push(
      `${plural(input.users, 'user')} x ${perUser} requests at ${rate} request/s take ${formatDuration(expectedSeconds)} (${plural(waves, 'wave')} of up to ${plural(input.maxConcurrency, 'batch', 'batches')} of ${plural(batchSize, 'user')}, then a commit of ${formatDuration(commitSeconds)}${merge.handOff ? ' with the merge Map' : ''}), more than the ${formatDuration(deadline)} before the next scheduled run: raise requestRate (PayLink permitting) or lengthen the schedule period`,
    );
  if (concurrent > usableConcurrency)
    problems.push(
      `${plural(concurrent, 'batch', 'batches')} at once would take ${concurrent} of the account's ${accountConcurrency} concurrent Lambda executions${reserved > 0 ? ` (${reserved} of them reserved by the webhook receiver)` : ''}, leaving less than ${AWS_LIMITS.lambdaHeadroom} for the plan, the commit and every other function (throttled): lower maxConcurrency to ${usableConcurrency} or less, or raise the account's Lambda concurrency quota`,
    );
  const fits = problems.length === 0;
  return {
    users: input.users,
    batchSize,
    batches,
    waves,
    batchRequestRate: batchRate,
    requestsPerUser: perUser,
    requests,
    batchSeconds: Math.ceil(batchSeconds),
    overheadSeconds: waves * BATCH_OVERHEAD_SECONDS,
    fittingBatchSize: fitting,
    batchBudgetSeconds: Math.floor(batchBudget),
    batchTimeoutSeconds: timeout,
    merge,
    commitSeconds: Math.ceil(commitSeconds),
    expectedSeconds,
    runDeadlineSeconds: deadline,
    fits,
    problem: fits ? undefined : problems.join('; and '),
  };
}

/**
 * The merge volume a committed load measured (its report's users and files: rows, bytes, and the
 * table partition each file is in); the default when there is none or it is empty. The files are
 * the merged ones, whose bytes run about 16% under the staged parts' (bench results: 28 MiB
 * merged for 10,000 users, 17.52 MB staged for 5,000): rows decide the estimate at
 * MERGE_THROUGHPUT anyway (50 rows a user take 10 ms, 3.5 KB 8.8 ms).
 */
export function measuredMergeVolume(marker: { users?: unknown; files?: unknown } | undefined): MergeVolume {
  const users = Number(marker?.users);
  if (!(users > 0) || !Array.isArray(marker?.files)) return DEFAULT_MERGE_VOLUME;
  const partitions = new Map<string, { rows: number; bytes: number }>();
  for (const file of marker.files as unknown[]) {
    const { key, rows, bytes } = (file ?? {}) as { key?: unknown; rows?: unknown; bytes?: unknown };
    if (typeof key !== 'string' || typeof rows !== 'number' || typeof bytes !== 'number') continue;
    const partition = key.slice(0, key.lastIndexOf('/'));
    const p = partitions.get(partition) ?? { rows: 0, bytes: 0 };
    p.rows += rows;
    p.bytes += bytes;
    partitions.set(partition, p);
  }
  const all = [...partitions.values()];
  const rows = all.reduce((n, p) => n + p.rows, 0);
  if (rows === 0) return DEFAULT_MERGE_VOLUME;
  const at = MERGE_THROUGHPUT;
  const largest = all.reduce((a, b) =>
    Math.max(b.rows / at.rowsPerSecond, b.bytes / at.bytesPerSecond) >
    Math.max(a.rows / at.rowsPerSecond, a.bytes / at.bytesPerSecond)
      ? b
      : a,
  );
  return {
    rowsPerUser: rows / users,
    bytesPerUser: all.reduce((n, p) => n + p.bytes, 0) / users,
    largest: { rowsPerUser: largest.rows / users, bytesPerUser: largest.bytes / users },
    partitions: all.length,
  };
}

/** Requests per user measured by a committed load; the default when there is none or it is empty. */
export function measuredRequestsPerUser(marker: { users?: unknown; requests?: unknown } | undefined): number {
  const users = Number(marker?.users);
  const requests = Number(marker?.requests);
  if (!(users > 0 && requests > 0)) return DEFAULT_REQUESTS_PER_USER;
  return Math.round((requests / users) * 100) / 100;
}

/**
 * The share of a run's deadline a `changed` run's users are sized to (`changedRunCap`). The
 * estimate behind it is the previous load's requests per user (a backlog's users may cost more:
 * new users link more accounts than a changed one has), the rate limiter paced exactly, no
 * retry storm: half the deadline is left for the estimate being wrong, so a capped run still
 * commits when its users cost twice what was measured.
 */
export const CHANGED_RUN_SAFETY = 0.5;

/** Most users a capped run takes at all: far over any run's affordable count, bounding the search. */
export const MAX_USERS_PER_RUN = 10_000_000;

/**
 * The most users one `changed` run loads (its `maxUsersPerRun` when the schedule sets none): the
 * largest user count whose planned run (`planCapacity`, the same arithmetic the plan sizes runs
 * with) takes at most CHANGED_RUN_SAFETY of the run's deadline. At least 1, so every run makes
 * progress. A run capped so commits within its period; the users over it wait for the next run
 * (changed-users.ts `capChangedUsers`) instead of making a run that never commits and a wedge.
 */
export function changedRunCap(input: Omit<CapacityInput, 'users'>, safety = CHANGED_RUN_SAFETY): number {
  const within = input.runDeadlineSeconds * safety;
  const fits = (users: number) => planCapacity({ ...input, users }).expectedSeconds <= within;
  if (!fits(1)) return 1;
  let low = 1;
  let high = MAX_USERS_PER_RUN;
  if (fits(high)) return high;
  // Expected seconds grow with the users (more waves, a larger merge), nearly monotonically
  // (balanced batches can shrink a wave's batch a little): bisection finds a count that fits.
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid;
  }
  return low;
}
