/**
 * `paylink-loader plan --users <file|count> [--rate-limit <req/s>] ...`: the capacity estimate the
 * deployed plan makes (lambdas/core/capacity.ts), for sizing a schedule before deploying it:
 * batches, waves, expected duration, requests, and whether the run fits before the next one.
 * Exit code 0 when it fits, 2 when it does not (the deployed plan would still load every user,
 * and raise its alarm).
 */
import { readFile } from 'node:fs/promises';
import { DEFAULT_REQUESTS_PER_USER, formatDuration, planCapacity, STACK_DEFAULTS } from '#core/capacity.ts';
import { DEFAULTS } from '#core/constants.ts';
import { ConfigError } from '#core/errors.ts';
import { parseUsersList } from '#core/users.ts';
import { parseFlags, pathFrom, required } from './args.ts';
import type { Io } from './io.ts';

export const PLAN_USAGE = `paylink-loader plan --users <file|count> [options]

  Estimates a deployed run the way its plan step sizes it: batches that finish before the
  load-batch Lambda's deadline, waves of concurrent batches, requests and expected duration,
  and whether the run fits before the next scheduled one.

  --users <file|count>      the users list (one identifier per line) or a number of users
  --rate-limit <req/s>      PayLink requests/second of the whole run (default ${DEFAULTS.rateLimit})
  --concurrency <n>         batches at once, the stack's maxConcurrency (default ${STACK_DEFAULTS.maxConcurrency})
  --batch-size <n>          most users per batch, the stack's batchSize (default ${DEFAULTS.batchSize})
  --requests-per-user <n>   requests one user costs (default ${DEFAULT_REQUESTS_PER_USER}; a committed
                            load's marker records requests and users)
  --period-hours <h>        time between scheduled runs (default ${STACK_DEFAULTS.periodHours})
  --json                    print the estimate as JSON`;

function positiveNumber(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(flag, 'must be a positive number');
  return n;
}

function positiveInt(flag: string, raw: string | undefined, fallback: number): number {
  const n = positiveNumber(flag, raw, fallback);
  if (!Number.isInteger(n)) throw new ConfigError(flag, 'must be a whole number');
  return n;
}

async function countUsers(raw: string, cwd: string): Promise<number> {
  if (/^\d+$/.test(raw)) return Number(raw);
  let text: string;
  try {
    text = await readFile(pathFrom(cwd, raw), 'utf8');
  } catch {
    throw new ConfigError('--users', `is neither a number nor a readable file (${raw})`);
  }
  return new Set(parseUsersList(text, raw)).size;
}

export async function planCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, {
    users: { type: 'string' },
    'rate-limit': { type: 'string' },
    concurrency: { type: 'string' },
    'batch-size': { type: 'string' },
    'requests-per-user': { type: 'string' },
    'period-hours': { type: 'string' },
    json: { type: 'boolean' },
  });
  const users = await countUsers(required(values.users, '--users'), io.cwd);
  const requestRate = positiveNumber('--rate-limit', values['rate-limit'], DEFAULTS.rateLimit);
  const maxConcurrency = positiveInt('--concurrency', values.concurrency, STACK_DEFAULTS.maxConcurrency);
  const periodHours = positiveNumber('--period-hours', values['period-hours'], STACK_DEFAULTS.periodHours);
  const plan = planCapacity({
    users,
    requestRate,
    maxConcurrency,
    maxBatchSize: positiveInt('--batch-size', values['batch-size'], DEFAULTS.batchSize),
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
  });
  if (values.json) {
    io.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    return plan.fits ? 0 : 2;
  }
  const lines = [
    `Plan for ${users} users at ${requestRate} request/s (${maxConcurrency} batches at once, ${plan.requestsPerUser} requests per user):`,
    `  batches        ${plan.batches} of at most ${plan.batchSize} users (each ~${plan.batchSeconds} s of a ${plan.batchBudgetSeconds} s budget)`,
    `  waves          ${plan.waves}`,
    `  requests       ${plan.requests}`,
    `  expected run   ${formatDuration(plan.expectedSeconds)} (deadline ${formatDuration(plan.runDeadlineSeconds)}: ${Math.round(STACK_DEFAULTS.runDeadlineFraction * 100)}% of a ${periodHours} h period)`,
    `  fits           ${plan.fits ? 'yes' : `no: ${plan.problem}`}`,
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return plan.fits ? 0 : 2;
}
