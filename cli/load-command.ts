/**
 * `paylink-loader load`: the whole job in one process. Exit codes (summary.ts EXIT):
 *   0  every user loaded and committed
 *   3  committed, some users failed (listed, and recorded in user_loads)
 *   4  committed, a resource was found unusable and disabled (named, with its fix)
 *   5  committed, both 3 and 4
 *   1  nothing committed (bad input, credentials rejected, PayLink unreachable, lake unwritable, ...)
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { resolveCredentials } from '#adapters/credentials.ts';
import { cliLeaseOwner, isAbandonedOnThisHost, startHeartbeat } from '#adapters/lease-owner.ts';
import { openStore } from '#adapters/open-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { createPayLinkClient } from '#adapters/paylink-client.ts';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { ADAPTIVE_CONCURRENCY, adaptiveConcurrency } from '#core/adaptive-concurrency.ts';
import {
  type ConfigFile,
  configFileSchema,
  loaderSettings,
  parseOrThrow,
  positiveInt,
  positiveNumber,
  selectResources,
} from '#core/config.ts';
import { DEFAULTS } from '#core/constants.ts';
import { ConfigError, InterruptedError } from '#core/errors.ts';
import { assertLoadId, dltLoadsKey, loadIdFromTime, planKey } from '#core/layout.ts';
import type { BatchUser } from '#core/load-batch.ts';
import { taskIdsProblem } from '#core/load-user.ts';
import { type PlanDoc, resumablePlan } from '#core/plan.ts';
import type { ObjectStore } from '#core/ports.ts';
import { rateLimiterStats } from '#core/rate-limiter.ts';
import { runLoad } from '#core/run-load.ts';
import { readJson } from '#core/store-json.ts';
import { parseTaskIds, parseUsersList } from '#core/users.ts';
import { destFrom, list, parseFlags, pathFrom, required } from './args.ts';
import { assertWritableDestination } from './dest-folder.ts';
import type { Io } from './io.ts';
import { Progress } from './progress.ts';
import { EXIT, exitCodeOf, formatSummary, type LoadSummary, summarize } from './summary.ts';

export const LOAD_USAGE = `paylink-loader load --users <file> --dest <dir|s3://bucket/prefix> [options]

  --users <file>          one user identifier per line (spaces and any Unicode allowed)
  --dest <dir|s3://...>   the lake: a local folder or s3://bucket/prefix
  --base-url <url>        PayLink API (default ${DEFAULTS.baseUrl})
  --resources a,b         tables to load (default: all user-scoped feeds but account, tasks)
  --load-id <id>          re-use a load id: re-running it replaces that load, never duplicates;
                          an interrupted load id resumes (batches it staged are kept)
  --resume <id>           resume an interrupted load (same users and options); refused when
                          nothing of that load is staged
  --concurrency <n>       users loaded at once (default: adapts to --rate-limit and the measured
                          latency, ${ADAPTIVE_CONCURRENCY.min} to ${ADAPTIVE_CONCURRENCY.max})
  --rate-limit <req/s>    client-side request rate over all users (default ${DEFAULTS.rateLimit})
  --batch-size <n>        users per batch (default ${DEFAULTS.batchSize})
  --secret-id <id|arn>    read {"api_key","api_secret"} from Secrets Manager
                          (default: PAYLINK_API_KEY and PAYLINK_API_SECRET)
  --config <file.json>    resource overrides (selectors, paths, paginators), base URL, HTTP policy
  --task-ids <file>       JSON lines {"identifier","taskId"}: task ids for the tasks resource
  --json                  print the summary as JSON on stdout
  --quiet                 no progress on stderr`;

export interface LoadRequest {
  readonly usersFile: string;
  readonly dest: string;
  readonly baseUrl?: string;
  readonly resources?: readonly string[];
  readonly loadId?: string;
  /** `--resume`: the load id must have an interrupted attempt staged. */
  readonly resume?: boolean;
  readonly concurrency?: number;
  readonly rateLimit?: number;
  readonly batchSize?: number;
  readonly secretId?: string;
  readonly configFile?: string;
  readonly taskIdsFile?: string;
  readonly json?: boolean;
  readonly quiet?: boolean;
}

export function parseLoadArgs(argv: readonly string[]): LoadRequest {
  const { values } = parseFlags(argv, {
    users: { type: 'string' },
    dest: { type: 'string' },
    'base-url': { type: 'string' },
    resources: { type: 'string' },
    'load-id': { type: 'string' },
    resume: { type: 'string' },
    concurrency: { type: 'string' },
    'rate-limit': { type: 'string' },
    'batch-size': { type: 'string' },
    'secret-id': { type: 'string' },
    config: { type: 'string' },
    'task-ids': { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  });
  if (values.resume !== undefined && values['load-id'] !== undefined && values.resume !== values['load-id'])
    throw new ConfigError(
      '--resume',
      'names the load id to resume: give it or --load-id, not two different ids',
    );
  return {
    usersFile: required(values.users, '--users'),
    dest: required(values.dest, '--dest'),
    ...(values['base-url'] === undefined ? {} : { baseUrl: values['base-url'] }),
    ...(values.resources === undefined ? {} : { resources: list(values.resources) ?? [] }),
    ...(values['load-id'] === undefined ? {} : { loadId: assertLoadId(values['load-id']) }),
    ...(values.resume === undefined ? {} : { loadId: assertLoadId(values.resume), resume: true }),
    ...(values.concurrency === undefined
      ? {}
      : { concurrency: positiveInt('--concurrency', values.concurrency, DEFAULTS.concurrency) }),
    rateLimit: positiveNumber('--rate-limit', values['rate-limit'], DEFAULTS.rateLimit),
    batchSize: positiveInt('--batch-size', values['batch-size'], DEFAULTS.batchSize),
    ...(values['secret-id'] === undefined ? {} : { secretId: values['secret-id'] }),
    ...(values.config === undefined ? {} : { configFile: values.config }),
    ...(values['task-ids'] === undefined ? {} : { taskIdsFile: values['task-ids'] }),
    json: values.json ?? false,
    quiet: values.quiet ?? false,
  };
}

/** Reads a file flag's file (relative to `cwd`); errors quote the path as it was typed. */
export async function readText(cwd: string, path: string, flag: string): Promise<string> {
  try {
    return await readFile(pathFrom(cwd, path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      flag,
      code === 'ENOENT' ? `file not found: ${path}` : `cannot read ${path} (${code ?? 'error'})`,
    );
  }
}

export async function readConfigFile(cwd: string, path: string | undefined): Promise<ConfigFile> {
  if (path === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readText(cwd, path, '--config'));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError('--config', `${path} is not valid JSON`);
  }
  return parseOrThrow(configFileSchema, parsed, 'config');
}

/** Runs a load and prints its summary; returns the exit code. */
export async function executeLoad(
  request: LoadRequest,
  io: Io,
): Promise<{ exitCode: number; summary?: LoadSummary }> {
  const startedAt = io.now();
  const file = await readConfigFile(io.cwd, request.configFile);
  const settings = loaderSettings({
    ...file,
    ...(request.baseUrl === undefined ? {} : { baseUrl: request.baseUrl }),
  });
  const resources = selectResources(settings.catalog, request.resources);
  const identifiers = parseUsersList(await readText(io.cwd, request.usersFile, '--users'), '--users');
  if (identifiers.length === 0) throw new ConfigError('--users', `${request.usersFile} lists no users`);
  const taskIds = request.taskIdsFile
    ? parseTaskIds(await readText(io.cwd, request.taskIdsFile, '--task-ids'), '--task-ids')
    : new Map<string, string[]>();
  const starved = taskIdsProblem(resources.steps, request.taskIdsFile !== undefined);
  if (starved !== undefined) throw new ConfigError('--task-ids', starved);
  const users: BatchUser[] = identifiers.map((identifier) => {
    const ids = taskIds.get(identifier);
    return ids ? { identifier, taskIds: ids } : { identifier };
  });
  await assertWritableDestination(destFrom(io.cwd, request.dest));
  const store = openStore(destFrom(io.cwd, request.dest));
  // Credentials last among the checks: a bad flag fails before any secret is fetched.
  const credentials = await resolveCredentials({
    env: io.env,
    ...(request.secretId === undefined ? {} : { secretId: request.secretId }),
  });
  const rateLimiter = createSystemRateLimiter(request.rateLimit ?? DEFAULTS.rateLimit);
  const api = createPayLinkClient({
    baseUrl: settings.baseUrl,
    credentials,
    rateLimiter,
    http: settings.http,
  });
  const loadId = request.loadId ?? loadIdFromTime(startedAt);
  const input = {
    loadId,
    startedAt,
    users,
    resources,
    batchSize: request.batchSize ?? DEFAULTS.batchSize,
    // Unless set: as many users as the rate limit and PayLink's latency need (Little's law).
    concurrency:
      request.concurrency ??
      adaptiveConcurrency({
        ratePerSecond: request.rateLimit ?? DEFAULTS.rateLimit,
        limiter: () => rateLimiterStats(rateLimiter),
        now: () => performance.now(),
      }),
  };
  if (request.resume) {
    const plan = await resumablePlan({ ...input, resources: resources.tables }, store);
    if (plan === undefined)
      throw new ConfigError('--resume', await whyNotResumable(store, input, resources.tables));
  }
  const progress = new Progress(users.length, () => api.stats().requests, io.stderr, !request.quiet);
  // First Ctrl-C / SIGTERM: no new user starts, users in flight finish. Second: stop at once.
  let interrupted: 'SIGINT' | 'SIGTERM' | undefined;
  let committing = false;
  const unsubscribe =
    io.onInterrupt?.((signal) => {
      if (interrupted !== undefined) {
        // Second signal: stop at once. During the commit that can leave published parts.
        io.stderr.write(
          committing
            ? `\n${signal}: stopped during the commit of load ${loadId}: not committed, and parts it published stay invisible. ` +
                `Re-run with --load-id ${loadId} to finish it, or remove them with 'paylink-loader verify --dest ${request.dest} --fix'.\n`
            : `\n${signal}: stopped at once. ${resumeHint(request, loadId)}\n`,
        );
        process.exit(
          committing ? EXIT.commitIncomplete : signal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated,
        );
      }
      interrupted = signal;
      io.stderr.write(
        committing
          ? `\n${signal}: the commit of load ${loadId} is finishing (again to stop it at once; the load then needs a re-run)\n`
          : `\n${signal}: finishing the users in flight, then stopping (again to stop at once; the load then resumes from its last staged batch)\n`,
      );
    }) ?? (() => undefined);
  try {
    const marker = await runLoad(
      { ...input, stop: () => interrupted !== undefined },
      {
        api,
        store,
        parts: createParquetPartWriterFactory(),
        reader: createParquetPartReader(),
        clock: io.now,
        onUser: progress.onUser,
        onStaged: progress.onStaged,
        onCommit: () => {
          committing = true;
        },
        onPlan: (plan, resumed) => {
          if (request.quiet) return;
          io.stderr.write(
            resumed
              ? `resuming load ${plan.loadId} into ${store.description}: batches already staged are kept\n`
              : `load ${plan.loadId} into ${store.description}: ${plan.users} users in ${plan.batches} batch(es)\n`,
          );
        },
        leasing: {
          options: {
            owner: cliLeaseOwner(`paylink-loader load --dest ${request.dest} --load-id ${loadId}`),
            ttlMs: DEFAULTS.leaseTtlMs,
            clock: io.now,
            isAbandoned: isAbandonedOnThisHost,
          },
          heartbeat: startHeartbeat,
        },
      },
    );
    progress.stop();
    const exitCode = exitCodeOf(marker);
    const summary = summarize(marker, {
      dest: store.description,
      retries: api.stats().retries,
      seconds: (io.now().getTime() - startedAt.getTime()) / 1000,
      exitCode,
    });
    io.stdout.write(request.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`);
    return { exitCode, summary };
  } catch (error) {
    if (!(error instanceof InterruptedError)) throw error;
    progress.stop();
    const again = resumeCommand(request, loadId);
    io.stderr.write(`${error.message}. ${resumeHint(request, loadId)}\n`);
    if (request.json)
      io.stdout.write(
        `${JSON.stringify({ error: { command: 'load', exitCode: interrupted === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted, code: error.code, message: error.message, committed: false, loadId, usersStaged: error.usersStaged, resume: again } }, null, 2)}\n`,
      );
    return { exitCode: interrupted === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted };
  } finally {
    unsubscribe();
    progress.stop();
  }
}

/** Why `--resume` cannot continue this load id: nothing staged, committed already, or other input. */
async function whyNotResumable(
  store: ObjectStore,
  input: { loadId: string; users: readonly BatchUser[]; batchSize: number },
  resources: readonly string[],
): Promise<string> {
  const { loadId } = input;
  const staged = await readJson<PlanDoc>(store, planKey(loadId)).catch(() => undefined);
  if (staged === undefined) {
    const committed = (await store.get(dltLoadsKey(loadId))) !== undefined;
    return committed
      ? `load ${loadId} is committed in ${store.description}, not interrupted: --load-id ${loadId} would replace it`
      : `nothing of load ${loadId} is staged in ${store.description}; use --load-id ${loadId} to load it`;
  }
  const differences: string[] = [];
  if (staged.batchSize !== input.batchSize)
    differences.push(`--batch-size ${staged.batchSize} (not ${input.batchSize})`);
  if (staged.resources.join(',') !== resources.join(','))
    differences.push(`--resources ${staged.resources.join(',')} (not ${resources.join(',')})`);
  const users = new Set(input.users.map((u) => u.identifier)).size;
  if (staged.users !== users) differences.push(`${staged.users} users (not ${users})`);
  return (
    `load ${loadId} in ${store.description} was staged with other input: ` +
    `${differences.length > 0 ? differences.join(', ') : 'another users list or task ids'}; ` +
    `resume it with the same --users, --batch-size and --resources, or load it again with --load-id ${loadId}`
  );
}

function resumeHint(request: LoadRequest, loadId: string): string {
  return `Resume with:\n  ${resumeCommand(request, loadId)}`;
}

/** The command that resumes this load: the same flags, `--resume <id>` in place of `--load-id`. */
function resumeCommand(request: LoadRequest, loadId: string): string {
  const quote = (value: string) =>
    /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
  const flags: string[] = ['paylink-loader', 'load', '--users', request.usersFile, '--dest', request.dest];
  if (request.baseUrl !== undefined) flags.push('--base-url', request.baseUrl);
  if (request.resources !== undefined) flags.push('--resources', request.resources.join(','));
  if (request.batchSize !== undefined) flags.push('--batch-size', String(request.batchSize));
  if (request.configFile !== undefined) flags.push('--config', request.configFile);
  if (request.taskIdsFile !== undefined) flags.push('--task-ids', request.taskIdsFile);
  if (request.secretId !== undefined) flags.push('--secret-id', request.secretId);
  if (request.rateLimit !== undefined) flags.push('--rate-limit', String(request.rateLimit));
  if (request.concurrency !== undefined) flags.push('--concurrency', String(request.concurrency));
  flags.push('--resume', loadId);
  return flags.map(quote).join(' ');
}

export async function loadCommand(argv: readonly string[], io: Io): Promise<number> {
  const { exitCode } = await executeLoad(parseLoadArgs(argv), io);
  return exitCode;
}
