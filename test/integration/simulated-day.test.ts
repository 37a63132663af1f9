/**
 * A simulated day of incremental loading. 1,000 users are loaded in full; during the day 30 of
 * them change at the source (accounts linked and unlinked, tasks completing) and Atomic's
 * webhooks for those changes arrive at the receiver over real HTTP: some twice (a retry), in
 * shuffled order (event times out of order), and one forged (a bad signature). A `changed` load
 * then fetches only those 30 users and the tasks their events named, and the lake's current
 * state of the data tables must equal what a full reload of every user gives (both read with
 * DuckDB). `user_loads` and `webhook_events` are left out: they record the loads (what each one
 * fetched, which events it committed), not PayLink's data, and differ by design (README,
 * "--users changed": a task retired after a changed load fetched it is 1 row there, 0 in a full
 * reload, which no longer fetches it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { startWebhookServer, type WebhookServer } from '#adapters/webhook-server.ts';
import type { WebhookOutcome } from '#core/webhook.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { sendWebhookEvents, simulatedEvent } from '#simulator/webhook-sender.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { type CliRun, credentialsEnv, runCli, Scratch, withLake } from '#test/helpers/lake-harness.ts';

const SEED = 'simulated-day';
const API_KEY = 'day-key';
const API_SECRET = 'day-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const USERS = generateIdentifiers(SEED, 1000);
/** Every 33rd user changes: 30 of the 1,000 (deterministic, spread over the list). */
const CHANGED = USERS.filter((_, i) => i % 33 === 7).slice(0, 30);
const FORGED_USER = USERS[1]!;
/** Accounts (with their actions, bills and the rest of their children): what links and unlinks change. One feed keeps the test fast. */
const TABLES = 'accounts';

/** Columns that name a load or a row of one (they differ between any two loads by design). */
const LINEAGE = new Set(['_dlt_load_id', '_dlt_id', '_dlt_parent_id', '_dlt_root_id', 'dt']);

function load(argv: readonly string[]): Promise<CliRun> {
  return runCli(
    [
      'load',
      ...argv,
      '--quiet',
      '--json',
      '--rate-limit',
      '10000',
      '--concurrency',
      '16',
      '--batch-size',
      '250',
    ],
    ENV,
  );
}

/**
 * Every current data table's rows as sorted JSON, lineage columns left out, over `columns` per
 * table. The loads' own records (`user_loads`, `webhook_events`) are not data: see the top.
 */
async function currentState(
  lakeDir: string,
  columns?: Map<string, string[]>,
): Promise<Map<string, string[]>> {
  return withLake(lakeDir, async (lake) => {
    const out = new Map<string, string[]>();
    for (const table of lake.tables()) {
      if (table === 'user_loads' || table.startsWith('webhook_events')) continue;
      const cols =
        columns?.get(table) ??
        (await lake.query(`SELECT * FROM current."${table}" LIMIT 0`)).columns.filter((c) => !LINEAGE.has(c));
      const { rows } = await lake.query(
        `SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM current."${table}"`,
      );
      out.set(
        table,
        rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).sort(),
      );
    }
    return out;
  });
}

describe('a simulated day: 30 of 1,000 users change, the changed load fetches only them', () => {
  let scratch: Scratch;
  let sim: Simulator;
  /** The same world with the day's changes already made: what a full reload sees tonight. */
  let tonight: Simulator;
  let reloadRun: CliRun;
  let receiver: WebhookServer;
  const outcomes: WebhookOutcome[] = [];
  let sent = 0;
  let namedTasks: Map<string, string[]>;
  let changedRun: CliRun;
  let tokensForChanged = 0;
  const taskPaths: string[] = [];
  let logging = false;

  beforeAll(async () => {
    scratch = await Scratch.create('simulated-day');
    const options = { seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET } as const;
    sim = await startSimulator({
      ...options,
      log: (line) => {
        if (logging && line.includes('/task/')) taskPaths.push(line.split(' ')[1]!);
      },
    });
    tonight = await startSimulator(options);
    const changesPerUser = (i: number) => (i % 5 === 0 ? 2 : 1);
    namedTasks = new Map();
    CHANGED.forEach((identifier, i) => {
      for (let k = 0; k < changesPerUser(i); k++) {
        const change = tonight.change(identifier);
        const taskId = change.data.taskId;
        if (typeof taskId === 'string')
          namedTasks.set(identifier, [...(namedTasks.get(identifier) ?? []), taskId]);
      }
    });
    const lake = scratch.path('lake');
    const usersFile = await scratch.users('users.txt', USERS);
    const taskIds = await scratch.users(
      'task-ids.jsonl',
      [...namedTasks].flatMap(([identifier, ids]) =>
        ids.map((taskId) => JSON.stringify({ identifier, taskId })),
      ),
    );
    // Morning: everyone, in full. Meanwhile (another lake, tonight's world): the full reload to compare with.
    const [full, reload] = await Promise.all([
      load([
        '--users',
        usersFile,
        '--dest',
        lake,
        '--base-url',
        sim.url,
        '--load-id',
        'morning',
        '--resources',
        TABLES,
      ]),
      load([
        '--users',
        usersFile,
        '--dest',
        scratch.path('reload'),
        '--base-url',
        tonight.url,
        '--load-id',
        'reload',
        '--resources',
        `${TABLES},tasks`,
        '--task-ids',
        taskIds,
      ]),
    ]);
    expect(full.code, full.stderr).toBe(0);
    reloadRun = reload;

    // The day: 30 users change (a few twice), and their events reach the receiver.
    receiver = await startWebhookServer({
      port: 0,
      store: createLocalStore(lake),
      secret: API_SECRET,
      clock: () => new Date(),
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    const base = Date.parse('2026-12-01T08:00:00.000Z');
    const events = CHANGED.flatMap((identifier, i) =>
      Array.from({ length: changesPerUser(i) }, (_, k) => {
        const change = sim.change(identifier);
        return simulatedEvent({
          identifier,
          type: change.eventType,
          time: new Date(base + (i * 2 + k) * 60_000),
          secret: API_SECRET,
          data: change.data,
        });
      }),
    );
    // Retries of every seventh event, and the whole day shuffled (deterministically): late and out of order.
    const deliveries = [...events, ...events.filter((_, i) => i % 7 === 0)];
    const shuffled = deliveries
      .map((event, i) => ({ event, order: (i * 7919) % deliveries.length }))
      .sort((a, b) => a.order - b.order)
      .map((d) => d.event);
    const forged = simulatedEvent({
      identifier: FORGED_USER,
      type: 'pay-link-accounts-updated',
      time: new Date(base),
      secret: 'not-the-api-secret',
    });
    // Atomic retries a refused event 3 times (30 s apart; 1 ms here): the forged one arrives 4 times.
    const report = await sendWebhookEvents(receiver.url, [...shuffled, forged], 4, {
      retries: 3,
      delayMs: 1,
    });
    sent = shuffled.length + 4;
    expect(report).toEqual({ answers: { 200: shuffled.length, 401: 1 }, retries: 3 });

    // Evening: only what changed.
    const tokensBefore = sim.stats().tokensMinted;
    logging = true;
    changedRun = await load([
      '--users',
      'changed',
      '--dest',
      lake,
      '--base-url',
      sim.url,
      '--load-id',
      'evening',
      '--resources',
      `${TABLES},tasks`,
    ]);
    logging = false;
    tokensForChanged = sim.stats().tokensMinted - tokensBefore;
  }, 240_000);

  afterAll(async () => {
    await receiver?.close();
    await sim?.close();
    await tonight?.close();
    await scratch?.dispose();
  });

  it('rejects and counts the forged event, stores each real event once, loses none', async () => {
    expect(outcomes.length).toBe(sent);
    const rejected = outcomes.filter((o) => o.kind === 'rejected');
    expect(rejected.map((o) => o.kind === 'rejected' && o.reason)).toEqual(Array(4).fill('bad-signature'));
    const accepted = outcomes.filter((o) => o.kind === 'accepted');
    const created = accepted.filter((o) => o.kind === 'accepted' && o.stored === 'created').length;
    expect(created).toBe(36); // 30 users, 6 of them twice
    expect(accepted.length - created).toBe(Math.ceil(36 / 7)); // the retries, deduplicated
    const rows = await withLake(scratch.path('lake'), (lake) =>
      lake.query(
        'SELECT count(*), count(DISTINCT event_key), count(DISTINCT user_identifier) FROM webhook_events',
      ),
    );
    expect(rows.rows[0]!.map(Number)).toEqual([36, 36, 30]);
  });

  it('requests only the 30 changed users, and only the tasks their events named', async () => {
    expect(changedRun.code, changedRun.stderr).toBe(0);
    const summary = JSON.parse(changedRun.stdout) as { users: number };
    expect(summary.users).toBe(30);
    expect(tokensForChanged).toBe(30);
    const expected = [...namedTasks.values()]
      .flat()
      .map((id) => `/task/${id}/details`)
      .sort();
    expect([...taskPaths].sort()).toEqual(expected);
    const loaded = await withLake(scratch.path('lake'), (lake) =>
      lake.query(`SELECT DISTINCT user_identifier FROM user_loads WHERE _dlt_load_id = 'evening' ORDER BY 1`),
    );
    expect(loaded.rows.map((r) => r[0])).toEqual([...CHANGED].sort());
  });

  it("leaves a current state equal to a full reload's", async () => {
    const reload = scratch.path('reload');
    expect(reloadRun.code, reloadRun.stderr).toBe(0);
    const expected = await currentState(reload);
    const columns = new Map([
      ...(await withLake(reload, async (lake) => {
        const out: [string, string[]][] = [];
        for (const table of lake.tables())
          out.push([
            table,
            (await lake.query(`SELECT * FROM current."${table}" LIMIT 0`)).columns.filter(
              (c) => !LINEAGE.has(c),
            ),
          ]);
        return out;
      })),
    ]);
    const actual = await currentState(scratch.path('lake'), columns);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [table, rows] of expected) {
      expect(rows.length, table).toBeGreaterThan(0);
      expect(actual.get(table), table).toEqual(rows);
    }
    // The changes are in it: the incremental load did not just keep the morning's state.
    const tasks = expected.get('tasks') ?? [];
    expect(tasks.length).toBe([...namedTasks.values()].flat().length);
    const accounts = await withLake(scratch.path('lake'), async (lake) => {
      const ids = (sql: string) => lake.query(sql).then((r) => r.rows.map((row) => String(row[0])).sort());
      const changed = CHANGED.map((u) => `'${u.replaceAll("'", "''")}'`).join(', ');
      return {
        morning: await ids(
          `SELECT _id FROM accounts WHERE _dlt_load_id = 'morning' AND user_identifier IN (${changed})`,
        ),
        now: await ids(`SELECT _id FROM current.accounts WHERE user_identifier IN (${changed})`),
      };
    });
    expect(accounts.now).not.toEqual(accounts.morning);
  }, 240_000);
});
