/**
 * A simulated day of incremental loading. 1,000 users are loaded in full; during the day 30 of
 * them change at the source (accounts linked and unlinked, tasks completing) and Atomic's
 * webhooks for those changes arrive at the receiver over real HTTP: some twice (a retry), in
 * shuffled order (event times out of order), and one forged (a bad signature). A `changed` load
 * then fetches only those 30 users and the tasks their events named, and the lake's current
 * state must equal what a full reload of every user gives (both read with DuckDB), for every
 * table of every resource loaded: the catalog's default resources (the loads name none, as a
 * schedule does) and `tasks`, child tables included. `user_loads` and `webhook_events` are left
 * out: they record the loads (what each one fetched, which events it committed), not PayLink's
 * data, and differ by design (README, "--users changed": a task retired after a changed load
 * fetched it is 1 row there, 0 in a full reload, which no longer fetches it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { startWebhookServer, type WebhookServer } from '#adapters/webhook-server.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
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
/** What a load without `--resources` fetches: the catalog's default resources, from the loader itself. */
const DEFAULTS = selectResources(resolveCatalog()).tables;
/** The changed load adds `tasks` (its events named tasks); the full reload is given the same ids. */
const LOADED = [...DEFAULTS, 'tasks'];

/**
 * The columns left out of the comparison, each because it must differ between two loads of the
 * same data: `_dlt_load_id` names the load that wrote the row ('morning' or 'evening' against
 * 'reload'); `_dlt_id`, `_dlt_parent_id` and `_dlt_root_id` are digests that include the load id
 * (ids.ts: deterministic per load, so a child joins only its own load's parent), so they are
 * replaced by the row's place in its tree (below), which is compared; `dt` is the partition,
 * the load's UTC date for these resources (none sets `partitionBy`), which differs when the
 * loads fall on either side of midnight. Nothing else: no load-time column is written to a data
 * table (`_dlt_loads` holds the loads' times).
 */
const LINEAGE = new Set(['_dlt_load_id', '_dlt_id', '_dlt_parent_id', '_dlt_root_id', 'dt']);

const rootOf = (table: string) => table.split('__')[0]!;
const depthOf = (table: string) => table.split('__').length;

/**
 * Every current data table's rows, canonical and sorted: each row as JSON of its non-lineage
 * columns (sorted, nulls left out, so a column one lake's registry knows and the other's does
 * not compares as the null it is), and a child row also with its parent's canonical row in
 * place of `_dlt_parent_id` (recursively: a bill carries its account, a bill's action its
 * bill), so a row attached to the wrong parent differs. `_dlt_root_id` must name the root of
 * that chain. The loads' own records (`user_loads`, `webhook_events`) are not data: see the top.
 */
async function currentState(lakeDir: string): Promise<Map<string, string[]>> {
  return withLake(lakeDir, async (lake) => {
    const tables = lake
      .tables()
      .filter((t) => t !== 'user_loads' && rootOf(t) !== 'webhook_events')
      .sort((a, b) => depthOf(a) - depthOf(b) || a.localeCompare(b));
    /** `_dlt_id` -> the row's canonical form, and the canonical form of its root. */
    const canonical = new Map<string, { row: string; root: string }>();
    const out = new Map<string, string[]>();
    for (const table of tables) {
      const { columns, rows } = await lake.query(`SELECT * FROM current."${table}"`);
      const at = (name: string) => columns.indexOf(name);
      const [id, parent, root] = [at('_dlt_id'), at('_dlt_parent_id'), at('_dlt_root_id')];
      const canon: string[] = [];
      for (const values of rows) {
        const data: Record<string, unknown> = {};
        columns.forEach((c, i) => {
          if (!LINEAGE.has(c) && values[i] !== null && values[i] !== undefined) data[c] = values[i];
        });
        let up: { row: string; root: string } | undefined;
        if (depthOf(table) > 1) {
          up = canonical.get(String(values[parent]));
          if (up === undefined) throw new Error(`${lakeDir}: ${table} has a row whose parent is not current`);
          const rootRow = canonical.get(String(values[root]));
          if (rootRow?.row !== up.root)
            throw new Error(
              `${lakeDir}: ${table} has a row whose _dlt_root_id is not its parent chain's root`,
            );
        }
        const row = JSON.stringify({ parent: up?.row ?? null, data: sortKeys(data) }, (_k, v) =>
          typeof v === 'bigint' ? String(v) : v,
        );
        canonical.set(String(values[id]), { row, root: up?.root ?? row });
        canon.push(row);
      }
      out.set(table, canon.sort());
    }
    return out;
  });
}

function sortKeys(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

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
      // One batch per full load: every table of the default resources for 1,000 users, twice,
      // in a test on a shared machine (batch boundaries have their own tests).
      '--batch-size',
      '1000',
    ],
    ENV,
  );
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
      load(['--users', usersFile, '--dest', lake, '--base-url', sim.url, '--load-id', 'morning']),
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
        LOADED.join(','),
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
    ]);
    logging = false;
    tokensForChanged = sim.stats().tokensMinted - tokensBefore;
  }, 480_000);

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
    const [expected, actual] = await Promise.all([currentState(reload), currentState(scratch.path('lake'))]);
    // Every table of every resource loaded, child tables included, and nothing else.
    const tables = [...expected.keys()].sort();
    expect([...actual.keys()].sort()).toEqual(tables);
    expect([...new Set(tables.map(rootOf))].sort()).toEqual([...LOADED].sort());
    expect(tables.filter((t) => depthOf(t) > 1).length).toBeGreaterThan(0);
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
  }, 480_000);
});
