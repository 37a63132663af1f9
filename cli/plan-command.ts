/**
 * `paylink-loader plan --users <file|count> [--rate-limit <req/s>] ...`: the capacity estimate the
 * deployed plan makes (lambdas/core/capacity.ts), for sizing a schedule before deploying it:
 * batches, waves, expected duration, requests, and whether the run fits before the next one.
 * Exit code 0 when it fits, 2 when it does not (the deployed plan would still load every user,
 * and raise its alarm).
 */
import { readFile } from 'node:fs/promises';
import {
  AWS_LIMITS,
  BATCH_OVERHEAD_SECONDS,
  BATCH_SAFETY,
  type CapacityInput,
  type CapacityPlan,
  CHANGED_RUN_SAFETY,
  changedRunCap,
  DEFAULT_MERGE_VOLUME,
  DEFAULT_REQUESTS_PER_USER,
  formatDuration,
  planCapacity,
  plural,
  STACK_DEFAULTS,
} from '#core/capacity.ts';
import { DEFAULTS, LIMITS } from '#core/constants.ts';
import { ConfigError } from '#core/errors.ts';
import { parseUsersList, usersText } from '#core/users.ts';
import { numberFlag, optionalNumberFlag, parseFlags, pathFrom, required } from './args.ts';
import { BATCH_SIZE, RATE_LIMIT } from './flag-ranges.ts';
import type { Io } from './io.ts';

export const PLAN_USAGE = `paylink-loader plan --users <file|count> [options]

  Estimates a deployed run the way its plan step sizes it: batches that finish before the
  load-batch Lambda's deadline, waves of concurrent batches, requests, the commit and its
  merge (about ${DEFAULT_MERGE_VOLUME.rowsPerUser} rows a user, merged in the commit or by the merge Map), the expected
  duration, and whether the run fits before the next scheduled one.

  --users <file|count>      the users list (one identifier per line) or a number of users
  --rate-limit <req/s>      PayLink requests/second of the whole run (default ${DEFAULTS.rateLimit})
  --concurrency <n>         batches at once, the stack's maxConcurrency (default ${STACK_DEFAULTS.maxConcurrency})
  --batch-size <n>          most users per batch, the stack's batchSize (default ${DEFAULTS.batchSize})
  --requests-per-user <n>   requests one user costs (default ${DEFAULT_REQUESTS_PER_USER}; a committed
                            load's marker records requests and users)
  --period-hours <h>        time between scheduled runs (default ${STACK_DEFAULTS.periodHours})
  --commit-merge-seconds <s>
                            the stack's commitMergeSeconds: most seconds of merging the commit
                            does itself (default: by its Lambda's deadline; 0: always the merge Map)
  --account-concurrency <n> the account's Lambda concurrent executions (default ${AWS_LIMITS.lambdaAccountConcurrency},
                            Lambda's default quota; ${AWS_LIMITS.lambdaHeadroom} are kept for the other functions)
  --webhook-reserved-concurrency <n>
                            the stack's webhooks.reservedConcurrency (default ${STACK_DEFAULTS.webhookReservedConcurrency}):
                            reserved for the webhook receiver, out of the account's concurrency
  --json                    print the estimate as JSON

  Several schedules on one stack share its requestRate equally: give --rate-limit the share.`;

// Strict decimal digits (args.ts numberFlag); bounds the plan itself checks (maxConcurrency's
// Distributed Map limit, capacity.ts) are left to it, which says why.
function positiveNumber(flag: string, raw: string | undefined, fallback: number): number {
  return optionalNumberFlag(
    flag,
    raw,
    { min: 0, max: Number.MAX_SAFE_INTEGER, whole: false, aboveMin: true, words: 'a positive number' },
    fallback,
  );
}

function secondsOrUnset(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  return numberFlag(flag, raw, {
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    whole: false,
    words: 'a number of seconds (0 or more)',
  });
}

/**
 * The commit's lines: `commit` is its whole time, the figure the expected run counts (its runs
 * and, with a hand-off, the merge Map between them); `merge` is the data to merge and what one
 * invocation would take for it, the estimate held against the commit's merge budget. A single
 * line ("commit ~7 min: merges ... in ~17 min") read as a 7 min commit with a 17 min merge in it.
 */
function commitLines(plan: CapacityPlan, runSeconds: number): string[] {
  const merge = plan.merge;
  const run = `~${formatDuration(runSeconds)}`;
  const data = `${merge.rows} rows (${(merge.bytes / 1e6).toFixed(1)} MB)`;
  const budget = `the commit's ${formatDuration(merge.budgetSeconds)} merge budget`;
  if (!merge.handOff)
    return [
      `  commit         ~${formatDuration(plan.commitSeconds)} in all, part of the expected run: one commit run, publishing (${run}) and merging (~${formatDuration(merge.seconds)})`,
      `  merge          ${data}: ~${formatDuration(merge.seconds)}, within ${budget}, so the commit merges them itself`,
    ];
  return [
    `  commit         ~${formatDuration(plan.commitSeconds)} in all, part of the expected run: a commit run (${run}), the merge Map (~${formatDuration(merge.mapSeconds)}, ${plural(merge.items, 'item')}), a second commit run (${run})`,
    `  merge          ${data}: ~${formatDuration(merge.seconds)} if one invocation did it, over ${budget}, so the merge Map does it in ~${formatDuration(merge.mapSeconds)}`,
  ];
}

function positiveInt(flag: string, raw: string | undefined, fallback: number): number {
  return optionalNumberFlag(
    flag,
    raw,
    { min: 1, max: Number.MAX_SAFE_INTEGER, whole: true, words: 'a positive whole number' },
    fallback,
  );
}

/** A whole number, 0 included (a stack without the receiver reserves none). */
function wholeNumber(flag: string, raw: string | undefined, fallback: number): number {
  return optionalNumberFlag(
    flag,
    raw,
    { min: 0, max: Number.MAX_SAFE_INTEGER, whole: true, words: 'a whole number >= 0' },
    fallback,
  );
}

/** A number-looking `--users` that is not a whole count >= 0: refused, never read as a file name. */
const NUMBER_LIKE = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
const USERS_EXPECTED = 'must be a whole number of users (0 or more) or a users list file';

/**
 * `--users -5` reaches parseArgs as an option-looking value, which it refuses with a message
 * about dashes; catch it first and say what --users takes.
 */
function refuseNegativeUsers(argv: readonly string[]): void {
  argv.forEach((arg, i) => {
    const value = arg.startsWith('--users=')
      ? arg.slice('--users='.length)
      : arg === '--users'
        ? argv[i + 1]
        : undefined;
    if (value?.startsWith('-') && NUMBER_LIKE.test(value))
      throw new ConfigError('--users', `${USERS_EXPECTED}, not ${value}`);
  });
}

async function countUsers(raw: string, cwd: string): Promise<number> {
  if (/^\d+$/.test(raw)) return Number(raw);
  if (NUMBER_LIKE.test(raw)) throw new ConfigError('--users', `${USERS_EXPECTED}, not ${raw}`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(pathFrom(cwd, raw));
  } catch {
    throw new ConfigError('--users', `is neither a number nor a readable file (${raw})`);
  }
  return new Set(parseUsersList(usersText(bytes, '--users', raw), raw)).size;
}

export async function planCommand(argv: readonly string[], io: Io): Promise<number> {
  refuseNegativeUsers(argv);
  const { values } = parseFlags(
    argv,
    {
      users: { type: 'string' },
      'rate-limit': { type: 'string' },
      concurrency: { type: 'string' },
      'batch-size': { type: 'string' },
      'requests-per-user': { type: 'string' },
      'period-hours': { type: 'string' },
      'commit-merge-seconds': { type: 'string' },
      'account-concurrency': { type: 'string' },
      'webhook-reserved-concurrency': { type: 'string' },
      json: { type: 'boolean' },
    },
    false,
    // Negative values reach their checks, which name each flag's real range.
    [
      'rate-limit',
      'concurrency',
      'batch-size',
      'requests-per-user',
      'period-hours',
      'commit-merge-seconds',
      'account-concurrency',
      'webhook-reserved-concurrency',
    ],
  );
  const users = await countUsers(required(values.users, '--users'), io.cwd);
  const requestRate = optionalNumberFlag(
    '--rate-limit',
    values['rate-limit'],
    RATE_LIMIT,
    DEFAULTS.rateLimit,
  );
  const maxConcurrency = positiveInt('--concurrency', values.concurrency, STACK_DEFAULTS.maxConcurrency);
  const periodHours = positiveNumber('--period-hours', values['period-hours'], STACK_DEFAULTS.periodHours);
  const commitMergeSeconds = secondsOrUnset('--commit-merge-seconds', values['commit-merge-seconds']);
  const input = {
    requestRate,
    maxConcurrency,
    maxBatchSize: optionalNumberFlag('--batch-size', values['batch-size'], BATCH_SIZE, DEFAULTS.batchSize),
    requestsPerUser: positiveNumber(
      '--requests-per-user',
      values['requests-per-user'],
      DEFAULT_REQUESTS_PER_USER,
    ),
    batchTimeoutSeconds: STACK_DEFAULTS.batchTimeoutSeconds,
    batchMarginSeconds: STACK_DEFAULTS.batchMarginSeconds,
    runDeadlineSeconds: Math.floor(periodHours * 3600 * STACK_DEFAULTS.runDeadlineFraction),
    guardSeconds: STACK_DEFAULTS.guardSeconds,
    commitSeconds: STACK_DEFAULTS.commitSeconds,
    ...(commitMergeSeconds === undefined ? {} : { commitMergeSeconds }),
    accountConcurrency: positiveInt(
      '--account-concurrency',
      values['account-concurrency'],
      AWS_LIMITS.lambdaAccountConcurrency,
    ),
    webhookReservedConcurrency: wholeNumber(
      '--webhook-reserved-concurrency',
      values['webhook-reserved-concurrency'],
      STACK_DEFAULTS.webhookReservedConcurrency,
    ),
  };
  const plan = planCapacity({ ...input, users });
  // What a deployed `changed` schedule of this period loads per run without a maxUsersPerRun.
  const changedMaxUsers = changedRunCap(input);
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ ...plan, changedRunMaxUsers: changedMaxUsers }, null, 2)}\n`);
    return plan.fits ? 0 : 2;
  }
  const concurrent = Math.min(plan.batches, maxConcurrency);
  const lines = [
    `Plan for ${plural(users, 'user')} at ${requestRate} request/s (up to ${plural(maxConcurrency, 'batch', 'batches')} at once, ${plural(plan.requestsPerUser, 'request')} per user):`,
    `  batches        ${plan.batches} of at most ${plural(plan.batchSize, 'user')}, ${concurrent} at once`,
    `  per batch      ~${plan.batchSeconds} s of a ${plan.batchBudgetSeconds} s budget (${plan.batchTimeoutSeconds} s Lambda timeout less ${STACK_DEFAULTS.batchMarginSeconds} s margin, x ${BATCH_SAFETY}; ${BATCH_OVERHEAD_SECONDS} s of it overhead)`,
    `  waves          ${plan.waves}`,
    `  requests       ${plan.requests}`,
    ...commitLines(plan, STACK_DEFAULTS.commitSeconds),
    `  expected run   ${formatDuration(plan.expectedSeconds)} (deadline ${formatDuration(plan.runDeadlineSeconds)}: ${Math.round(STACK_DEFAULTS.runDeadlineFraction * 100)}% of a ${periodHours} h period)`,
    ...overheadLines(plan, { ...input, users }),
    `  fits           ${plan.fits ? 'yes' : `no: ${plan.problem}`}`,
    `  changed runs   at most ${plural(changedMaxUsers, 'user')} a run (a 'changed' schedule's default maxUsersPerRun: a run within ${Math.round(CHANGED_RUN_SAFETY * 100)}% of the deadline; more users wait for the next run)`,
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return plan.fits ? 0 : 2;
}

/** Over this share of the expected run, the batches' fixed overhead gets a line of its own. */
const OVERHEAD_NOTE_SHARE = 0.25;

/**
 * The overhead line, when many small batches make the per-batch allowance most of the run: how
 * much of the run it is, and the run with the largest batch size that still fits a batch's budget
 * (batches of 30,000 users stay under load-batch's memory: bench/results/batch-memory.md).
 */
function overheadLines(plan: CapacityPlan, input: CapacityInput): string[] {
  if (plan.batches === 0 || plan.overheadSeconds < OVERHEAD_NOTE_SHARE * plan.expectedSeconds) return [];
  const note = `  overhead       ${formatDuration(plan.overheadSeconds)} of it is the ${BATCH_OVERHEAD_SECONDS} s allowed per batch for start-up and staging (${plan.waves} waves; an allowance, not measured in AWS: the run may well be shorter)`;
  const larger = Math.min(plan.fittingBatchSize, LIMITS.maxBatchSize);
  if (larger <= plan.batchSize) return [note];
  const alternative = planCapacity({ ...input, maxBatchSize: larger });
  if (alternative.expectedSeconds > 0.9 * plan.expectedSeconds) return [note];
  return [
    note,
    `                 --batch-size ${larger} (cdk.json batchSize) would make it ${formatDuration(alternative.expectedSeconds)} in ${plural(alternative.waves, 'wave')}`,
  ];
}
