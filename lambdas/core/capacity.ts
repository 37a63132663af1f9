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
 */
import { ConfigError } from './errors.ts';

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
 */
export const AWS_LIMITS = {
  mapMaxConcurrency: 10_000,
  lambdaAccountConcurrency: 1_000,
  lambdaHeadroom: 100,
} as const;

/** Estimated plan step (read the users list, write the batch files). */
export const PLAN_SECONDS = 60;

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
  /** Commit moves each staged part once and writes a few small objects: seconds, estimated generously. */
  commitSeconds: 120,
  periodHours: 24,
  runDeadlineFraction: 0.9,
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
  /** Upper bound of the commit step (its Lambda timeout), seconds. */
  readonly commitSeconds: number;
  /** The account's Lambda concurrent executions (default AWS_LIMITS.lambdaAccountConcurrency). */
  readonly accountConcurrency?: number;
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
   * Time one batch is planned to take at most, seconds: (Lambda timeout - deadline margin) x
   * BATCH_SAFETY. Its users' requests get this less BATCH_OVERHEAD_SECONDS.
   */
  readonly batchBudgetSeconds: number;
  /** The load-batch Lambda timeout the budget derives from, seconds. */
  readonly batchTimeoutSeconds: number;
  /** Expected seconds of the whole run. */
  readonly expectedSeconds: number;
  readonly runDeadlineSeconds: number;
  /** True when the run is expected to finish before its deadline. */
  readonly fits: boolean;
  /** Why it does not fit, with the numbers (undefined when it fits). */
  readonly problem: string | undefined;
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
  const expectedSeconds = Math.ceil(
    input.guardSeconds + PLAN_SECONDS + waves * batchSeconds + input.commitSeconds,
  );
  const requests = Math.ceil(input.users * perUser);
  const usableConcurrency = accountConcurrency - AWS_LIMITS.lambdaHeadroom;
  // Only the batches that can run at once count: 3 batches under MaxConcurrency 1000 use 3.
  const concurrent = Math.min(batches, input.maxConcurrency);
  const problems: string[] = [];
  if (expectedSeconds > deadline)
    problems.push(
      `${plural(input.users, 'user')} x ${perUser} requests at ${rate} request/s take ${formatDuration(expectedSeconds)} (${plural(waves, 'wave')} of up to ${plural(input.maxConcurrency, 'batch', 'batches')} of ${plural(batchSize, 'user')}), more than the ${formatDuration(deadline)} before the next scheduled run: raise requestRate (PayLink permitting) or lengthen the schedule period`,
    );
  if (concurrent > usableConcurrency)
    problems.push(
      `${plural(concurrent, 'batch', 'batches')} at once would take ${concurrent} of the account's ${accountConcurrency} concurrent Lambda executions, leaving less than ${AWS_LIMITS.lambdaHeadroom} for the plan, the commit and every other function (throttled): lower maxConcurrency to ${usableConcurrency} or less, or raise the account's Lambda concurrency quota`,
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
    batchBudgetSeconds: Math.floor(batchBudget),
    batchTimeoutSeconds: timeout,
    expectedSeconds,
    runDeadlineSeconds: deadline,
    fits,
    problem: fits ? undefined : problems.join('; and '),
  };
}

/** Requests per user measured by a committed load; the default when there is none or it is empty. */
export function measuredRequestsPerUser(marker: { users?: unknown; requests?: unknown } | undefined): number {
  const users = Number(marker?.users);
  const requests = Number(marker?.requests);
  if (!(users > 0 && requests > 0)) return DEFAULT_REQUESTS_PER_USER;
  return Math.round((requests / users) * 100) / 100;
}
