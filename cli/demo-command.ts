/**
 * `npm run demo`: the main job end to end on one machine. Starts the simulator in-process
 * (with a sprinkle of 429s, 5xx, malformed bodies and a few failing users, as real APIs do),
 * loads a few hundred users into ./lake, prints the summary, then queries the lake with DuckDB.
 * Then the world changes for a few users: their signed webhook events go to the receiver (the
 * same code as the deployed one, on loopback), and a second, incremental load (`--users
 * changed`) fetches only them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '#adapters/open-store.ts';
import { startWebhookServer } from '#adapters/webhook-server.ts';
import { startSimulator } from '#simulator/server.ts';
import { describeSendReport, sendWebhookEvents, simulatedEvent } from '#simulator/webhook-sender.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { optionalNumberFlag, parseFlags } from './args.ts';
import { formatTable, openLakeQuery } from './duckdb-lake.ts';
import type { Io } from './io.ts';
import { executeLoad } from './load-command.ts';
import { EXIT } from './summary.ts';

const SEED = 'demo';
const API_KEY = 'demo-key';
const API_SECRET = 'demo-secret';
/** Users whose accounts or tasks change after the first load (their events drive the second). */
const CHANGING_USERS = 12;

/** The users of the incremental load, with the rows it loaded: what the second load shows. */
export function incrementalQuery(loadId: string): string {
  return `SELECT resource, count(DISTINCT user_identifier) AS users, sum(rows) AS rows
FROM user_loads
WHERE _dlt_load_id = '${loadId.replaceAll("'", "''")}'
GROUP BY resource
ORDER BY resource`;
}

/**
 * Accounts per company in the load the demo just ran, chosen by its id: the lake may hold
 * other loads (an earlier demo, a load with a custom id), and load ids do not sort by time.
 */
export function demoQuery(loadId: string): string {
  return `SELECT company__name AS company, count(*) AS accounts, count(DISTINCT user_identifier) AS users
FROM accounts
WHERE _dlt_load_id = '${loadId.replaceAll("'", "''")}'
GROUP BY company__name
ORDER BY accounts DESC, company
LIMIT 12`;
}

/**
 * What to run next: the latest load first (the incremental one, when it ran: its users, and the
 * webhook events it committed, which are the events new at its commit, not only its users'),
 * then the first load's failed users (a few fail on purpose), then the current state over both.
 */
export function closingLines(dest: string, firstLoadId: string, latestLoadId: string | undefined): string {
  const latest = latestLoadId ?? firstLoadId;
  const quoted = latest.replaceAll("'", "''");
  const cmd = 'npx paylink-loader';
  return (
    `\nMore on the latest load (${latest}):\n` +
    `  ${cmd} status --dest ${dest} --load-id ${latest}\n` +
    `The users it loaded:\n` +
    `  ${cmd} query --dest ${dest} "SELECT DISTINCT user_identifier FROM user_loads WHERE _dlt_load_id = '${quoted}' ORDER BY 1"\n` +
    // Not "the events that drove it": a load commits every event new at its commit, and an
    // uncapped changed load's may include events received after it picked its users (README).
    `The webhook events it committed (every event new at its commit: some may have arrived after it picked its users, who are then loaded by the next changed load):\n` +
    `  ${cmd} query --dest ${dest} "SELECT event_type, user_identifier, event_time FROM webhook_events WHERE _dlt_load_id = '${quoted}'"\n` +
    `The first load's failed users (a few fail on purpose):\n` +
    `  ${cmd} failed --dest ${dest} --load-id ${firstLoadId}\n` +
    `Current state, each user's latest good load:\n` +
    `  ${cmd} query --dest ${dest} "SELECT status, error_code, count(*) FROM current.user_loads GROUP BY ALL"\n`
  );
}

export async function demoCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, { users: { type: 'string' }, dest: { type: 'string' } }, false, [
    'users',
  ]);
  const userCount = optionalNumberFlag(
    '--users',
    values.users,
    { min: 1, max: Number.MAX_SAFE_INTEGER, whole: true, words: 'a positive whole number' },
    300,
  );
  const dest = values.dest ?? join(io.cwd, 'lake');
  const sim = await startSimulator({
    seed: SEED,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    faults: {
      status429Rate: 0.02,
      status5xxRate: 0.02,
      malformedRate: 0.005,
      failUserRate: 0.01,
      retryAfterSeconds: 1,
    },
  });
  try {
    io.stderr.write(`PayLink simulator on ${sim.url}; loading ${userCount} users into ${dest}\n`);
    const scratch = await mkdtemp(join(tmpdir(), 'paylink-demo-'));
    const usersFile = join(scratch, 'users.txt');
    await writeFile(usersFile, `${generateIdentifiers(SEED, userCount).join('\n')}\n`);
    const { exitCode, summary } = await executeLoad(
      { usersFile, dest, baseUrl: sim.url, concurrency: 16, rateLimit: 500, batchSize: 100 },
      { ...io, env: { ...io.env, PAYLINK_API_KEY: API_KEY, PAYLINK_API_SECRET: API_SECRET } },
    ).finally(() => rm(scratch, { recursive: true, force: true }));
    // Interrupted (Ctrl-C): nothing was committed; run the demo again rather than resume it.
    if (exitCode === EXIT.interrupted || exitCode === EXIT.terminated || summary === undefined)
      return exitCode;
    const query = demoQuery(summary.loadId);
    io.stdout.write(`\nAccounts per company in this load (DuckDB over ${dest}):\n${query}\n\n`);
    const lake = await openLakeQuery(dest);
    try {
      io.stdout.write(`${formatTable(await lake.query(query))}\n`);
    } finally {
      lake.close();
    }
    const incremental = await changedLoad(sim, dest, userCount, io);
    if (incremental.exitCode !== undefined && incremental.exitCode !== EXIT.ok && incremental.exitCode !== 3)
      return incremental.exitCode;
    io.stdout.write(closingLines(dest, summary.loadId, incremental.loadId));
    // A few simulated users fail on purpose (exit 3 for `load`); the demo itself succeeded.
    return exitCode === 3 ? 0 : exitCode;
  } finally {
    await sim.close();
  }
}

/**
 * The day goes on: a few users change at the source, Atomic's signed events reach the receiver
 * (stored under <lake>/_events/), and `load --users changed` fetches only those users. Returns
 * the load's exit code and id (the id undefined when it did not run to a summary).
 */
async function changedLoad(
  sim: Awaited<ReturnType<typeof startSimulator>>,
  dest: string,
  userCount: number,
  io: Io,
): Promise<{ exitCode: number | undefined; loadId?: string }> {
  const identifiers = generateIdentifiers(SEED, userCount);
  // A few users, spread over the list: at most a quarter of them.
  const count = Math.max(1, Math.min(CHANGING_USERS, Math.floor(userCount / 4)));
  const stride = Math.max(1, Math.floor(userCount / count));
  const changing = identifiers.filter((_, i) => i % stride === Math.min(1, stride - 1)).slice(0, count);
  const receiver = await startWebhookServer({
    port: 0,
    store: openStore(dest),
    secret: API_SECRET,
    clock: io.now,
  });
  try {
    const time = io.now();
    // Every other user changes twice: an account change and a task completing (in their own order).
    const events = changing.flatMap((identifier, i) =>
      Array.from({ length: i % 2 === 0 ? 2 : 1 }, (_, k) => {
        const change = sim.change(identifier);
        const at = new Date(time.getTime() + k * 1000);
        return simulatedEvent({
          identifier,
          type: change.eventType,
          time: at,
          secret: API_SECRET,
          data: change.data,
        });
      }),
    );
    const report = await sendWebhookEvents(receiver.url, events);
    io.stdout.write(
      `\n${changing.length} users changed at the source (${events.length} changes: accounts linked or unlinked, tasks completing); ` +
        `their signed webhook events to ${receiver.url}: ${describeSendReport(report)}\nSecond, incremental load: only the users with new events (--users changed)\n`,
    );
  } finally {
    await receiver.close();
  }
  const { exitCode, summary } = await executeLoad(
    { usersFile: 'changed', dest, baseUrl: sim.url, concurrency: 16, rateLimit: 500, batchSize: 100 },
    { ...io, env: { ...io.env, PAYLINK_API_KEY: API_KEY, PAYLINK_API_SECRET: API_SECRET } },
  );
  if (summary === undefined) return { exitCode };
  const query = incrementalQuery(summary.loadId);
  io.stdout.write(`\nWhat the incremental load fetched (DuckDB over ${dest}):\n${query}\n\n`);
  const lake = await openLakeQuery(dest);
  try {
    io.stdout.write(`${formatTable(await lake.query(query))}\n`);
  } finally {
    lake.close();
  }
  return { exitCode, loadId: summary.loadId };
}
