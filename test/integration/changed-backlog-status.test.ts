/**
 * `status`'s changed backlog is what the next `changed` load takes: across loads that defer
 * users, users with two events, an event delivered twice on two days, and events arriving while
 * a load fetches (a taken user's, whose event that load commits though its schedule has not seen
 * it, and a new user's), the pending users status shows are the users the next load loads:
 * all of them uncapped, the first n capped at n, users to retry first. Reads beyond
 * --max-event-reads are not made, and --fail-on-signals raises stale_backlog over
 * --max-event-age-hours or the stack's NoRecentSuccess window, and clears it once a run takes them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { ChangedBacklog } from '#cli/changed-backlog.ts';
import { QUALITY_OPTION_DEFAULTS } from '#cli/quality-report.ts';
import { lakeStatus } from '#cli/status-command.ts';
import { foldChangedSelection, selectChangedUsers } from '#core/changed-users.ts';
import { PayLinkHttpError } from '#core/errors.ts';
import { readCommittedEvents } from '#core/event-claims.ts';
import { takenKeys } from '#core/event-log.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { loadOrders, ordersApi } from '#test/helpers/orders-api.ts';
import { receiveSigned, webhookEventBody } from '#test/helpers/signed-webhook.ts';

const SECRET = 'backlog-secret';
let dir: string;
let store: ObjectStore;
let now: Date;
let seq = 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'changed-backlog-'));
  store = createLocalStore(dir);
  now = new Date('2026-11-20T10:00:00.000Z');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const later = (seconds: number) => {
  now = new Date(now.getTime() + seconds * 1000);
};

/** A new event of `identifier` received now; returns its body (to deliver again). */
async function receive(identifier: string, body?: string): Promise<string> {
  const text = body ?? webhookEventBody({ identifier, eventTime: now, data: { seq: ++seq } });
  const outcome = await receiveSigned(text, { store, secret: SECRET, receivedAt: now });
  expect(outcome.kind).toBe('accepted');
  later(1);
  return text;
}

async function backlog(maxReads = 10_000): Promise<ChangedBacklog> {
  const status = await lakeStatus(dir, QUALITY_OPTION_DEFAULTS, undefined, now, { maxReads });
  const local = status.changedBacklogs.find((b) => b.schedule === 'local');
  expect(local).toBeDefined();
  return local!;
}

/** The next `load --users changed` (as the CLI selects and loads it); returns who it loaded. */
async function nextLoad(loadId: string, cap?: number, api?: PayLinkApi): Promise<string[]> {
  const { users, selection } = await selectChangedUsers(store, 'local', now, cap);
  const marker = await loadOrders({
    loadId,
    users,
    changed: selection,
    store,
    clock: () => now,
    ...(api === undefined ? {} : { api }),
  });
  later(60);
  return (marker.changed?.users ?? []).map((u) => u.identifier);
}

/** An API that receives `identifiers`' events once, while the load fetches its first user. */
function receivingWhileFetching(identifiers: readonly string[]): PayLinkApi {
  const api = ordersApi();
  let done = false;
  return {
    ...api,
    async openSession(identifier) {
      if (!done) {
        done = true;
        for (const id of identifiers) await receive(id);
      }
      return api.openSession(identifier);
    },
  };
}

describe("status's changed backlog", () => {
  it('names the users the next changed load takes, capped and uncapped, load after load', async () => {
    await receive('u0');
    const first = await backlog();
    expect(first.firstRun).toBe(true);
    expect(first.events).toBeNull();
    expect(await nextLoad('load-a')).toEqual(['u0']);
    expect(await backlog()).toMatchObject({ firstRun: false, events: 0, users: 0, pendingUsers: [] });

    // Four users, u2 with two events; u3's event delivered again the next day (a copy, counted once).
    await receive('u1');
    await receive('u2');
    const u3 = await receive('u3');
    await receive('u2');
    await receive('u4');
    later(24 * 3600);
    await receive('u3', u3);
    const before = await backlog();
    expect(before).toMatchObject({
      events: 5,
      eventsRead: 5,
      complete: true,
      users: 4,
      oldestPartition: '2026-11-20',
      oldestReceivedAt: '2026-11-20T10:01:01.000Z',
      lastRun: { loadId: 'load-a', users: 1, maxUsers: null, deferred: null },
      hint: null,
    });
    expect(before.pendingUsers).toEqual(['u1', 'u2', 'u3', 'u4']);
    expect(before.oldestAgeSeconds).toBe((now.getTime() - Date.parse('2026-11-20T10:01:01.000Z')) / 1000);

    // Capped at 2, with u1 (taken) and u5 (new) changing while it fetches: it takes the first two.
    const capped = await nextLoad('load-b', 2, receivingWhileFetching(['u1', 'u5']));
    expect(capped).toEqual(before.pendingUsers.slice(0, 2));
    // load-b committed u1's late event (its user was taken) but did not load it: u1 is pending.
    // Committed so far: u0's, then load-b's users' (u1 twice, u2 twice); not u3's, u4's or u5's.
    const committed = await readCommittedEvents(store);
    expect(takenKeys(committed!).size).toBe(5);
    const afterCap = await backlog();
    expect(afterCap.pendingUsers).toEqual(['u3', 'u4', 'u1', 'u5']);
    expect(afterCap).toMatchObject({
      events: 4,
      users: 4,
      lastRun: { loadId: 'load-b', users: 2, maxUsers: 2, deferred: { users: 2, events: 2 } },
    });
    expect(afterCap.hint).toContain(
      'local: its last run (load-b) at its cap of 2 left 2 users with 2 events',
    );
    expect(afterCap.hint).toContain("run 'load --users changed' again");

    // Capped at 3: the first three again.
    const capped3 = await nextLoad('load-c', 3);
    expect(capped3).toEqual(afterCap.pendingUsers.slice(0, 3).sort());
    const afterCap3 = await backlog();
    expect(afterCap3.pendingUsers).toEqual(['u5']);

    // Uncapped, with an event arriving while it fetches: all of them, the late one left pending.
    await receive('u6');
    const all = await backlog();
    expect(all.pendingUsers).toEqual(['u5', 'u6']);
    expect(await nextLoad('load-d', undefined, receivingWhileFetching(['u7']))).toEqual(
      [...all.pendingUsers].sort(),
    );
    const afterAll = await backlog();
    expect(afterAll).toMatchObject({ events: 1, pendingUsers: ['u7'], hint: null });
    expect(afterAll.lastRun).toMatchObject({ loadId: 'load-d', maxUsers: null, deferred: null });
    expect(await nextLoad('load-e')).toEqual(['u7']);
    expect(await backlog()).toMatchObject({ events: 0, pendingUsers: [], oldestReceivedAt: null });
  }, 60_000);

  it('puts the users to retry first, as the next load takes them', async () => {
    await receive('u0');
    await nextLoad('load-a');
    await receive('a');
    await receive('b');
    // b fails in load-b: retried once by the next run, before any user of a new event.
    const api = ordersApi();
    const failingB: PayLinkApi = {
      ...api,
      async openSession(identifier) {
        const session = await api.openSession(identifier);
        return {
          ...session,
          async getJson(request) {
            if (identifier === 'b') throw new PayLinkHttpError(request.endpoint, 404, 40400);
            return session.getJson(request);
          },
        };
      },
    };
    expect(await nextLoad('load-b', undefined, failingB)).toEqual(['a', 'b']);
    await receive('c');
    const pending = await backlog();
    expect(pending).toMatchObject({ events: 1, users: 1, retryUsers: 1, pendingUsers: ['b', 'c'] });
    expect(await nextLoad('load-c', 1)).toEqual(pending.pendingUsers.slice(0, 1));
    expect(await backlog()).toMatchObject({ retryUsers: 0, pendingUsers: ['c'] });
  });

  it('reads at most --max-event-reads events: counts from the listing, users of those read', async () => {
    await receive('u0');
    await nextLoad('load-a');
    for (const id of ['a', 'b', 'c', 'd', 'e']) await receive(id);
    const capped = await backlog(2);
    expect(capped).toMatchObject({ events: 5, eventsRead: 2, complete: false });
    expect(capped.pendingUsers).toHaveLength(2);
    const counted = await backlog(0);
    expect(counted).toMatchObject({
      events: 5,
      eventsRead: 0,
      complete: false,
      users: 0,
      oldestReceivedAt: null,
    });
    expect(counted.oldestPartition).toBe('2026-11-20');
    expect((await backlog()).pendingUsers).toEqual(['a', 'b', 'c', 'd', 'e']);
    // The command says what it did not read, in the table and for the unreadable check.
    const { runCli } = await import('#test/helpers/lake-harness.ts');
    const text = await runCli(['status', '--dest', dir, '--max-event-reads', '2']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/local\s+5\s+>=2\s+~/);
    expect(text.stdout).toContain(
      'local: 2 of 5 events read (--max-event-reads 2): users and oldest time are of those (at least that many users; the oldest partition is dt=2026-11-20)',
    );
    expect(text.stdout).toContain(
      "Unreadable webhook events: 2 of 5 events not committed yet were checked (--max-event-reads 2); 'paylink-loader verify' checks them all.",
    );
  });
});

describe('status --fail-on-signals: stale_backlog', () => {
  it('flags a changed schedule whose oldest pending event is older than --max-event-age-hours, until a load takes it', async () => {
    const { runCli } = await import('#test/helpers/lake-harness.ts');
    // Real time: the CLI judges at its own clock.
    now = new Date(Date.now() - 3 * 3600_000);
    await receive('u0');
    await nextLoad('load-a');
    await receive('late-1');
    await receive('late-2');
    now = new Date();

    const within = await runCli(['status', '--dest', dir, '--fail-on-signals', '--max-event-age-hours', '5']);
    expect(within.code, within.stderr).toBe(0);
    expect(within.stdout).toContain('Changed schedules');
    expect(within.stdout).toMatch(/local\s+2\s+2\s+\S+\s+(2\.9|3) h\s+load-a\s+0/);

    const over = await runCli([
      'status',
      '--dest',
      dir,
      '--fail-on-signals',
      '--max-event-age-hours',
      '1',
      '--json',
    ]);
    expect(over.code, over.stderr).toBe(9);
    expect(over.stderr).toMatch(
      /status --fail-on-signals: stale changed backlog: schedule local: oldest pending webhook event received \S+, (2\.9|3) h ago, over its 60 min window \(--max-event-age-hours\); 2 events of 2 users pending/,
    );
    const json = JSON.parse(over.stdout);
    const local = json.changedBacklogs.find((b: { schedule: string }) => b.schedule === 'local');
    expect(local.flag).toMatchObject({
      kind: 'stale_backlog',
      windowSeconds: 3600,
      windowFrom: '--max-event-age-hours',
    });
    expect(local.pendingUsers).toEqual(['late-1', 'late-2']);

    // Without a window (no flag, no stack schedule named local): shown, not judged.
    const unjudged = await runCli(['status', '--dest', dir, '--fail-on-signals']);
    expect(unjudged.code, unjudged.stderr).toBe(0);

    // A load takes them: the flag clears.
    await nextLoad('load-b');
    const cleared = await runCli([
      'status',
      '--dest',
      dir,
      '--fail-on-signals',
      '--max-event-age-hours',
      '1',
    ]);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stderr).not.toContain('stale');
  }, 60_000);

  it("judges a deployed schedule by its NoRecentSuccess window from the stack's cdk.json", async () => {
    const { runCli } = await import('#test/helpers/lake-harness.ts');
    const cdk = join(dir, 'cdk.json');
    const hourly = { name: 'hourly', expression: 'rate(1 hour)', users: 'changed' };
    await writeFile(
      cdk,
      JSON.stringify({ context: { paylink: { stackName: 'Lake', schedules: [hourly] } } }),
    );
    // The schedule's runs saw x five hours ago; y has waited three hours since: over two periods.
    now = new Date(Date.now() - 5 * 3600_000);
    await receive('x');
    const seen = await selectChangedUsers(store, 'hourly', now);
    await foldChangedSelection(store, seen.selection);
    now = new Date(Date.now() - 3 * 3600_000);
    await receive('y');
    const args = ['status', '--dest', dir, '--stack-config', cdk, '--fail-on-signals'];
    const stale = await runCli(args);
    expect(stale.code).toBe(9);
    expect(stale.stderr).toMatch(
      /stale changed backlog: schedule hourly: oldest pending webhook event received \S+, (2\.9|3) h ago, over its 2 h window \(the stack's NoRecentSuccess window\); 1 event of 1 user pending/,
    );
    // A run takes y: no stale backlog (the schedule has no committed load: no_recent_load stays).
    now = new Date();
    await foldChangedSelection(store, (await selectChangedUsers(store, 'hourly', now)).selection);
    const taken = await runCli(args);
    expect(taken.stderr).not.toContain('stale changed backlog');
    expect(taken.stderr).toContain('no recent load');
  });

  it('refuses bad values and the flags with --load-id, naming them', async () => {
    const { runCli } = await import('#test/helpers/lake-harness.ts');
    await receive('u0');
    await nextLoad('load-a');
    const zero = await runCli(['status', '--dest', dir, '--max-event-age-hours', '0']);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain('--max-event-age-hours');
    expect(zero.stderr).toContain('above 0 and at most 8760');
    const reads = await runCli(['status', '--dest', dir, '--max-event-reads', '-1']);
    expect(reads.code).toBe(1);
    expect(reads.stderr).toContain('--max-event-reads');
    const withId = await runCli(['status', '--dest', dir, '--load-id', 'load-a', '--max-event-reads', '5']);
    expect(withId.code).toBe(1);
    expect(withId.stderr).toContain("--max-event-reads: sets the changed schedules' section");
  });
});
