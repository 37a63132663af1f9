/**
 * `paylink-loader simulate`: the built-in PayLink simulator on 127.0.0.1, until Ctrl-C.
 * With `--users N` it also writes N identifiers of its world to a users file for `load`.
 */
import { writeFile } from 'node:fs/promises';
import { ConfigError } from '#core/errors.ts';
import { PAYLINK_RESOURCES } from '#core/resources.ts';
import { API_PROFILE_NAMES } from '#simulator/api-profiles.ts';
import { parseSimulatorOptions, type SimulatorOptions } from '#simulator/options.ts';
import { startSimulator } from '#simulator/server.ts';
import {
  ATOMIC_RETRY,
  describeSendReport,
  type RetryPolicy,
  sendWebhookEvents,
  sendWorldChanges,
  simulatedEvent,
} from '#simulator/webhook-sender.ts';
import { generateIdentifiers, identifierIndex } from '#simulator/world.ts';
import { list, numberFlag, optionalRate, parseFlags } from './args.ts';
import { RATE_LIMIT } from './flag-ranges.ts';
import type { Io } from './io.ts';

export const SIMULATE_USAGE = `paylink-loader simulate --port <n> [options]

  --port <n>               port on 127.0.0.1 (0: any free port; default 8787)
  --users <n>              write n identifiers of the world to --users-file
  --users-file <path>      default ./sim-users.txt
  --seed <s>               the world's seed (same seed, same data)
  --latency-ms <n>         added to every response
  --rate-limit <req/s>     server-side limit: 429 with Retry-After above it
  --rate-limit-window bucket|sliding  with --rate-limit, how it is counted: bucket (default)
                           is a token bucket holding one second's requests, so a burst of up
                           to <req/s> passes after a quiet second; sliding allows at most
                           <req/s> in any one-second window (strict, as a per-second quota:
                           a client that bunches requests gets 429s)
  --api-key, --api-secret  credentials it accepts (default sim-key / sim-secret)
  --token-max-uses <n>     public tokens expire (401 code 40104) after n data calls
  --page-size <n>          list endpoints page with ?limit=&skip=
  fault options (shares of requests, 0..1):
  --fault-429 <r> --fault-5xx <r> --fault-malformed <r> --fault-hang <r>
  --retry-after <s>        Retry-After of injected 429s (seconds)
  --hang-ms <n>            how long a hung request hangs (default 30000)
  --envelope top|data|mixed  wrap list bodies as {"data": {...}}
  --fail-user-rate <r>     share of users whose data endpoints answer 404
  --fail-users <a,b>       these identifiers' data endpoints answer 404 (users of the world,
                           as --users lists them; another identifier is refused)
  --empty <list>[,..]      these lists answer 200 and empty for every user, as a feed gone
                           quiet upstream: a resource (orders) or its path (/pay-link/orders).
                           Load before and after to see status flag the quiet feed
  --empty-after <s>        with --empty: only from s seconds after the simulator starts
  --generation <n>         the world n steps later: some accounts unlinked, some bills ended
                           (load, restart with a higher n, load again: the lake's current state follows)
  --profile <name>         an API that disagrees with the loader's catalog:
                           ${API_PROFILE_NAMES.join(', ')}
  --log                    one line per request on stderr
  --webhooks-to <url>      with --users: POST one signed pay-link-accounts-updated event per
                           user to a webhook receiver's URL as it prints it (paylink-loader
                           webhooks: http://127.0.0.1:<port>, its one path /; another path
                           gets 404), signed with --api-secret; then the world changes over
                           time (accounts linked and unlinked, tasks completing) and each
                           change's signed event is sent
  --change-every <s>       with --webhooks-to: seconds between two rounds of changes (default 10)
  --changes <n>            with --webhooks-to: users changed per round (default 3)
  --webhook-retry-seconds <s>  with --webhooks-to: seconds between Atomic's 3 retries of an event
                           the receiver did not answer 200 (default 30, as Atomic)`;

function int(flag: string, raw: string | undefined, min = 0, max?: number): number | undefined {
  if (raw === undefined) return undefined;
  return numberFlag(flag, raw, {
    min,
    max: max ?? Number.MAX_SAFE_INTEGER,
    whole: true,
    words: max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
  });
}

/** `--port`: 0 (any free port) to 65535, said whole whatever the value's fault. */
function port(raw: string | undefined): number {
  return int('--port', raw, 0, 65535) ?? 8787;
}

/** The lists of `--empty`: a resource's table name (orders) or a list route's path. */
export function emptyRoutes(raw: string): string[] {
  const lists = PAYLINK_RESOURCES.filter((r) => r.kind === 'list');
  const names = list(raw) ?? [];
  if (names.length === 0)
    throw new ConfigError('--empty', `names no list (one of ${lists.map((r) => r.table).join(', ')})`);
  return names.map((name) => {
    if (name.startsWith('/')) {
      if (!PAYLINK_RESOURCES.some((r) => r.path === name))
        throw new ConfigError('--empty', `'${name}' is not a PayLink path the simulator serves`);
      return name;
    }
    const resource = lists.find((r) => r.table === name);
    if (resource === undefined)
      throw new ConfigError(
        '--empty',
        `'${name}' is not a list resource (one of ${lists.map((r) => r.table).join(', ')}, or a path such as /pay-link/orders)`,
      );
    return resource.path;
  });
}

export function parseSimulateArgs(
  argv: readonly string[],
  io: Io,
): {
  options: SimulatorOptions;
  users?: number;
  usersFile: string;
  webhooksTo?: string;
  changeEverySeconds: number;
  changesPerRound: number;
  /** Atomic's retries of an event the receiver did not answer 200. */
  webhookRetry: RetryPolicy;
} {
  const { values } = parseFlags(
    argv,
    {
      port: { type: 'string' },
      users: { type: 'string' },
      'users-file': { type: 'string' },
      seed: { type: 'string' },
      'latency-ms': { type: 'string' },
      'rate-limit': { type: 'string' },
      'rate-limit-window': { type: 'string' },
      'api-key': { type: 'string' },
      'api-secret': { type: 'string' },
      'token-max-uses': { type: 'string' },
      'page-size': { type: 'string' },
      'fault-429': { type: 'string' },
      'fault-5xx': { type: 'string' },
      'fault-malformed': { type: 'string' },
      'fault-hang': { type: 'string' },
      'retry-after': { type: 'string' },
      'hang-ms': { type: 'string' },
      envelope: { type: 'string' },
      'fail-user-rate': { type: 'string' },
      'fail-users': { type: 'string' },
      generation: { type: 'string' },
      empty: { type: 'string' },
      'empty-after': { type: 'string' },
      profile: { type: 'string' },
      log: { type: 'boolean' },
      'webhooks-to': { type: 'string' },
      'webhook-retry-seconds': { type: 'string' },
      'change-every': { type: 'string' },
      changes: { type: 'string' },
    },
    false,
    // Negative values reach their checks, which name each flag's real range.
    [
      'port',
      'users',
      'latency-ms',
      'rate-limit',
      'token-max-uses',
      'page-size',
      'fault-429',
      'fault-5xx',
      'fault-malformed',
      'fault-hang',
      'retry-after',
      'hang-ms',
      'fail-user-rate',
      'generation',
      'empty-after',
      'webhook-retry-seconds',
      'change-every',
      'changes',
    ],
  );
  const rateLimit =
    values['rate-limit'] === undefined
      ? undefined
      : numberFlag('--rate-limit', values['rate-limit'], RATE_LIMIT);
  const rateLimitWindow = values['rate-limit-window'];
  if (rateLimitWindow !== undefined) {
    if (rateLimitWindow !== 'bucket' && rateLimitWindow !== 'sliding')
      throw new ConfigError(
        '--rate-limit-window',
        `"${rateLimitWindow}" is not a window: use bucket or sliding`,
      );
    if (rateLimit === undefined)
      throw new ConfigError('--rate-limit-window', 'needs --rate-limit <req/s> (the limit it counts)');
  }
  const faults = {
    status429Rate: optionalRate('--fault-429', values['fault-429']),
    status5xxRate: optionalRate('--fault-5xx', values['fault-5xx']),
    malformedRate: optionalRate('--fault-malformed', values['fault-malformed']),
    hangRate: optionalRate('--fault-hang', values['fault-hang']),
    retryAfterSeconds: int('--retry-after', values['retry-after']),
    hangMs: int('--hang-ms', values['hang-ms']),
    latencyMs: int('--latency-ms', values['latency-ms']),
    envelope: values.envelope,
    failUserRate: optionalRate('--fail-user-rate', values['fail-user-rate']),
    failUsers: list(values['fail-users']),
    ...(values.empty === undefined ? {} : { emptyRoutes: emptyRoutes(values.empty) }),
    ...(values['empty-after'] === undefined
      ? {}
      : { emptyAfterMs: (int('--empty-after', values['empty-after']) ?? 0) * 1000 }),
  };
  if (values['empty-after'] !== undefined && values.empty === undefined)
    throw new ConfigError('--empty-after', 'needs --empty <list> (the lists to empty)');
  const options = {
    port: port(values.port),
    ...(values.seed === undefined ? {} : { seed: values.seed }),
    ...(values['api-key'] === undefined ? {} : { apiKey: values['api-key'] }),
    ...(values['api-secret'] === undefined ? {} : { apiSecret: values['api-secret'] }),
    ...(values['token-max-uses'] === undefined
      ? {}
      : { tokenMaxUses: int('--token-max-uses', values['token-max-uses'], 1) }),
    ...(values['page-size'] === undefined ? {} : { pageSize: int('--page-size', values['page-size'], 1) }),
    ...(rateLimit === undefined ? {} : { rateLimit }),
    ...(rateLimitWindow === undefined ? {} : { rateLimitWindow }),
    ...(values.generation === undefined ? {} : { generation: int('--generation', values.generation) }),
    ...(values.profile === undefined ? {} : { profile: values.profile }),
    faults: Object.fromEntries(Object.entries(faults).filter(([, v]) => v !== undefined)),
    ...(values.log ? { log: (line: string) => io.stderr.write(`${line}\n`) } : {}),
  } as SimulatorOptions;
  // Validate here so a bad flag is reported before anything listens.
  parseSimulatorOptions(options);
  const users = int('--users', values.users, 1);
  const usersFile = values['users-file'] ?? 'sim-users.txt';
  // A listed user the world does not have would fail nobody, silently.
  const { seed } = parseSimulatorOptions(options);
  for (const identifier of options.faults?.failUsers ?? []) {
    const index = identifierIndex(seed, identifier);
    if (index === undefined)
      throw new ConfigError(
        '--fail-users',
        `'${identifier}' is not a user of the simulator's world (seed '${seed}'): list its identifiers with --users <n>, which writes them to --users-file (default ./sim-users.txt)`,
      );
    if (users !== undefined && index >= users)
      throw new ConfigError(
        '--fail-users',
        `'${identifier}' is not one of the ${users} users written to ${usersFile} (it is user number ${index + 1} of the world): name one listed there`,
      );
  }
  const webhooksTo = values['webhooks-to'];
  if (webhooksTo !== undefined) {
    if (users === undefined)
      throw new ConfigError('--webhooks-to', 'needs --users <n> (the users to send events for)');
    if (!/^https?:\/\/[^\s]+$/.test(webhooksTo))
      throw new ConfigError('--webhooks-to', 'must be an http:// or https:// URL');
  }
  const changeEverySeconds = int('--change-every', values['change-every'], 1) ?? 10;
  const changesPerRound = int('--changes', values.changes, 0) ?? 3;
  const retrySeconds = int('--webhook-retry-seconds', values['webhook-retry-seconds'], 0);
  if (retrySeconds !== undefined && webhooksTo === undefined)
    throw new ConfigError('--webhook-retry-seconds', 'needs --webhooks-to <url>');
  return {
    options,
    changeEverySeconds,
    changesPerRound,
    webhookRetry: {
      retries: ATOMIC_RETRY.retries,
      delayMs: (retrySeconds ?? ATOMIC_RETRY.delayMs / 1000) * 1000,
    },
    ...(users === undefined ? {} : { users }),
    usersFile,
    ...(webhooksTo === undefined ? {} : { webhooksTo }),
  };
}

export async function simulateCommand(argv: readonly string[], io: Io): Promise<number> {
  const { options, users, usersFile, webhooksTo, changeEverySeconds, changesPerRound, webhookRetry } =
    parseSimulateArgs(argv, io);
  let stopChanges: () => void = () => undefined;
  const sim = await startSimulator(options).catch((error: unknown) => {
    // The flag the user typed, not the option's name.
    if (error instanceof ConfigError && error.key === 'port')
      throw new ConfigError('--port', error.message.slice('port: '.length));
    throw error;
  });
  const resolved = parseSimulatorOptions(options);
  io.stderr.write(
    `PayLink simulator listening on ${sim.url} (api key '${resolved.apiKey}', secret '${resolved.apiSecret}')\n`,
  );
  if (users !== undefined) {
    await writeFile(usersFile, `${generateIdentifiers(resolved.seed, users).join('\n')}\n`);
    io.stderr.write(`${users} user identifiers written to ${usersFile}\n`);
    if (webhooksTo !== undefined) {
      const time = io.now();
      const events = generateIdentifiers(resolved.seed, users).map((identifier) =>
        simulatedEvent({ identifier, type: 'pay-link-accounts-updated', time, secret: resolved.apiSecret }),
      );
      const report = await sendWebhookEvents(webhooksTo, events, 8, webhookRetry);
      io.stderr.write(
        `${events.length} webhook events sent to ${webhooksTo}: ${describeSendReport(report)}\n`,
      );
      if (changesPerRound > 0)
        stopChanges = changeOverTime(
          sim,
          users,
          webhooksTo,
          resolved,
          changesPerRound,
          changeEverySeconds,
          webhookRetry,
          io,
        );
    }
  }
  io.stderr.write(
    `Try: PAYLINK_API_KEY=${resolved.apiKey} PAYLINK_API_SECRET=${resolved.apiSecret} npx paylink-loader load --base-url ${sim.url} --users ${usersFile} --dest ./lake\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  stopChanges();
  await sim.close();
  io.stderr.write('simulator stopped\n');
  return 0;
}

/**
 * Every `everySeconds`, `count` users change (an account linked or unlinked, a task completing)
 * and each change's signed event goes to `url`: one line per round on stderr, ids and counts only.
 * Returns the stop.
 */
function changeOverTime(
  sim: Awaited<ReturnType<typeof startSimulator>>,
  users: number,
  url: string,
  resolved: ReturnType<typeof parseSimulatorOptions>,
  count: number,
  everySeconds: number,
  retry: RetryPolicy,
  io: Io,
): () => void {
  const identifiers = generateIdentifiers(resolved.seed, users);
  let tick = 0;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void sendWorldChanges({
      world: sim,
      identifiers,
      tick: tick++,
      count,
      url,
      secret: resolved.apiSecret,
      time: io.now(),
      retry,
    })
      .then(({ changes, report }) => {
        const kinds = new Map<string, number>();
        for (const c of changes) kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
        io.stderr.write(
          `world changed: ${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}; events: ${describeSendReport(report)}\n`,
        );
      })
      .catch((error: unknown) => io.stderr.write(`sending changes failed: ${String(error)}\n`))
      .finally(() => {
        running = false;
      });
  }, everySeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
