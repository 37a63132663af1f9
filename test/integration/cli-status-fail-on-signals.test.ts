/**
 * `status --fail-on-signals` judges the newest load (the alarms hold the newest load's state),
 * and `status` raises no flag for a signal the stack's cdk.json switches off (the stack has no
 * alarm for it), in text and JSON. On lakes of load reports written here (numbers chosen).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { main } from '#cli/main.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import { loadIdFromTime } from '#core/layout.ts';
import { dailyReport, putCommitted } from '#test/helpers/daily-report.ts';
import { captureIo, runCli, Scratch } from '#test/helpers/lake-harness.ts';

let scratch: Scratch;
let app: string;

const stackJson = (dataQuality: unknown) =>
  JSON.stringify({ app: 'npx tsx infra/app.ts', context: { paylink: { stackName: 'Lake', dataQuality } } });

/** A lake of the reports given, committed. */
async function lakeOf(name: string, reports: readonly { loadId: string }[]): Promise<string> {
  const dir = scratch.path(name);
  await putCommitted(createLocalStore(dir), reports);
  return dir;
}

/** A cdk.json with the dataQuality given. */
async function cdkJson(name: string, dataQuality: unknown): Promise<string> {
  const file = join(app, `${name}.json`);
  await writeFile(file, stackJson(dataQuality));
  return file;
}

const quality = (stdout: string) => (JSON.parse(stdout) as LakeStatus).quality;

beforeAll(async () => {
  scratch = await Scratch.create('status-fail-on-signals');
  app = scratch.path('app');
  await mkdir(app, { recursive: true });
});

afterAll(async () => {
  await scratch?.dispose();
});

describe('status --fail-on-signals', () => {
  it('exits 9 when the newest load has a flag, and 0 once a newer load is clean (the older flag still shown)', async () => {
    // Orders at 100, then 10 (quiet), then 100 again.
    const flagged = [1, 2, 3].map((d) => dailyReport(d, 100));
    flagged.push(dailyReport(4, 10));
    const dirty = await lakeOf('dirty', flagged);
    expect((await runCli(['status', '--dest', dirty, '--fail-on-signals'])).code).toBe(9);

    const clean = await lakeOf('clean', [...flagged, dailyReport(5, 100)]);
    const run = await runCli(['status', '--dest', clean, '--json', '--fail-on-signals']);
    expect(run.code, run.stderr).toBe(0);
    const loads = quality(run.stdout).loads;
    // History is still shown: the quiet load is among the last loads, flagged.
    expect(loads.at(-2)!.flags).toEqual([
      { kind: 'quiet_feed', table: 'orders', rows: 10, trailingMedian: 100, since: flagged[3]!.loadId },
    ]);
    expect(loads.at(-1)!.flags).toEqual([]);
    expect((await runCli(['status', '--dest', clean, '--fail-on-signals'])).code).toBe(0);
  });
});

/** A `quarter-hourly` load of day 4 (after the daily load's 03:20 commit), `slot` quarters past 04:00. */
function quarterHourlyReport(slot: number, orders: number) {
  const startedAt = new Date(Date.UTC(2026, 10, 4, 4, slot * 15)).toISOString();
  return {
    ...dailyReport(4, orders),
    loadId: loadIdFromTime(new Date(startedAt)),
    startedAt,
    committedAt: new Date(Date.parse(startedAt) + 5 * 60_000).toISOString(),
    schedule: 'quarter-hourly',
  };
}

describe('status --fail-on-signals with two schedules', () => {
  // Daily: orders at 100, then 10 (quiet) on day 4. Quarter-hourly: clean, committed after it.
  const daily = [1, 2, 3].map((d) => dailyReport(d, 100));
  daily.push(dailyReport(4, 10));
  const quarterHourly = [0, 1, 2, 3].map((slot) => quarterHourlyReport(slot, 100));

  it('judges the newest load of each schedule: a flagged daily load is not hidden by a clean later one', async () => {
    const lake = await lakeOf('two-schedules', [...daily, ...quarterHourly]);
    const text = await runCli(['status', '--dest', lake, '--fail-on-signals']);
    expect(text.code, text.stderr).toBe(9);
    // The message names the flagged schedule, its load and the kind of flag; not the clean one.
    expect(text.stderr).toContain(
      `status --fail-on-signals: the newest load of 1 series has a flag: daily, all users (load ${daily[3]!.loadId}: quiet_feed)`,
    );
    expect(text.stderr).not.toContain('quarter-hourly');
    expect(text.stdout).toContain('Newest load of each series not covered by a later load (2;');
    expect(text.stdout).toMatch(/quarter-hourly, all users {2}\S+ {2}no flag/);

    const json = await runCli(['status', '--dest', lake, '--json', '--fail-on-signals']);
    expect(json.code, json.stderr).toBe(9);
    const q = quality(json.stdout);
    // The newest load overall is the clean quarter-hourly one.
    expect(q.loads.at(-1)!.loadId).toBe(quarterHourly[3]!.loadId);
    expect(q.loads.at(-1)!.flags).toEqual([]);
    expect(q.verdicts.map((v) => ({ schedule: v.schedule, loadId: v.loadId, flagged: v.flagged }))).toEqual([
      { schedule: 'daily', loadId: daily[3]!.loadId, flagged: true },
      { schedule: 'quarter-hourly', loadId: quarterHourly[3]!.loadId, flagged: false },
    ]);
    expect(q.verdicts[0]!.flags).toEqual([
      { kind: 'quiet_feed', table: 'orders', rows: 10, trailingMedian: 100, since: daily[3]!.loadId },
    ]);
  });

  it("names every flagged schedule, and exits 0 once each schedule's newest load is clean", async () => {
    const both = await lakeOf('both-flagged', [
      ...daily,
      ...quarterHourly.slice(0, 3),
      quarterHourlyReport(3, 5),
    ]);
    const run = await runCli(['status', '--dest', both, '--fail-on-signals']);
    expect(run.code, run.stderr).toBe(9);
    expect(run.stderr).toMatch(
      /the newest loads of 2 series have a flag: daily, all users \(load \S+: quiet_feed\); quarter-hourly, all users \(load \S+: quiet_feed\)/,
    );

    // A --last that leaves the daily load out still judges it.
    const narrow = await runCli(['status', '--dest', both, '--last', '1', '--fail-on-signals']);
    expect(narrow.code, narrow.stderr).toBe(9);

    const clean = await lakeOf('both-clean', [...daily, dailyReport(5, 100), ...quarterHourly]);
    const ok = await runCli(['status', '--dest', clean, '--json', '--fail-on-signals']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(quality(ok.stdout).verdicts.map((v) => v.flagged)).toEqual([false, false]);
  });
});

/** A local load of day `day` (every `paylink-loader load` is schedule `local`), of the users selection given. */
function localReport(day: number, usersSelection: 'all' | 'failed', over: Record<string, unknown> = {}) {
  return { ...dailyReport(day, 100), schedule: 'local', usersSelection, ...over };
}

describe('status --fail-on-signals after a one-off load', () => {
  it('judges a --users-from-failed retry until the next load of its schedule, not for good', async () => {
    const full = [1, 2, 3].map((d) => localReport(d, 'all'));
    // The retry of day 4: every user failed again (permanent 404s), a series of its own.
    const retry = localReport(4, 'failed', { users: 10, failedUserCount: 10 });
    const flagged = await lakeOf('retry-flagged', [...full, retry]);
    const dirty = await runCli(['status', '--dest', flagged, '--fail-on-signals']);
    expect(dirty.code, dirty.stderr).toBe(9);
    expect(dirty.stderr).toContain(`local, failed users (load ${retry.loadId}: failed_user_share)`);

    // A clean full load afterwards: the schedule's newest load is clean, whatever series it is.
    const later = localReport(5, 'all');
    const lake = await lakeOf('retry-then-clean', [...full, retry, later]);
    const run = await runCli(['status', '--dest', lake, '--json', '--fail-on-signals']);
    expect(run.code, run.stderr).toBe(0);
    const q = quality(run.stdout);
    expect(q.verdicts.map((v) => ({ schedule: v.schedule, loadId: v.loadId, flagged: v.flagged }))).toEqual([
      { schedule: 'local', loadId: later.loadId, flagged: false },
    ]);
    // The retry's flag is history, still shown.
    expect(q.loads.find((l) => l.loadId === retry.loadId)!.flags.map((f) => f.kind)).toEqual([
      'failed_user_share',
    ]);
  });

  it('judges a --resources subset load until the next load of its schedule', async () => {
    const full = [1, 2, 3, 4].map((d) => localReport(d, 'all'));
    // Day 5: orders only, 10 of 100 users failed: flagged, a series of its own (its tables).
    const subset = localReport(5, 'all', {
      resources: ['orders'],
      rowsByTable: { orders: 100, user_loads: 100 },
      failedUserCount: 10,
    });
    expect(
      (await runCli(['status', '--dest', await lakeOf('subset', [...full, subset]), '--fail-on-signals']))
        .code,
    ).toBe(9);
    const lake = await lakeOf('subset-then-clean', [...full, subset, localReport(6, 'all')]);
    const run = await runCli(['status', '--dest', lake, '--fail-on-signals']);
    expect(run.code, run.stderr).toBe(0);
  });

  it('keeps a flagged full load judged when a --resources subset load of the same schedule comes after it', async () => {
    const full = [1, 2, 3].map((d) => localReport(d, 'all'));
    // Day 4: the full load, orders gone quiet; day 5: an hourly-style subset, suggestions only.
    const quiet = localReport(4, 'all', { rowsByTable: { accounts: 100, orders: 0, user_loads: 100 } });
    const subset = localReport(5, 'all', {
      resources: ['suggestions'],
      rowsByTable: { suggestions: 100, user_loads: 100 },
    });
    const lake = await lakeOf('full-then-subset', [...full, quiet, subset]);
    const run = await runCli(['status', '--dest', lake, '--json', '--fail-on-signals']);
    expect(run.code, run.stderr).toBe(9);
    expect(quality(run.stdout).verdicts.map((v) => ({ loadId: v.loadId, flagged: v.flagged }))).toEqual([
      { loadId: quiet.loadId, flagged: true },
      { loadId: subset.loadId, flagged: false },
    ]);
    // The next full load covers both: it alone decides.
    const healed = await lakeOf('full-subset-full', [...full, quiet, subset, localReport(6, 'all')]);
    expect((await runCli(['status', '--dest', healed, '--fail-on-signals'])).code).toBe(0);
  });
});

/** A cdk.json with the schedules given (dataQuality: the stack's defaults). */
async function cdkJsonWithSchedules(name: string, schedules: unknown[]): Promise<string> {
  const file = join(app, `${name}.json`);
  await writeFile(file, JSON.stringify({ context: { paylink: { stackName: 'Lake', schedules } } }));
  return file;
}

/** A daily report committed `hoursAgo` hours before now (started 20 minutes before that). */
function recentReport(hoursAgo: number) {
  const committedAt = new Date(Date.now() - hoursAgo * 3_600_000);
  const startedAt = new Date(committedAt.getTime() - 20 * 60_000).toISOString();
  return {
    ...dailyReport(1, 100),
    loadId: loadIdFromTime(new Date(startedAt)),
    dt: startedAt.slice(0, 10),
    startedAt,
    committedAt: committedAt.toISOString(),
  };
}

describe('status --fail-on-signals when loads stopped (no_recent_load)', () => {
  const DAILY_SCHEDULE = { name: 'daily', expression: 'rate(1 day)' };

  it('flags a stack schedule whose newest load is older than its NoRecentSuccess window (two periods)', async () => {
    const cdk = await cdkJsonWithSchedules('daily-schedule', [DAILY_SCHEDULE]);
    // Clean loads, the newest committed 49 hours ago: over two daily periods (48 h).
    const old = [recentReport(97), recentReport(73), recentReport(49)];
    const lake = await lakeOf('stopped', old);
    const text = await runCli(['status', '--dest', lake, '--fail-on-signals', '--stack-config', cdk]);
    expect(text.code, text.stderr).toBe(9);
    expect(text.stderr).toContain(
      `status --fail-on-signals: no recent load: schedule daily: newest load ${old[2]!.loadId} committed ${old[2]!.committedAt}, 49 h ago, over its 48 h window`,
    );
    expect(text.stdout).toContain('No recent load (--fail-on-signals exits 9');
    const json = await runCli(['status', '--dest', lake, '--json', '--stack-config', cdk]);
    // Without --fail-on-signals it is shown, never an exit code.
    expect(json.code, json.stderr).toBe(0);
    expect(quality(json.stdout).noRecentLoad).toEqual([
      {
        kind: 'no_recent_load',
        schedule: 'daily',
        loadId: old[2]!.loadId,
        committedAt: old[2]!.committedAt,
        secondsSince: expect.any(Number),
        windowSeconds: 172_800,
      },
    ]);

    // Committed 47 hours ago: within the window.
    const recent = await lakeOf('recent', [recentReport(71), recentReport(47)]);
    const ok = await runCli([
      'status',
      '--dest',
      recent,
      '--json',
      '--fail-on-signals',
      '--stack-config',
      cdk,
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(quality(ok.stdout).noRecentLoad).toEqual([]);
  });

  it('says no load was ever committed for a stack schedule on an empty lake', async () => {
    const cdk = await cdkJsonWithSchedules('two-schedules', [
      DAILY_SCHEDULE,
      { name: 'weekly', expression: 'cron(0 3 ? * SUN *)', expectedPeriodHours: 84 },
    ]);
    // A lake no load committed to yet: only the webhook receiver's folder.
    const lake = scratch.path('empty-stopped');
    await mkdir(join(lake, '_events'), { recursive: true });
    const run = await runCli(['status', '--dest', lake, '--fail-on-signals', '--stack-config', cdk]);
    expect(run.code, run.stderr).toBe(9);
    expect(run.stderr).toContain(
      'no recent load: schedule daily: no load was ever committed (window 48 h); schedule weekly: no load was ever committed (window 168 h)',
    );
    expect(run.stdout).toContain('  schedule daily: no load was ever committed (window 48 h)');
  });

  it('does not call a schedule of a ./cdk.json read implicitly stopped when this lake never had its loads', async () => {
    // A local lake beside a CDK app: its loads are `local`; the app's schedules load the bucket.
    const folder = scratch.path('cdk-app-folder');
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, 'cdk.json'),
      JSON.stringify({ context: { paylink: { stackName: 'Lake', schedules: [DAILY_SCHEDULE] } } }),
    );
    const lake = await lakeOf('local-beside-app', []);
    await mkdir(join(lake, '_events'), { recursive: true });
    const status = async (extra: readonly string[]) => {
      const captured = captureIo({}, { cwd: folder });
      const code = await main(
        ['status', '--dest', lake, '--fail-on-signals', '--json', ...extra],
        captured.io,
      );
      return { code, stdout: captured.stdout(), stderr: captured.stderr() };
    };
    const implicit = await status([]);
    expect(implicit.code, implicit.stderr).toBe(0);
    expect(quality(implicit.stdout).noRecentLoad).toEqual([]);
    // Named with --stack-config, the same file is the deployment's: its schedule never loaded.
    const named = await status(['--stack-config', join(folder, 'cdk.json')]);
    expect(named.code, named.stderr).toBe(9);
    expect(quality(named.stdout).noRecentLoad).toEqual([
      expect.objectContaining({ schedule: 'daily', loadId: null }),
    ]);
  });

  it('takes --max-hours-since-load without a stack config, for every schedule of the lake', async () => {
    const lake = await lakeOf('max-hours', [recentReport(5), recentReport(3)]);
    const ok = await runCli(['status', '--dest', lake, '--fail-on-signals', '--max-hours-since-load', '4']);
    expect(ok.code, ok.stderr).toBe(0);
    const late = await runCli([
      'status',
      '--dest',
      lake,
      '--fail-on-signals',
      '--max-hours-since-load',
      '2.5',
    ]);
    expect(late.code, late.stderr).toBe(9);
    expect(late.stderr).toMatch(
      /no recent load: schedule daily: newest load \S+ committed \S+, 3 h ago, over its 2\.5 h window/,
    );

    const empty = scratch.path('max-hours-empty');
    await mkdir(join(empty, '_events'), { recursive: true });
    const none = await runCli([
      'status',
      '--dest',
      empty,
      '--fail-on-signals',
      '--max-hours-since-load',
      '24',
    ]);
    expect(none.code, none.stderr).toBe(9);
    expect(none.stderr).toContain('no recent load: no load was ever committed (--max-hours-since-load 24 h)');
  });

  it.each(['0', '169', '-1', '1e2', 'x'])(
    'refuses --max-hours-since-load %s, naming its range',
    async (value) => {
      const lake = await lakeOf(`max-hours-bad-${value}`, [recentReport(1)]);
      const run = await runCli(['status', '--dest', lake, '--max-hours-since-load', value]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain('--max-hours-since-load');
      expect(run.stderr).toContain('a number of hours above 0 and at most 168');
      expect(run.stderr).not.toContain('    at ');
    },
  );
});

describe('status --fail-on-signals after an upgrade', () => {
  it('gives no verdict to a series of reports that name no schedule once later loads name theirs', async () => {
    // Written before reports named their schedule: a series of their own, the last one quiet.
    const legacy = [1, 2, 3, 4].map((d) => {
      const { schedule: _none, usersSelection: _all, ...r } = dailyReport(d, d === 4 ? 10 : 100);
      return r;
    });
    const before = await lakeOf('legacy-only', legacy);
    expect((await runCli(['status', '--dest', before, '--fail-on-signals'])).code).toBe(9);

    const after = await lakeOf('upgraded', [...legacy, ...[5, 6, 7].map((d) => dailyReport(d, 100))]);
    const run = await runCli(['status', '--dest', after, '--json', '--fail-on-signals']);
    expect(run.code, run.stderr).toBe(0);
    expect(quality(run.stdout).verdicts.map((v) => v.schedule)).toEqual(['daily']);
  });
});

describe('signals switched off in the stack config', () => {
  it('raise no flag in status (text and json), and no exit 9, as the stack raises no alarm', async () => {
    // The newest load: orders quiet, 10 of 100 users failed, accounts disabled by an endpoint finding.
    const reports = [1, 2, 3].map((d) => dailyReport(d, 100));
    reports.push({
      ...dailyReport(4, 5),
      users: 100,
      failedUserCount: 10,
      endpointFindings: [{ resource: 'accounts' }] as never,
    });
    const lake = await lakeOf('off', reports);
    const on = await runCli(['status', '--dest', lake, '--json', '--stack-config', await cdkJson('on', {})]);
    expect(
      quality(on.stdout)
        .loads.at(-1)!
        .flags.map((f) => f.kind)
        .sort(),
    ).toEqual(['endpoint_unavailable', 'failed_user_share', 'quiet_feed']);
    const off = await cdkJson('off', {
      quietFeed: false,
      failedUserShare: false,
      endpointUnavailable: false,
    });
    const json = await runCli([
      'status',
      '--dest',
      lake,
      '--json',
      '--fail-on-signals',
      '--stack-config',
      off,
    ]);
    expect(json.code, json.stderr).toBe(0);
    const q = quality(json.stdout);
    expect(q.loads.at(-1)!.flags).toEqual([]);
    expect(q.settings.signalsOff).toEqual(['failed_user_share', 'quiet_feed', 'endpoint_unavailable']);
    // The rows against the median are still there (the metrics are still written).
    expect(q.loads.at(-1)!.tables.find((t) => t.table === 'orders')).toMatchObject({ rows: 5, quiet: true });

    const text = await runCli(['status', '--dest', lake, '--stack-config', off]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      "Signals off (the stack's dataQuality, no alarm; not flagged here): failed_user_share, quiet_feed, endpoint_unavailable",
    );
    expect(text.stdout).not.toContain('Flags:');
    expect(text.stdout).toContain('quiet (signal off)');

    // One switched off: the others still flag.
    const some = await cdkJson('some', { quietFeed: false });
    const one = await runCli(['status', '--dest', lake, '--json', '--stack-config', some]);
    expect(
      quality(one.stdout)
        .loads.at(-1)!
        .flags.map((f) => f.kind)
        .sort(),
    ).toEqual(['endpoint_unavailable', 'failed_user_share']);
  });
});
