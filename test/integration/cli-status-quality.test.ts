/**
 * The data-quality section of `paylink-loader status` on a lake written by real CLI loads on
 * the built-in simulator: two full loads, then three `--users changed` loads of one user whose
 * webhook events arrived. A changed load is compared with changed loads of its schedule only
 * (never flagged QUIET against the medians of full loads), the text names each load's series,
 * the load reports name their schedule and users selection, and the flags' errors are one
 * plain line naming the flag.
 */
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import { MIN_EXPECTED_ROWS } from '#core/quality.ts';
import { readJson } from '#core/store-json.ts';
import { receiveWebhook, signWebhookBody } from '#core/webhook.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  credentialsEnv,
  queryObjects,
  runCli,
  runLoad,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';

const SEED = 'status-quality';
const API_KEY = 'sq-key';
const API_SECRET = 'sq-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const USERS = generateIdentifiers(SEED, 8);
const RESOURCES = ['accounts'];

let scratch: Scratch;
let sim: Simulator;
let lake: string;
const loadIds: string[] = [];

async function load(users: string): Promise<void> {
  const run = await runLoad({ users, dest: lake, baseUrl: sim.url, resources: RESOURCES, json: true }, ENV);
  expect(run.code, run.stderr).toBe(0);
  loadIds.push((JSON.parse(run.stdout) as { loadId: string }).loadId);
}

/** A signed webhook event for `identifier`, stored as the receiver stores it. */
async function webhookFor(identifier: string, minute: number): Promise<void> {
  const body = JSON.stringify({
    eventType: 'pay-link-accounts-updated',
    eventTime: `2026-12-01T08:${String(minute).padStart(2, '0')}:00.000Z`,
    user: { _id: `atomic-${identifier}`, identifier },
    data: {},
  });
  const outcome = await receiveWebhook(
    {
      headers: { 'X-HMAC-Signature-Sha-256': signWebhookBody(body, API_SECRET) },
      body: new TextEncoder().encode(body),
    },
    { store: createLocalStore(lake), secret: API_SECRET, receivedAt: new Date() },
  );
  expect(outcome.kind).toBe('accepted');
}

async function status(...flags: string[]) {
  return runCli(['status', '--dest', lake, ...flags]);
}

beforeAll(async () => {
  scratch = await Scratch.create('status-quality');
  sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
  lake = scratch.path('lake');
  // A lake the receiver has written to, before any load.
  await mkdir(scratch.path('lake', '_events'), { recursive: true });
}, 60_000);

afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

describe('status on a lake with no load yet', () => {
  it('says there are no committed loads yet, instead of leaving the quality section out', async () => {
    const run = await status();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Data quality: no committed loads yet');
    const json = await status('--json');
    expect((JSON.parse(json.stdout) as LakeStatus).quality.loads).toEqual([]);
  });
});

describe('status after full loads and changed loads', () => {
  let changedUser: string;

  beforeAll(async () => {
    const users = await scratch.users('users.txt', USERS);
    await load(users);
    await load(users);
    // The changed user: one with accounts, so each of its loads has rows to compare.
    changedUser = await withLake(lake, async (q) => {
      const rows = await queryObjects(
        q,
        `SELECT user_identifier FROM user_loads WHERE resource = 'accounts' AND rows > 0 ORDER BY user_identifier LIMIT 1`,
      );
      return String(rows[0]!.user_identifier);
    });
    for (const minute of [1, 2, 3]) {
      await webhookFor(changedUser, minute);
      await load('changed');
    }
  }, 120_000);

  it('writes the schedule and users selection into every load report', async () => {
    const store = createLocalStore(lake);
    const reports = await Promise.all(
      loadIds.map((id) => readJson<Record<string, unknown>>(store, `_loads/${id}.json`)),
    );
    expect(reports.map((r) => [r!.schedule, r!.usersSelection, r!.users])).toEqual([
      ['local', 'all', USERS.length],
      ['local', 'all', USERS.length],
      ['local', 'changed', 1],
      ['local', 'changed', 1],
      ['local', 'changed', 1],
    ]);
  });

  it('compares a changed load with the changed loads of its schedule only, never flags it quiet against full loads', async () => {
    const json = await status('--json');
    expect(json.code, json.stderr).toBe(0);
    const { quality } = JSON.parse(json.stdout) as LakeStatus;
    expect(quality.loads.map((l) => [l.loadId, l.schedule, l.usersSelection, l.trailingLoads])).toEqual([
      [loadIds[0], 'local', 'all', 0],
      [loadIds[1], 'local', 'all', 1],
      [loadIds[2], 'local', 'changed', 0],
      [loadIds[3], 'local', 'changed', 1],
      [loadIds[4], 'local', 'changed', 2],
    ]);
    const last = quality.loads[4]!;
    expect(last.flags).toEqual([]);
    const accounts = last.tables.find((t) => t.table === 'accounts')!;
    // One user's accounts against the same user's accounts: the same rows, and too few of them
    // expected (below MIN_EXPECTED_ROWS) for a ratio: a small load is not judged.
    expect(accounts).toMatchObject({ quiet: false, ratio: null });
    expect(accounts.trailingMedian).toBe(accounts.rows);
    expect(accounts.rows).toBeGreaterThan(0);
    expect(accounts.rows).toBeLessThan(MIN_EXPECTED_ROWS);
  });

  it("names each load's series and the one the medians are from, with singular and plural counts", async () => {
    const run = await status('--min-trailing-loads', '1');
    expect(run.code, run.stderr).toBe(0);
    const out = run.stdout;
    expect(out).toContain(
      "Data quality (last 5 loads; trailing median of each table's rows per loaded user over up to 7 earlier loads",
    );
    expect(out).toContain('judged from 1 load;');
    const section = out.slice(out.indexOf('Data quality'));
    const row = (id: string) => section.split('\n').find((line) => line.startsWith(id))!;
    expect(row(loadIds[0]!)).toMatch(/local, all users\s+\d+\s+[\d.]+\s+0 loads/);
    expect(row(loadIds[1]!)).toMatch(/local, all users\s+\d+\s+[\d.]+\s+1 load\s/);
    expect(row(loadIds[3]!)).toMatch(/local, changed users\s+1\s+[\d.]+\s+1 load\s/);
    expect(row(loadIds[4]!)).toMatch(/local, changed users\s+1\s+[\d.]+\s+2 loads\s/);
    expect(out).toContain(
      `Rows per table in ${loadIds[4]} against the trailing median of 2 earlier loads of schedule local, changed users (tables accounts):`,
    );
    const one = await status('--trailing-loads', '1', '--min-trailing-loads', '1');
    expect(one.stdout).toContain(
      `Rows per table in ${loadIds[4]} against the trailing median of 1 earlier load of schedule local, changed users (tables accounts):`,
    );
    expect(out).not.toContain('QUIET');
    expect(out).not.toMatch(/\b1 loads\b/);
  });
});

describe('status flags', () => {
  it('refuse a bad or missing value with one plain line naming the flag', async () => {
    for (const argv of [['--last', '-1'], ['--last=-1'], ['--last'], ['--last', '0']]) {
      const run = await status(...argv);
      expect(run.code, argv.join(' ')).toBe(1);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trim().split('\n');
      expect(lines, argv.join(' ')).toHaveLength(1);
      expect(lines[0], argv.join(' ')).toMatch(/^error: --last: /);
      expect(lines[0]).not.toMatch(/Option '|arguments:|at .*\.ts/);
    }
  });

  it('refuse --trailing-loads below the minimum instead of lowering the minimum', async () => {
    const run = await status('--trailing-loads', '1');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^error: --trailing-loads: 1 is fewer than the 2 earlier loads .*--min-trailing-loads 1/,
    );
    const both = await status('--trailing-loads', '3', '--min-trailing-loads', '4');
    expect(both.stderr).toMatch(/^error: --min-trailing-loads: 4 is more than the 3 earlier loads/);
    expect((await status('--trailing-loads', '1', '--min-trailing-loads', '1')).code).toBe(0);
  });

  it('refuse the last-loads options with --load-id, which does not show them; the settings judge the load', async () => {
    for (const flag of ['--last', '--max-hours-since-load']) {
      const run = await status('--load-id', loadIds[0]!, flag, '1');
      expect(run.code, flag).toBe(1);
      expect(run.stderr, flag).toMatch(new RegExp(`^error: ${flag}: .*status --load-id does not show`));
    }
    // The one load is judged with the settings plain status takes (status --load-id's quality).
    for (const [flag, value] of [
      ['--trailing-loads', '2'],
      ['--min-trailing-loads', '1'],
      ['--quiet-fraction', '1'],
      ['--failed-share', '1'],
      ['--run-window-minutes', '1'],
    ] as const) {
      const run = await status('--load-id', loadIds[0]!, flag, value);
      expect(run.code, `${flag}: ${run.stderr}`).toBe(0);
    }
    expect((await status('--load-id', loadIds[0]!)).code).toBe(0);
  });
});
