/**
 * `paylink-loader load`: the whole job in one process. Exit codes (summary.ts EXIT):
 *   0  every user loaded and committed
 *   3  committed, some users failed (listed, and recorded in user_loads)
 *   4  committed, a resource was found unusable and disabled (named, with its fix)
 *   5  committed, both 3 and 4
 *   1  nothing committed (bad input, credentials rejected, PayLink unreachable, lake unwritable, ...)
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { resolveCredentials } from '#adapters/credentials.ts';
import { eventLoopLateness } from '#adapters/event-loop-lateness.ts';
import { cliLeaseOwner, isAbandonedOnThisHost, startHeartbeat } from '#adapters/lease-owner.ts';
import { openStore } from '#adapters/open-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createWorkerPartWriterFactory } from '#adapters/parquet-worker-writer.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { createPayLinkClient } from '#adapters/paylink-client.ts';
import { processCpuMs } from '#adapters/process-cpu.ts';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import {
  ADAPTIVE_CONCURRENCY,
  adaptiveConcurrency,
  cappedConcurrencyNote,
  userConcurrencyNow,
} from '#core/adaptive-concurrency.ts';
import { plural } from '#core/capacity.ts';
import {
  type ChangedSelection,
  changedLockId,
  heldBackForSchedule,
  refuseListRerunOfChanged,
  reusedSelection,
  selectChangedUsers,
} from '#core/changed-users.ts';
import type { LoadMarker } from '#core/commit.ts';
import {
  type ConfigFile,
  configFileSchema,
  loaderSettings,
  parseOrThrow,
  selectResources,
} from '#core/config.ts';
import { DEFAULTS } from '#core/constants.ts';
import { ConfigError, InterruptedError, LakeStateError, LeaseHeldError } from '#core/errors.ts';
import { heldBackWords } from '#core/event-log.ts';
import { workerHeapMib } from '#core/heap-budget.ts';
import {
  assertLoadId,
  dltLoadsKey,
  loadIdFromTime,
  loadIdTime,
  loadMarkerKey,
  planKey,
  stagingPrefix,
} from '#core/layout.ts';
import { learnedUsers } from '#core/learned-users.ts';
import { acquireLease, type Lease } from '#core/lease.ts';
import type { BatchUser } from '#core/load-batch.ts';
import { taskIdsProblem } from '#core/load-user.ts';
import { type PlanDoc, resumablePlan } from '#core/plan.ts';
import type { ObjectStore, PartWriterFactory } from '#core/ports.ts';
import {
  type LoadSignals,
  loadSignals,
  type QualitySettings,
  qualityRecord,
  readEarlierLoads,
} from '#core/quality.ts';
import { rateLimiterStats } from '#core/rate-limiter.ts';
import { runLoad } from '#core/run-load.ts';
import { LOCAL_SCHEDULE, localChangedSchedule } from '#core/schedule-config.ts';
import { readJson } from '#core/store-json.ts';
import { TASK_RETIREMENT } from '#core/task-retirement.ts';
import { registeredTaskIds } from '#core/user-registry.ts';
import { parseTaskIds, parseUsersList, usersText } from '#core/users.ts';
import { createWaitMeter } from '#core/wait-meter.ts';
import {
  destFrom,
  existingLakeFrom,
  list,
  numberFlag,
  optionalNumberFlag,
  parseFlags,
  pathFrom,
  required,
} from './args.ts';
import { assertWritableDestination } from './dest-folder.ts';
import { dryRunReport, formatDryRun } from './dry-run.ts';
import { failureReasons } from './failure-reasons.ts';
import { BATCH_SIZE, CONCURRENCY, MAX_USERS_PER_RUN_RANGE, RATE_LIMIT } from './flag-ranges.ts';
import type { Io } from './io.ts';
import { committedFailedUsers, LoadNotFoundError } from './load-report.ts';
import { Progress } from './progress.ts';
import { roundMedian } from './quality-report.ts';
import { readQualitySettings } from './stack-config.ts';
import {
  changedUsersWords,
  deferredCommitted,
  deferredWords,
  EXIT,
  exitCodeOf,
  formatSummary,
  type LoadSummary,
  type QuietFeedSummary,
  summarize,
} from './summary.ts';
import { warnSurroundingWhitespace } from './users-notes.ts';

export { changedUsersWords };

export const LOAD_USAGE = `paylink-loader load --users <file|changed> --dest <dir|s3://bucket/prefix> [options]

  --users <file>          one user identifier per line (spaces and any Unicode allowed); the
                          users learned from webhook events (the lake's registry) are added
  --users changed         only the users with webhook events in the lake that no committed
                          'changed' load has seen, with the task ids events named (a file
                          named 'changed' is ./changed); with the --load-id of a changed load,
                          that load's users again (a re-run replaces it)
  --users-from-failed <id>  instead of --users: the users load <id> of this lake failed (as
                          'paylink-loader failed' lists them), into a new load; --resources
                          defaults to that load's
  --dest <dir|s3://...>   the lake: a local folder or s3://bucket/prefix
  --base-url <url>        PayLink API (default ${DEFAULTS.baseUrl})
  --resources a,b         tables to load (default: all user-scoped feeds but account, tasks)
  --load-id <id>          re-use a load id: re-running it replaces that load, never duplicates;
                          an interrupted load id resumes (batches it staged are kept). Data goes
                          under dt=<the load's start date (UTC)>; an id of 9-11 digits
                          (dlt's <unix seconds>[.micros]) under the date it names, which must be
                          from 2000-01-01 to a day after now (else refused)
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
  --max-users-per-run <n> with --users changed: load at most n users; the users over it (whose
                          oldest new event is newest) keep their events for the next changed
                          load, which takes them first (default: every user with new events)
  --retire-task-after <n> stop fetching a task id learned from webhook events after PayLink
                          answered 404 for it in n committed loads in a row while it answered
                          other task ids (default ${TASK_RETIREMENT.retireAfterMisses}; README "Task ids PayLink no longer knows")
  --dry-run               check everything and print the plan; load and write nothing: flags,
                          config, users, credentials (one token minted for the first user),
                          the lake (writable, schema registry readable, load id not running)
  --stack-config <cdk.json>  judge the load's quiet feeds with the stack's data-quality
                          settings (context.paylink.dataQuality), as status does; without it,
                          ./cdk.json when the working folder has one with a paylink context
  --json                  print the summary as JSON on stdout
  --quiet                 no progress on stderr`;

export interface LoadRequest {
  /** The users list; absent with `usersFromFailed`. */
  readonly usersFile?: string;
  /** `--users-from-failed`: load the users this committed load failed, into a new load. */
  readonly usersFromFailed?: string;
  /** `--dry-run`: validate and print the plan, write nothing. */
  readonly dryRun?: boolean;
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
  /** `--retire-task-after`: consecutive 404 loads that retire a registry task id. */
  readonly retireTaskAfter?: number;
  /** `--max-users-per-run`: a `--users changed` load's cap (absent: unlimited). */
  readonly maxUsersPerRun?: number;
  /** `--stack-config`: the cdk.json whose dataQuality judges the load's quiet feeds (else ./cdk.json). */
  readonly stackConfig?: string;
  readonly json?: boolean;
  readonly quiet?: boolean;
}

/** A whole number of loads from 1 to TASK_RETIREMENT.maxRetireAfterMisses (synth's retireTaskAfterMisses). */
function retireAfter(flag: string, raw: string): number {
  return numberFlag(flag, raw, {
    min: 1,
    max: TASK_RETIREMENT.maxRetireAfterMisses,
    whole: true,
    words: `a whole number of loads from 1 to ${TASK_RETIREMENT.maxRetireAfterMisses}`,
  });
}

export function parseLoadArgs(argv: readonly string[]): LoadRequest {
  const { values } = parseFlags(
    argv,
    {
      users: { type: 'string' },
      'users-from-failed': { type: 'string' },
      'dry-run': { type: 'boolean' },
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
      'retire-task-after': { type: 'string' },
      'max-users-per-run': { type: 'string' },
      'stack-config': { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
    false,
    // Negative values reach their checks, which name each flag's real range.
    ['concurrency', 'rate-limit', 'batch-size', 'retire-task-after', 'max-users-per-run'],
  );
  if (values['max-users-per-run'] !== undefined && values.users !== 'changed')
    throw new ConfigError(
      '--max-users-per-run',
      'only applies to --users changed (a users list, or the failed users of a load, are loaded whole)',
    );
  if (values.resume !== undefined && values['load-id'] !== undefined && values.resume !== values['load-id'])
    throw new ConfigError(
      '--resume',
      'names the load id to resume: give it or --load-id, not two different ids',
    );
  const fromFailed = values['users-from-failed'];
  if (fromFailed !== undefined) {
    if (values.users !== undefined)
      throw new ConfigError(
        '--users-from-failed',
        'takes the users from the lake: give it or --users, not both',
      );
    // --resume of the re-run itself is fine: the failed users of a committed load do not change.
    for (const flag of ['load-id', 'resume'] as const)
      if (values[flag] === fromFailed)
        throw new ConfigError(
          `--${flag}`,
          `would replace load ${fromFailed} with only its failed users; give the re-run another id (or none)`,
        );
  } else if (values.users === undefined)
    throw new ConfigError('--users', 'is required (or --users-from-failed <id>)');
  return {
    ...(fromFailed === undefined
      ? { usersFile: required(values.users, '--users') }
      : { usersFromFailed: assertLoadId(fromFailed) }),
    dryRun: values['dry-run'] ?? false,
    dest: required(values.dest, '--dest'),
    ...(values['base-url'] === undefined ? {} : { baseUrl: values['base-url'] }),
    ...(values.resources === undefined ? {} : { resources: list(values.resources) ?? [] }),
    ...(values['load-id'] === undefined ? {} : { loadId: assertLoadId(values['load-id']) }),
    ...(values.resume === undefined ? {} : { loadId: assertLoadId(values.resume), resume: true }),
    ...(values.concurrency === undefined
      ? {}
      : { concurrency: numberFlag('--concurrency', values.concurrency, CONCURRENCY) }),
    rateLimit: optionalNumberFlag('--rate-limit', values['rate-limit'], RATE_LIMIT, DEFAULTS.rateLimit),
    batchSize: optionalNumberFlag('--batch-size', values['batch-size'], BATCH_SIZE, DEFAULTS.batchSize),
    ...(values['secret-id'] === undefined ? {} : { secretId: values['secret-id'] }),
    ...(values.config === undefined ? {} : { configFile: values.config }),
    ...(values['task-ids'] === undefined ? {} : { taskIdsFile: values['task-ids'] }),
    ...(values['retire-task-after'] === undefined
      ? {}
      : { retireTaskAfter: retireAfter('--retire-task-after', values['retire-task-after']) }),
    ...(values['max-users-per-run'] === undefined
      ? {}
      : {
          maxUsersPerRun: numberFlag(
            '--max-users-per-run',
            values['max-users-per-run'],
            MAX_USERS_PER_RUN_RANGE,
          ),
        }),
    ...(values['stack-config'] === undefined
      ? {}
      : { stackConfig: required(values['stack-config'], '--stack-config') }),
    json: values.json ?? false,
    quiet: values.quiet ?? false,
  };
}

/** Reads a file flag's file (relative to `cwd`); errors quote the path as it was typed. */
export async function readText(cwd: string, path: string, flag: string): Promise<string> {
  return new TextDecoder().decode(await readBytes(cwd, path, flag));
}

/** A file flag's bytes, for files whose encoding is checked (a users list must be UTF-8). */
export async function readBytes(cwd: string, path: string, flag: string): Promise<Uint8Array> {
  try {
    return await readFile(pathFrom(cwd, path));
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
  const loadId = request.loadId ?? loadIdFromTime(startedAt);
  // Ctrl-C while the load is being prepared (flags, files, credentials, the lake checked):
  // nothing of this run is staged yet, so it stops at once and says so.
  let started = false;
  const unsubscribeEarly =
    io.onInterrupt?.((signal) => {
      if (started || io.exit === undefined) return;
      const message = notStartedMessage(request, loadId, io.cwd);
      const exitCode = signalExitCode(signal);
      io.stderr.write(`\n${signal}: ${message}\n`);
      if (request.json) io.stdout.write(`${interruptedJson({ exitCode, message, loadId })}\n`);
      io.exit(exitCode);
    }) ?? (() => undefined);
  try {
    return await prepareAndRun(request, io, startedAt, loadId, () => {
      started = true;
      unsubscribeEarly();
    });
  } catch (error) {
    // Once the load started (its id was printed), its failure's --json object names the id even
    // when it was generated rather than given (main.ts reads `loadId` off the error).
    if (started && error instanceof Error && !('loadId' in error))
      Object.defineProperty(error, 'loadId', { value: loadId, enumerable: false });
    throw error;
  } finally {
    unsubscribeEarly();
  }
}

/** What `load --users changed` loads without `--resources`: every default feed, and `tasks` for its events' task ids. */
function changedDefaultTables(catalog: Parameters<typeof selectResources>[0]): string[] {
  return [...selectResources(catalog).tables, 'tasks'];
}

/**
 * The changed schedule `load --users changed [--resources ...]` advances with `catalog`
 * (core/schedule-config.ts `localChangedSchedule`).
 */
export function changedScheduleOf(
  catalog: Parameters<typeof selectResources>[0],
  resources: readonly string[] | undefined,
): string {
  return localChangedSchedule(
    resources === undefined ? undefined : selectResources(catalog, resources).tables,
    changedDefaultTables(catalog),
  );
}

/** What an interruption before the first batch means: this run wrote nothing. */
function notStartedMessage(request: LoadRequest, loadId: string, cwd: string): string {
  return request.resume
    ? `stopped before resuming load ${loadId}: this run wrote nothing, and what the load staged before is kept. ${resumeHint(request, loadId, cwd)}`
    : `stopped before load ${loadId} started: nothing was staged or committed.`;
}

async function prepareAndRun(
  request: LoadRequest,
  io: Io,
  startedAt: Date,
  loadId: string,
  onStart: () => void,
): Promise<{ exitCode: number; summary?: LoadSummary }> {
  const file = await readConfigFile(io.cwd, request.configFile);
  // The quiet-feed judgement's settings, read as `status` reads them: a bad cdk.json fails now.
  const quality = (await readQualitySettings(io, request.stackConfig)).settings;
  const settings = loaderSettings({
    ...file,
    ...(request.baseUrl === undefined ? {} : { baseUrl: request.baseUrl }),
  });
  const dest = destFrom(io.cwd, request.dest);
  if (request.usersFile === 'changed') await warnChangedFileIgnored(io);
  // A changed load of other resources than the command's own keeps its own record of the events
  // it has seen (core/schedule-config.ts localChangedSchedule).
  const schedule =
    request.usersFile === 'changed' ? changedScheduleOf(settings.catalog, request.resources) : LOCAL_SCHEDULE;
  const source = await usersOf(request, io.cwd, dest, io.now, schedule);
  try {
    return await loadUsers(request, io, startedAt, loadId, onStart, settings, quality, dest, source);
  } finally {
    // A `changed` load holds its schedule's lock from its selection until after its commit.
    await source.release?.();
  }
}

async function loadUsers(
  request: LoadRequest,
  io: Io,
  startedAt: Date,
  loadId: string,
  onStart: () => void,
  settings: ReturnType<typeof loaderSettings>,
  quality: QualitySettings,
  dest: string,
  source: UsersToLoad,
): Promise<{ exitCode: number; summary?: LoadSummary }> {
  // The users alone: the events' notes (set aside, no usable task id) are not about whitespace.
  warnSurroundingWhitespace(io, source.identifiers, source.users ?? source.description);
  if (source.identifiers.length === 0) {
    // Only `--users changed` gets here: nothing happened since the last changed load (or only
    // events it does not list yet, dated ahead: its notes say so).
    for (const note of source.notes ?? []) io.stderr.write(`${note}\n`);
    io.stderr.write(`${source.description}: nothing to load\n`);
    return { exitCode: EXIT.ok };
  }
  // A changed load also fetches the tasks its events named, unless --resources says otherwise.
  const withTasks =
    source.changed !== undefined && request.resources === undefined && source.taskIds.size > 0
      ? changedDefaultTables(settings.catalog)
      : undefined;
  const resources = selectResources(settings.catalog, request.resources ?? withTasks ?? source.resources);
  const { identifiers } = source;
  const taskIds = source.taskIds;
  if (request.taskIdsFile)
    for (const [identifier, ids] of parseTaskIds(
      await readText(io.cwd, request.taskIdsFile, '--task-ids'),
      '--task-ids',
    ))
      taskIds.set(identifier, [...new Set([...(taskIds.get(identifier) ?? []), ...ids])]);
  const starved = taskIdsProblem(resources.steps, request.taskIdsFile !== undefined || taskIds.size > 0);
  // A users list: the registry (read once the lake is checked) may still know task ids.
  if (starved !== undefined && source.changed !== undefined) throw new ConfigError('--task-ids', starved);
  await assertWritableDestination(dest);
  const store = openStore(dest);
  if (request.usersFromFailed !== undefined) {
    // The failed users of a load that fetched tasks: the task ids the lake learned for them
    // (their events, through the registry) are what that load used, so the re-run needs no file.
    for (const [identifier, ids] of await registeredTaskIds(store, identifiers))
      taskIds.set(identifier, [...new Set([...(taskIds.get(identifier) ?? []), ...ids])]);
  }
  /** Task ids the registry retired (task-retirement.ts): a load with only those has nothing to fetch, by design. */
  let retiredTaskIds = 0;
  /** Users a list load adds from webhook events (not in the list): counted apart in --dry-run. */
  let learnedCount = 0;
  if (request.usersFromFailed === undefined && source.changed === undefined) {
    // Users learned from webhook events join the load (not the file): PayLink cannot list them.
    // The registry's, and those of events no load has committed yet (learned-users.ts).
    const listed = identifiers.length;
    const known = new Set(identifiers);
    const learned = await learnedUsers(store, startedAt);
    retiredTaskIds = learned.retiredTaskIds;
    for (const identifier of learned.identifiers) if (!known.has(identifier)) identifiers.push(identifier);
    learnedCount = identifiers.length - listed;
    // Warned as a changed load warns of the same users (the list's own were warned above).
    warnSurroundingWhitespace(
      io,
      identifiers.slice(listed),
      `the user(s) learned from webhook events that ${source.description} does not list`,
    );
    for (const [identifier, ids] of learned.taskIds)
      taskIds.set(identifier, [...new Set([...ids, ...(taskIds.get(identifier) ?? [])])]);
    if (identifiers.length > listed && !request.quiet)
      io.stderr.write(
        `also loading ${identifiers.length - listed} user(s) learned from webhook events that ${source.description} does not list (the file is not changed)\n`,
      );
  }
  if (starved !== undefined && taskIdsProblem(resources.steps, taskIds.size > 0) !== undefined) {
    if (retiredTaskIds === 0) throw new ConfigError('--task-ids', starved);
    // Every task id the lake learned is retired: the tasks units load nothing, current state keeps them.
    if (!request.quiet)
      io.stderr.write(
        `no task id to fetch: the ${retiredTaskIds} task id(s) learned from webhook events are retired (a final status, or PayLink no longer knows them; README "Task ids PayLink no longer knows")\n`,
      );
  }
  const users: BatchUser[] = identifiers.map((identifier) => {
    const ids = taskIds.get(identifier);
    return ids ? { identifier, taskIds: ids } : { identifier };
  });
  if (request.loadId !== undefined) await assertSensibleLoadDate(store, request.loadId, startedAt);
  // Credentials last among the checks: a bad flag fails before any secret is fetched.
  const credentials = await resolveCredentials({
    env: io.env,
    ...(request.secretId === undefined ? {} : { secretId: request.secretId }),
  });
  const rateLimiter = createSystemRateLimiter(request.rateLimit ?? DEFAULTS.rateLimit);
  const backoff = createWaitMeter(() => performance.now());
  const api = createPayLinkClient({
    baseUrl: settings.baseUrl,
    credentials,
    rateLimiter,
    backoff,
    http: settings.http,
  });
  // Started by the first adaptive window, stopped when the load ends (whatever way it ends).
  const lateness = eventLoopLateness();
  const adaptive =
    request.concurrency === undefined
      ? adaptiveConcurrency({
          ratePerSecond: request.rateLimit ?? DEFAULTS.rateLimit,
          limiter: () => rateLimiterStats(rateLimiter),
          backoffMs: backoff.totalMs,
          client: () => api.stats(),
          loopDelayMs: lateness.sinceLast,
          cpuMs: processCpuMs,
          now: () => performance.now(),
        })
      : undefined;
  const input = {
    loadId,
    startedAt,
    users,
    resources,
    schedule: LOCAL_SCHEDULE,
    ...(source.changed === undefined ? {} : { changed: source.changed }),
    ...(request.usersFromFailed === undefined ? {} : { usersFromFailed: true as const }),
    batchSize: request.batchSize ?? DEFAULTS.batchSize,
    // Unless set: as many users as the rate limit and PayLink's latency need (Little's law).
    concurrency: adaptive ?? request.concurrency ?? DEFAULTS.concurrency,
  };
  if (request.resume) {
    const plan = await resumablePlan({ ...input, resources: resources.tables }, store);
    if (plan === undefined)
      throw new ConfigError('--resume', await whyNotResumable(store, input, resources.tables));
  }
  if (request.dryRun) {
    const report = await dryRunReport({
      ...input,
      concurrency: typeof input.concurrency === 'number' ? input.concurrency : 'adaptive',
      resources: resources.tables,
      store,
      api,
      baseUrl: settings.baseUrl,
      credentialsFrom: request.secretId === undefined ? 'environment' : `secret ${request.secretId}`,
      rateLimit: request.rateLimit ?? DEFAULTS.rateLimit,
      usersFrom: source.description,
      learnedUsers: learnedCount,
      ...(source.notes === undefined ? {} : { notes: source.notes }),
      now: io.now(),
    });
    io.stdout.write(request.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDryRun(report)}\n`);
    return { exitCode: EXIT.ok };
  }
  const progress = new Progress(users.length, () => api.stats().requests, io.stderr, !request.quiet);
  progress.showConcurrency(() => userConcurrencyNow(input.concurrency));
  const say = (text: string) => {
    // Through the progress: a line drawn already is cleared first, never appended to.
    if (!request.quiet) progress.log(text);
  };
  for (const note of source.notes ?? []) say(`${note}\n`);
  // A committed load id is re-run as itself: its data is replaced, its webhook events are not
  // extended (event-claims.ts): said, so nobody waits for the new events in this load.
  if (request.loadId !== undefined && (await store.get(dltLoadsKey(loadId))) !== undefined)
    say(
      `load ${loadId} is already committed in ${store.description}: this run replaces it, with the webhook events it committed (events received since are left for the next load)\n`,
    );
  // From here a signal is the load's to handle (finish the users in flight, keep what is staged).
  onStart();
  const exit = io.exit ?? ((code: number) => process.exit(code));
  // First Ctrl-C / SIGTERM: no new user starts, users in flight finish. Second: stop at once.
  let interrupted: 'SIGINT' | 'SIGTERM' | undefined;
  let committing = false;
  const unsubscribe =
    io.onInterrupt?.((signal) => {
      if (interrupted !== undefined) {
        if (committing) {
          // The commit may have passed its commit point already: the lake, not this process's
          // state, says which (a "not committed" said of a committed load sends people to fix it).
          void stoppedDuringCommit(store, loadId, destFrom(io.cwd, request.dest)).then((after) => {
            io.stderr.write(`\n${signal}: ${after.message}\n`);
            exit(after.exitCode);
          });
          return;
        }
        io.stderr.write(`\n${signal}: stopped at once. ${resumeHint(request, loadId, io.cwd)}\n`);
        exit(signalExitCode(signal));
        return;
      }
      interrupted = signal;
      io.stderr.write(
        committing
          ? `\n${signal}: the commit of load ${loadId} is finishing (again to stop it at once; the load then needs a re-run)\n`
          : `\n${signal}: finishing the users in flight, then stopping (again to stop at once; the load then resumes from its last staged batch)\n`,
      );
    }) ?? (() => undefined);
  // A resumed load says what the earlier attempt left that it keeps, once it knows.
  const kept = { resumed: false, said: false, batches: 0, users: 0, plannedUsers: 0, plannedBatches: 0 };
  const sayKept = () => {
    if (!kept.resumed || kept.said) return;
    kept.said = true;
    say(
      kept.batches === 0
        ? `no batch of the earlier attempt was complete: all ${kept.plannedUsers} users load again\n`
        : `kept ${kept.batches} of ${kept.plannedBatches} batches (${kept.users} of ${kept.plannedUsers} users) the earlier attempt staged; loading the rest\n`,
    );
  };
  // The commit's quality judgement (the report records its quiet feeds; the summary shows them).
  let judged: LoadSignals | undefined;
  try {
    const marker = await runLoad(
      { ...input, stop: () => interrupted !== undefined },
      {
        api,
        store,
        parts: cliPartWriters(io.env),
        reader: createParquetPartReader(),
        clock: io.now,
        ...(request.retireTaskAfter === undefined ? {} : { retireTaskAfterMisses: request.retireTaskAfter }),
        judge: async (draft) => {
          judged = await judgeQuality(store, draft, quality);
          return judged === undefined ? undefined : qualityRecord(judged.tables);
        },
        // Another commit of this lake holds the events lock: say so (even with --quiet), or a
        // wait of minutes looks like a hang.
        eventsLock: { onWait: (message) => progress.log(`${message}\n`), isAbandoned: isAbandonedOnThisHost },
        onUser: progress.onUser,
        onStaged: (stagedUsers) => {
          kept.batches++;
          kept.users += stagedUsers;
          progress.onStaged(stagedUsers);
        },
        onBatch: sayKept,
        onCommit: () => {
          committing = true;
          sayKept();
          const capped =
            adaptive === undefined
              ? undefined
              : cappedConcurrencyNote(adaptive.state(), request.rateLimit ?? DEFAULTS.rateLimit);
          if (capped !== undefined) say(`${capped}\n`);
          // The users are done; what is left is the lake's work, and rates that fall would mislead.
          progress.stop();
          say(
            `committing load ${loadId}: merging each table's parts into one file per partition, publishing\n`,
          );
        },
        onPlan: (plan, resumed) => {
          kept.resumed = resumed;
          kept.plannedUsers = plan.users;
          kept.plannedBatches = plan.batches;
          say(
            resumed
              ? `resuming load ${plan.loadId} into ${store.description}\n`
              : `load ${plan.loadId} into ${store.description}: ${plan.users} users in ${plan.batches} batch(es)${source.users === undefined ? '' : `: ${source.users}`}\n`,
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
      failureReasons: await failureReasons(store, marker),
      dest: store.description,
      retries: api.stats().retries,
      ...(kept.resumed ? { requestsThisRun: api.stats().requests } : {}),
      userConcurrency: userConcurrencyNow(input.concurrency),
      seconds: (io.now().getTime() - startedAt.getTime()) / 1000,
      exitCode,
      // The feed tables the judgement compared (earlier loads had them): 0 rows shown, not left out.
      ...(judged === undefined ? {} : { knownTables: judged.tables.map((t) => t.table) }),
    });
    // Judged: quietFeeds is there, [] when none was quiet, so a script tells that from "not judged".
    const shown =
      judged === undefined
        ? summary
        : {
            ...summary,
            quietFeeds: quietFeedsOf(judged),
            judgedFeeds: judged.tables.filter((t) => t.ratio !== undefined).map((t) => t.table),
          };
    io.stdout.write(request.json ? `${JSON.stringify(shown, null, 2)}\n` : `${formatSummary(shown)}\n`);
    return { exitCode, summary: shown };
  } catch (error) {
    if (!(error instanceof InterruptedError)) throw error;
    progress.stop();
    const exitCode = signalExitCode(interrupted ?? 'SIGINT');
    io.stderr.write(`${error.message}. ${resumeHint(request, loadId, io.cwd)}\n`);
    if (request.json)
      io.stdout.write(
        `${interruptedJson({ exitCode, message: error.message, loadId }, { usersStaged: error.usersStaged, resume: resumeCommand(request, loadId, io.cwd) })}\n`,
      );
    return { exitCode };
  } finally {
    unsubscribe();
    progress.stop();
    lateness.stop();
  }
}

/** What a second signal during the commit leaves: the message and the exit code. */
export interface StoppedInCommit {
  readonly committed: boolean | undefined;
  readonly message: string;
  readonly exitCode: number;
}

/** How long a second Ctrl-C waits for the lake to say whether the commit point was passed. */
const COMMIT_STATE_WAIT_MS = 3_000;

/**
 * Whether a load stopped at once during its commit was committed, read from the lake: its
 * `_dlt_loads` row is the commit point (commit.ts), its `_loads` report the figures behind the
 * exit code. Committed: the exit code of the committed load (0, 3, 4, 5) and only its clean-up
 * was cut short. Not committed: EXIT.commitIncomplete. Unreadable within COMMIT_STATE_WAIT_MS:
 * EXIT.commitIncomplete, saying that `status --load-id` tells.
 */
export async function stoppedDuringCommit(
  store: ObjectStore,
  loadId: string,
  dest: string,
  waitMs = COMMIT_STATE_WAIT_MS,
): Promise<StoppedInCommit> {
  const fixHint = `'paylink-loader verify --dest ${dest} --fix'`;
  let timer: NodeJS.Timeout | undefined;
  const state = await Promise.race([
    Promise.all([store.get(dltLoadsKey(loadId)), readJson<LoadMarker>(store, loadMarkerKey(loadId))]).then(
      ([row, marker]) => ({ row: row !== undefined, marker }),
      (error: unknown) => ({ error }),
    ),
    new Promise<{ error: unknown }>((resolve) => {
      timer = setTimeout(() => resolve({ error: new Error(`no answer within ${waitMs / 1000} s`) }), waitMs);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
  if ('error' in state) {
    const cause = state.error instanceof Error ? state.error.message : String(state.error);
    return {
      committed: undefined,
      message:
        `stopped during the commit of load ${loadId}; whether it passed its commit point could not be read (${cause}). ` +
        `'paylink-loader status --dest ${dest} --load-id ${loadId}' tells; if not committed, re-run with --load-id ${loadId} or run 'paylink-loader verify --dest ${dest} --fix --discard-resumable'.`,
      exitCode: EXIT.commitIncomplete,
    };
  }
  if (state.row && state.marker !== undefined)
    return {
      committed: true,
      message: `stopped after load ${loadId} was committed: only its clean-up of staging was cut short (${fixHint} removes what is left).`,
      exitCode: exitCodeOf(state.marker),
    };
  return {
    committed: false,
    message:
      `stopped during the commit of load ${loadId}: not committed, and parts it published stay invisible. ` +
      `Re-run with --load-id ${loadId} to finish it, or remove them with 'paylink-loader verify --dest ${dest} --fix --discard-resumable'.`,
    exitCode: EXIT.commitIncomplete,
  };
}

/** The `--json` error object of an interrupted load (README, "Exit codes"). */
function interruptedJson(
  fields: { exitCode: number; message: string; loadId: string },
  staged: { usersStaged?: number; resume?: string } = {},
): string {
  const { exitCode, message, loadId } = fields;
  const error = {
    command: 'load',
    exitCode,
    code: 'interrupted',
    message,
    committed: false,
    loadId,
    ...staged,
  };
  return JSON.stringify({ error }, null, 2);
}

/** The exit code of a load stopped by a signal: 130 for SIGINT, 143 for SIGTERM (128 + signal). */
function signalExitCode(signal: 'SIGINT' | 'SIGTERM'): number {
  return signal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated;
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

function resumeHint(request: LoadRequest, loadId: string, cwd: string): string {
  return `Resume with:\n  ${resumeCommand(request, loadId, cwd)}`;
}

/**
 * The command that resumes this load: the same flags, `--resume <id>` in place of `--load-id`,
 * with file and folder paths made absolute so that it works from any directory.
 */
function resumeCommand(request: LoadRequest, loadId: string, cwd: string): string {
  const quote = (value: string) =>
    /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
  const file = (path: string) => pathFrom(cwd, path);
  const flags: string[] = ['paylink-loader', 'load'];
  // `--users changed` is a keyword, not a file: kept as typed (a file named so is ./changed).
  if (request.usersFile !== undefined)
    flags.push('--users', request.usersFile === 'changed' ? 'changed' : file(request.usersFile));
  if (request.usersFromFailed !== undefined) flags.push('--users-from-failed', request.usersFromFailed);
  flags.push('--dest', destFrom(cwd, request.dest));
  if (request.baseUrl !== undefined) flags.push('--base-url', request.baseUrl);
  if (request.resources !== undefined) flags.push('--resources', request.resources.join(','));
  if (request.batchSize !== undefined) flags.push('--batch-size', String(request.batchSize));
  if (request.configFile !== undefined) flags.push('--config', file(request.configFile));
  if (request.taskIdsFile !== undefined) flags.push('--task-ids', file(request.taskIdsFile));
  if (request.retireTaskAfter !== undefined)
    flags.push('--retire-task-after', String(request.retireTaskAfter));
  if (request.maxUsersPerRun !== undefined) flags.push('--max-users-per-run', String(request.maxUsersPerRun));
  if (request.secretId !== undefined) flags.push('--secret-id', request.secretId);
  if (request.rateLimit !== undefined) flags.push('--rate-limit', String(request.rateLimit));
  if (request.concurrency !== undefined) flags.push('--concurrency', String(request.concurrency));
  flags.push('--resume', loadId);
  return flags.map(quote).join(' ');
}

/** The users to load: the `--users` file, or the failed users of a committed load of this lake. */
interface UsersToLoad {
  readonly identifiers: string[];
  readonly resources?: readonly string[];
  readonly description: string;
  /**
   * A `changed` load: who its users are, without the notes on its events that `description`
   * carries (events set aside, events naming no usable task id), for lines about the users.
   */
  readonly users?: string;
  /** Task ids known per user (the lake's registry, a changed load's events). */
  readonly taskIds: Map<string, string[]>;
  /** Set for `--users changed`. */
  readonly changed?: ChangedSelection;
  /** Gives up the lock a `changed` load holds on its schedule (`holdChangedLock`). */
  readonly release?: () => Promise<void>;
  /** Worth saying before the load (the first `changed` load is a full one). */
  readonly notes?: readonly string[];
}

/**
 * The lock of the lake's local `changed` schedule, held from the selection of the users until
 * after the commit has folded what the load saw: two changed loads at once would both select
 * the users of the same new events and fetch them twice (their events are committed once
 * either way, under the events lock). A lease (lease.ts) on a pseudo load id, renewed while the
 * run lives, taken over at once when its holder was a `load` on this host that is gone.
 *
 * @throws LakeStateError naming the holder when another changed load of the lake is running.
 */
async function holdChangedLock(
  store: ObjectStore,
  request: LoadRequest,
  clock: () => Date,
  schedule: string,
): Promise<() => Promise<void>> {
  let lease: Lease;
  try {
    lease = await acquireLease(store, changedLockId(schedule), {
      owner: cliLeaseOwner(`paylink-loader load --users changed --dest ${request.dest}`),
      ttlMs: DEFAULTS.leaseTtlMs,
      clock,
      isAbandoned: isAbandonedOnThisHost,
    });
  } catch (error) {
    if (!(error instanceof LeaseHeldError)) throw error;
    throw new LakeStateError(
      `another 'changed' load of ${store.description} is running: ${error.holder}. Both would load the users of the same webhook events; ` +
        'run this one again once it has finished (it then loads what that one did not take)',
      error,
    );
  }
  const stop = startHeartbeat(() => lease.renew(), Math.max(1, Math.floor(DEFAULTS.leaseTtlMs / 3)));
  return async () => {
    stop();
    await lease.release().catch(() => undefined);
  };
}

/**
 * The schedule of the CLI's loads (core/schedule-config.ts, which refuses it as a deployed
 * schedule's name): named in their reports, so the quality signals compare a local load with
 * local loads only (lambdas/core/quality.ts `seriesOf`), and the name `load --users changed`
 * advances in the lake (`_state/changed/local.json`).
 */
export { LOCAL_SCHEDULE };

/**
 * `--users changed` is the keyword, always: a scheduled `load --users changed` must not turn into
 * a load of whatever file named `changed` appears in its working folder. A person who meant that
 * file is told it was not read, and how to name it.
 */
async function warnChangedFileIgnored(io: Pick<Io, 'cwd' | 'stderr'>): Promise<void> {
  // A folder named so is no users list: nothing to mistake.
  const found = await stat(join(io.cwd, 'changed')).catch(() => undefined);
  if (found?.isFile() !== true) return;
  io.stderr.write(
    'warning: --users changed loads the users of new webhook events; the file ./changed in the working folder is not read (to load the users it lists, give --users ./changed)\n',
  );
}

async function usersOf(
  request: LoadRequest,
  cwd: string,
  dest: string,
  clock: () => Date,
  /** The `changed` schedule a `--users changed` load advances (`localChangedSchedule`). */
  schedule: string,
): Promise<UsersToLoad> {
  const now = clock();
  if (request.usersFile === 'changed') {
    // The users come from the lake's events: a folder that does not exist is a typo, not "no change".
    existingLakeFrom(cwd, request.dest);
    await assertWritableDestination(dest);
    const store = openStore(dest);
    // A dry run writes nothing, not even the lock.
    const release = request.dryRun ? undefined : await holdChangedLock(store, request, clock, schedule);
    try {
      return {
        ...(await changedUsersOf(request, store, now, schedule)),
        ...(release === undefined ? {} : { release }),
      };
    } catch (error) {
      await release?.();
      throw error;
    }
  }
  if (request.loadId !== undefined)
    await refuseListRerunOfChanged(
      openStore(dest),
      request.loadId,
      request.resume === true ? '--resume' : '--load-id',
    );
  const { taskIds, ...list } = await usersListOf(request, cwd, dest);
  return { ...list, taskIds: new Map(taskIds) };
}

/**
 * Said before the first `changed` load of a lake: it has seen no event yet, so it loads the users
 * of every stored event (after `simulate --webhooks-to`, one event per user: every user). Plain
 * words: what it loads, why, and when that is as big as a full load.
 */
function firstChangedNote(lake: string, users: number, deferred: number, resources?: string): string {
  const count =
    deferred === 0
      ? plural(users, 'user')
      : `${plural(users + deferred, 'user')}: ${users} now, the rest in later loads`;
  const of = resources === undefined ? '' : ` with --resources ${resources}`;
  return (
    `first 'changed' load of ${lake}${of}: no committed 'changed' load${of === '' ? '' : ' of these resources'} has seen any webhook event yet, ` +
    `so this one loads the users of every event stored so far (${count}), old events included, not only recent ones: ` +
    `with many events stored, that is as many users as a full load. Later 'changed' loads take only the events received since. ` +
    `Run the first one right after setting up the receiver, while few events are stored`
  );
}

/** What the cap left for the next changed load, said where the users are described. */
function deferredNote(selection: ChangedSelection): string | undefined {
  const d = selection.deferred;
  if (d === undefined) return undefined;
  const pending = {
    none: 'their events stay pending, not committed',
    some: 'the new events stay pending, not committed',
    all: 'their events stay pending for this schedule, committed already',
  }[deferredCommitted(d)];
  return (
    `--max-users-per-run ${selection.maxUsers}: ${deferredWords(d, true)} left for the next changed load ` +
    `(${pending}; the next changed load takes them first, oldest events first)`
  );
}

/** The users of a `--users changed` load: a re-run's own, or those of the events its schedule has not seen. */
async function changedUsersOf(
  request: LoadRequest,
  store: ObjectStore,
  now: Date,
  schedule: string,
): Promise<UsersToLoad> {
  // A re-run of a load id loads that load's users again (it replaces the load); see changed-users.ts.
  const reused =
    request.loadId === undefined
      ? undefined
      : await reusedSelection(
          store,
          request.loadId,
          schedule,
          now.toISOString().slice(0, 10),
          request.resume === true ? '--resume' : '--load-id',
        );
  const { users, selection, unreadable, events, firstRun } =
    reused ?? (await selectChangedUsers(store, schedule, now, request.maxUsersPerRun));
  const aside = unreadable.filter((u) => !u.gone).length;
  // Loaded all the same (their users are), but the task they meant is not fetched: say so.
  const oddTasks = events.filter((e) => e.taskIdProblem !== null).length;
  const asideNote =
    (aside === 0
      ? ''
      : ` (${aside} unreadable or refused webhook event(s) set aside, their users not loaded: 'paylink-loader verify' names them)`) +
    (oddTasks === 0
      ? ''
      : ` (${oddTasks} webhook event(s) naming no usable task id (a task field that is no id, or a task event with none), so no task fetched for them: see webhook_events.task_id_problem)`);
  const deferral = deferredNote(selection);
  // Events dated past the partitions this load listed wait in silence otherwise: one LIST (S3
  // StartAfter) past tomorrow's partition. A first run listed all of _events/: none waits.
  const today = now.toISOString().slice(0, 10);
  const heldBack =
    firstRun === true || reused !== undefined ? [] : await heldBackForSchedule(store, schedule, today);
  // Said on every such load: its events stay new to the plain changed loads.
  const ownSet =
    schedule === LOCAL_SCHEDULE || request.resources === undefined ? undefined : request.resources.join(',');
  const subset =
    ownSet === undefined
      ? ''
      : ` with --resources ${ownSet} (changed loads of these resources keep their own record of the events they have seen, as schedule ${schedule})`;
  const notes = [
    ...(subset === '' || users.length === 0
      ? []
      : [
          `note: --resources ${ownSet} is not what 'load --users changed' loads by default, so this load keeps its own record of the webhook events it has seen (schedule ${schedule}); a plain 'load --users changed' still loads these users with every resource`,
        ]),
    ...(firstRun === true && users.length > 0
      ? [firstChangedNote(store.description, users.length, selection.deferred?.users ?? 0, ownSet)]
      : []),
    ...(deferral === undefined ? [] : [deferral]),
    ...(heldBack.length === 0 ? [] : [`warning: ${heldBackWords(heldBack, today)}`]),
  ];
  if (reused?.selection.rerun === true) {
    const again = `the ${users.length} users load ${request.loadId} was planned with (a re-run loads the same users)`;
    return {
      identifiers: users.map((u) => u.identifier),
      taskIds: new Map(
        users.flatMap((u) => (u.taskIds === undefined ? [] : [[u.identifier, [...u.taskIds]]])),
      ),
      changed: selection,
      description: again,
      users: again,
    };
  }
  const who = changedUsersWords(
    users.length,
    selection.events,
    selection.retried?.length ?? 0,
    selection.committedEarlier,
  );
  return {
    identifiers: users.map((u) => u.identifier),
    taskIds: new Map(users.flatMap((u) => (u.taskIds === undefined ? [] : [[u.identifier, [...u.taskIds]]]))),
    changed: selection,
    ...(notes.length === 0 ? {} : { notes }),
    description:
      users.length === 0
        ? `no user has webhook events that a committed 'changed' load of ${store.description}${subset} has not seen${asideNote}`
        : `${who}${asideNote}`,
    ...(users.length === 0 ? {} : { users: who }),
  };
}

async function usersListOf(
  request: LoadRequest,
  cwd: string,
  dest: string,
): Promise<{
  identifiers: string[];
  resources?: readonly string[];
  description: string;
  taskIds?: ReadonlyMap<string, string[]>;
}> {
  if (request.usersFromFailed !== undefined) {
    const loadId = request.usersFromFailed;
    const flag = '--users-from-failed';
    let failed: Awaited<ReturnType<typeof committedFailedUsers>>;
    try {
      failed = await committedFailedUsers(openStore(dest), loadId, flag);
    } catch (error) {
      // Here a missing load is a bad flag (exit 1), not the "no such load" exit of status/failed.
      if (error instanceof LoadNotFoundError)
        throw new ConfigError(flag, error.message.replace(/^--load-id: /, ''));
      throw error;
    }
    const { users: identifiers, marker } = failed;
    if (identifiers.length === 0)
      throw new ConfigError(
        flag,
        `load ${loadId} has no failed users (units of a disabled resource, endpoint_unavailable, are not failures): nothing to re-run`,
      );
    // A `changed` load's report keeps the task ids each user was loaded with.
    const failedSet = new Set(identifiers);
    const taskIds = new Map(
      (marker?.changed?.users ?? []).flatMap((u) =>
        failedSet.has(u.identifier) && u.taskIds !== undefined ? [[u.identifier, [...u.taskIds]]] : [],
      ),
    );
    return {
      identifiers,
      ...(marker === undefined ? {} : { resources: marker.resources }),
      description: `the ${identifiers.length} failed users of load ${loadId}`,
      taskIds,
    };
  }
  const usersFile = required(request.usersFile, '--users');
  const identifiers = parseUsersList(
    usersText(await readBytes(cwd, usersFile, '--users'), '--users', usersFile),
    '--users',
  );
  if (identifiers.length === 0) throw new ConfigError('--users', `${usersFile} lists no users`);
  return { identifiers, description: usersFile };
}

/** Earliest time a dlt-style --load-id may name: no load of this product is older. */
const EARLIEST_LOAD_TIME = Date.UTC(2000, 0, 1);
/** Clock skew allowed for a dlt-style --load-id naming a time after now. */
const LOAD_TIME_SKEW_MS = 24 * 3600 * 1000;

/**
 * A --load-id of digits is dlt's unix-seconds format and partitions the load under the date it
 * names (layout.ts loadDate): a typo such as `99999999999` would put it under dt=5138-11-16.
 * Such an id must name a time from 2000-01-01 to a day after now, unless the lake already holds
 * that load (a re-run or resume keeps the partition it has).
 */
async function assertSensibleLoadDate(store: ObjectStore, loadId: string, now: Date): Promise<void> {
  const at = loadIdTime(loadId);
  if (at === undefined) return;
  const ms = at.getTime();
  if (ms >= EARLIEST_LOAD_TIME && ms <= now.getTime() + LOAD_TIME_SKEW_MS) return;
  const known = await Promise.all([
    store.get(dltLoadsKey(loadId)),
    store.get(loadMarkerKey(loadId)),
    store.list(stagingPrefix(loadId)).then((keys) => (keys.length > 0 ? keys : undefined)),
  ]);
  if (known.some((k) => k !== undefined)) return;
  const date = Number.isFinite(ms) ? at.toISOString().slice(0, 10) : 'an invalid date';
  throw new ConfigError(
    '--load-id',
    `'${loadId}' is read as dlt's <unix seconds>[.micros] format, which would partition the load under dt=${date}; ` +
      'such an id must name a time from 2000-01-01 to a day after now. ' +
      "Use an id with a letter in it (e.g. backfill-1) to partition by the load's start date",
  );
}

export async function loadCommand(argv: readonly string[], io: Io): Promise<number> {
  const { exitCode } = await executeLoad(parseLoadArgs(argv), io);
  return exitCode;
}

/**
 * parquetjs-lite encodes in a worker thread, so row groups never stall the requests;
 * PAYLINK_PARQUET_WRITER=in-thread encodes on the main thread instead (the writer before the
 * worker: a fallback, and the reference bench/rate-limit.ts compares against). The worker's
 * old space is capped (PAYLINK_WORKER_HEAP_MIB, default lambdas/core/heap-budget.ts): left to V8,
 * its heap grows toward the machine's default limit over a long batch though what it holds does
 * not. A `--max-old-space-size` in NODE_OPTIONS overrides the cap (Node applies the flag to
 * every thread).
 */
export function cliPartWriters(env: Readonly<Record<string, string | undefined>>): PartWriterFactory {
  const writer = env.PAYLINK_PARQUET_WRITER ?? 'worker';
  if (writer === 'worker')
    return createWorkerPartWriterFactory({
      resourceLimits: { maxOldGenerationSizeMb: workerHeapMib(env.PAYLINK_WORKER_HEAP_MIB) },
    });
  if (writer === 'in-thread') return createParquetPartWriterFactory();
  throw new ConfigError('PAYLINK_PARQUET_WRITER', "must be 'worker' or 'in-thread'");
}

/**
 * The load's quality judged as the deployed commit judges it (quality.ts), with the settings
 * `status` reads. A lake whose earlier reports cannot be read gives undefined (status says why),
 * never a failed load.
 */
async function judgeQuality(
  store: ObjectStore,
  draft: LoadMarker,
  settings: QualitySettings,
): Promise<LoadSignals | undefined> {
  try {
    const { loads } = await readEarlierLoads(store, draft, settings);
    return loadSignals(draft, loads, settings);
  } catch {
    return undefined;
  }
}

/**
 * The summary's quiet feeds: the tables judged quiet, with the rows expected of the load and the
 * first load of the quiet run, in the numbers `status` shows for the same load.
 */
function quietFeedsOf(signals: LoadSignals): QuietFeedSummary[] {
  return signals.tables
    .filter((t) => t.quiet && t.trailingMedian !== undefined)
    .map((t) => ({
      table: t.table,
      rows: t.rows,
      trailingMedian: roundMedian(t.trailingMedian!),
      ...(t.quietSince === undefined ? {} : { since: t.quietSince }),
    }));
}
