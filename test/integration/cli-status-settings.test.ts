/**
 * `paylink-loader status` judges a lake as the deployed stack does: with the stack's
 * `dataQuality` settings from its cdk.json (`--stack-config`, or ./cdk.json in the working
 * folder), a flag still winning, and where each value came from said. On a lake of load
 * reports written here (the numbers chosen, not loaded), so each judgement is known.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { main } from '#cli/main.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import { parseStackConfig } from '#infra/config.ts';
import { dailyReport, putCommitted } from '#test/helpers/daily-report.ts';
import { captureIo, runCli, Scratch } from '#test/helpers/lake-harness.ts';

let scratch: Scratch;
let lake: string;
/** A folder holding the stack's cdk.json, as a CDK app's folder does. */
let app: string;
let cdkJson: string;

/** The stack config of a cdk.json, `dataQuality` as given. */
const stackJson = (dataQuality: unknown) =>
  JSON.stringify({ app: 'npx tsx infra/app.ts', context: { paylink: { stackName: 'Lake', dataQuality } } });

beforeAll(async () => {
  scratch = await Scratch.create('status-settings');
  lake = scratch.path('lake');
  const store = createLocalStore(lake);
  // 30 orders per load, then 24: 0.8 x the median. Quiet below 0.9, not below 0.5.
  const reports = [1, 2, 3].map((d) => dailyReport(d, 30));
  reports.push(dailyReport(4, 24));
  await putCommitted(store, reports);
  app = scratch.path('app');
  await mkdir(app, { recursive: true });
  cdkJson = join(app, 'cdk.json');
  // 24 orders against 30 expected: judged with minExpectedRows 20 (the default).
  await writeFile(cdkJson, stackJson({ quietFeedFraction: 0.9, trailingLoads: 3 }));
});

afterAll(async () => {
  await scratch?.dispose();
});

const quality = (stdout: string) => (JSON.parse(stdout) as LakeStatus).quality;

describe('status with the stack config', () => {
  it("judges with the stack's dataQuality (--stack-config) and says where each value came from", async () => {
    const plain = await runCli(['status', '--dest', lake, '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(quality(plain.stdout).loads.at(-1)!.flags).toEqual([]);

    const run = await runCli(['status', '--dest', lake, '--json', '--stack-config', cdkJson]);
    expect(run.code, run.stderr).toBe(0);
    const q = quality(run.stdout);
    expect(q.settings).toMatchObject({ quietFeedFraction: 0.9, trailingLoads: 3, minTrailingLoads: 2 });
    expect(q.loads.at(-1)!.flags).toEqual([
      { kind: 'quiet_feed', table: 'orders', rows: 24, trailingMedian: 30, since: dailyReport(4, 24).loadId },
    ]);
    expect(q.sources).toEqual({
      trailingLoads: `${cdkJson} trailingLoads`,
      minTrailingLoads: `${cdkJson} (the stack's default)`,
      quietFeedFraction: `${cdkJson} quietFeedFraction`,
      failedUserSharePercent: `${cdkJson} (the stack's default)`,
      minExpectedRows: `${cdkJson} (the stack's default)`,
      // The sixth setting status takes from the stack: no flag sets it.
      minUsersForFailedShare: `${cdkJson} (the stack's default)`,
    });
    const text = await runCli(['status', '--dest', lake, '--stack-config', cdkJson]);
    expect(text.stdout).toMatch(/minUsersForFailedShare 10 \(.*cdk\.json \(the stack's default\)\)\n/);
    expect(text.stdout).toContain(
      `Settings: trailingLoads 3 (${cdkJson} trailingLoads), minTrailingLoads 2 (${cdkJson} (the stack's default)), quietFeedFraction 0.9 (${cdkJson} quietFeedFraction)`,
    );
    expect(text.stdout).toContain('quiet feed orders (24 rows, trailing median 30)');
  });

  it("judges each schedule's run against its own window from the stack's schedules, as RunOutsideWindow does", async () => {
    const two = scratch.path('two-schedules');
    const store = createLocalStore(two);
    // Both commit 20 minutes after their slot: inside a daily run's window, outside a 15-minute one's.
    const loads = [dailyReport(5, 30), { ...dailyReport(6, 30), schedule: 'quarter-hourly' }];
    await putCommitted(store, loads);
    const schedules = [
      { name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 24, users: 'all' },
      { name: 'quarter-hourly', expression: 'rate(15 minutes)', users: 'all' },
    ];
    const file = join(app, 'two-schedules.json');
    const write = (dataQuality: unknown) =>
      writeFile(
        file,
        JSON.stringify({ context: { paylink: { stackName: 'Lake', schedules, dataQuality } } }),
      );
    const flagsOf = async (...extra: string[]) => {
      const run = await runCli(['status', '--dest', two, '--json', '--stack-config', file, ...extra]);
      expect(run.code, run.stderr).toBe(0);
      return Object.fromEntries(quality(run.stdout).loads.map((l) => [l.loadId, l.flags.map((f) => f.kind)]));
    };
    await write({});
    expect(await flagsOf()).toEqual({ [loads[0]!.loadId]: [], [loads[1]!.loadId]: ['outside_window'] });
    const text = await runCli(['status', '--dest', two, '--stack-config', file]);
    expect(text.stdout).toContain(
      "Run windows (the stack's schedules): daily 21.6 h, quarter-hourly 13.5 min",
    );
    expect(text.stdout).toContain('committed 1200 s after its start, outside its 810 s window');
    // The flag is one window for every load; the alarm switched off takes the windows away.
    expect(await flagsOf('--run-window-minutes', '30')).toEqual({
      [loads[0]!.loadId]: [],
      [loads[1]!.loadId]: [],
    });
    await write({ runOutsideWindow: false });
    expect(await flagsOf()).toEqual({ [loads[0]!.loadId]: [], [loads[1]!.loadId]: [] });
    await write({});
    await writeFile(
      file,
      JSON.stringify({
        context: {
          paylink: { stackName: 'Lake', schedules: [{ name: 'x', expression: 'cron(0 3 * * ? *)' }] },
        },
      }),
    );
    const bad = await runCli(['status', '--dest', two, '--stack-config', file]);
    expect(bad.code).toBe(1);
    // synth's words (core/schedule-config.ts scheduleListIssues), not words of the CLI's own.
    expect(bad.stderr).toContain(
      'context.paylink.schedules[0].expectedPeriodHours: is required for a cron() schedule',
    );
  });

  it('reads ./cdk.json in the working folder when it is the stack config, and a flag still wins', async () => {
    const inApp = captureIo({}, { cwd: app });
    expect(await main(['status', '--dest', lake, '--json'], inApp.io), inApp.stderr()).toBe(0);
    const q = quality(inApp.stdout());
    expect(q.settings.quietFeedFraction).toBe(0.9);
    expect(q.sources?.quietFeedFraction).toBe('./cdk.json quietFeedFraction');

    const flagged = captureIo({}, { cwd: app });
    expect(await main(['status', '--dest', lake, '--json', '--quiet-fraction', '0.5'], flagged.io)).toBe(0);
    const f = quality(flagged.stdout());
    expect(f.settings.quietFeedFraction).toBe(0.5);
    expect(f.sources?.quietFeedFraction).toBe('--quiet-fraction');
    expect(f.sources?.trailingLoads).toBe('./cdk.json trailingLoads');
    expect(f.loads.at(-1)!.flags).toEqual([]);
  });

  it('ignores a cdk.json in the working folder that is not the stack config', async () => {
    const other = scratch.path('other-app');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'cdk.json'), JSON.stringify({ app: 'node app.js', context: {} }));
    const io = captureIo({}, { cwd: other });
    expect(await main(['status', '--dest', lake, '--json'], io.io)).toBe(0);
    expect(quality(io.stdout()).settings.quietFeedFraction).toBe(0.5);
    expect(quality(io.stdout()).sources?.quietFeedFraction).toBe('default');
  });

  it('refuses a bad stack config with one line naming the file and the key, never a stack trace', async () => {
    const bad = join(app, 'bad.json');
    await writeFile(bad, stackJson({ quietFeedFraction: 2 }));
    const run = await runCli(['status', '--dest', lake, '--stack-config', bad]);
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain(
      `--stack-config ${bad}: context.paylink.dataQuality.quietFeedFraction: must be a number above 0 and at most 1`,
    );
    const missing = await runCli(['status', '--dest', lake, '--stack-config', join(app, 'nope.json')]);
    expect(missing.stderr).toContain(`--stack-config: file not found: ${join(app, 'nope.json')}`);
    const notStack = join(app, 'not-stack.json');
    await writeFile(notStack, JSON.stringify({ context: {} }));
    const none = await runCli(['status', '--dest', lake, '--stack-config', notStack]);
    expect(none.stderr).toContain('has no context.paylink object');
    expect(`${run.stderr}${missing.stderr}${none.stderr}`).not.toMatch(/\n\s+at /);
    // --load-id judges its one load with the stack's settings too: a bad file is refused there alike.
    const withLoadId = await runCli([
      'status',
      '--dest',
      lake,
      '--load-id',
      '1796000000',
      '--stack-config',
      bad,
    ]);
    expect(withLoadId.code).toBe(1);
    expect(withLoadId.stderr).toContain(
      `--stack-config ${bad}: context.paylink.dataQuality.quietFeedFraction: must be a number above 0 and at most 1`,
    );
  });

  it('names the quiet fraction in --json as cdk.json does (quietFeedFraction), with no second key', async () => {
    const run = await runCli(['status', '--dest', lake, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const q = quality(run.stdout);
    expect(q.settings.quietFeedFraction).toBe(0.5);
    expect(q.settings).not.toHaveProperty('quietFraction');
    expect(q.sources).not.toHaveProperty('quietFraction');
  });

  it('ignores with a one-line note a ./cdk.json that is not JSON or has no paylink context; refuses it given', async () => {
    const broken = scratch.path('broken-app');
    await mkdir(broken, { recursive: true });
    await writeFile(join(broken, 'cdk.json'), '{ "app": "node app.js", ');
    const io = captureIo({}, { cwd: broken });
    expect(await main(['status', '--dest', lake, '--json'], io.io), io.stderr()).toBe(0);
    expect(quality(io.stdout()).sources?.quietFeedFraction).toBe('default');
    expect(io.stderr().trim().split('\n')).toEqual([
      "note: ./cdk.json in the working folder is ignored: it is not valid JSON (not this stack's config)",
    ]);
    const other = scratch.path('other-app-2');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'cdk.json'), JSON.stringify({ app: 'node app.js', context: {} }));
    const io2 = captureIo({}, { cwd: other });
    expect(await main(['status', '--dest', lake], io2.io)).toBe(0);
    expect(io2.stderr()).toContain('./cdk.json in the working folder is ignored: it has no context.paylink');
    // Given by name, the same file is an error naming it.
    const given = await runCli(['status', '--dest', lake, '--stack-config', join(broken, 'cdk.json')]);
    expect(given.code).not.toBe(0);
    expect(given.stderr.trim().split('\n')).toEqual([
      `error: --stack-config ${join(broken, 'cdk.json')}: is not valid JSON.`,
    ]);
  });

  it('words a bad dataQuality value as cdk synth does for the same key', async () => {
    for (const [key, value] of [
      ['failedUserSharePercent', 100],
      ['quietFeedFraction', 2],
      ['trailingLoads', 0],
      ['minExpectedRows', 1.5],
    ] as const) {
      let synth = '';
      try {
        parseStackConfig({
          schedules: [{ name: 'daily', expression: 'rate(1 day)' }],
          dataQuality: { [key]: value },
        });
      } catch (error) {
        synth = (error as Error).message;
      }
      expect(synth).toMatch(new RegExp(`^paylink\\.dataQuality\\.${key}: `));
      const file = join(app, `bad-${key}.json`);
      await writeFile(file, stackJson({ [key]: value }));
      const run = await runCli(['status', '--dest', lake, '--stack-config', file]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(`--stack-config ${file}: context.${synth}`);
    }
  });

  it('refuses --failed-share 100 as cdk.json refuses failedUserSharePercent 100 (the flag is a share above it)', async () => {
    const run = await runCli(['status', '--dest', lake, '--failed-share', '100']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('--failed-share: must be a percentage from 0 to below 100');
    const ok = await runCli(['status', '--dest', lake, '--json', '--failed-share', '99.5']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(quality(ok.stdout).settings.failedUserSharePercent).toBe(99.5);
  });

  it('says in --help where the values come from', async () => {
    const help = await runCli(['status', '--help']);
    expect(help.stdout + help.stderr).toContain('--stack-config <cdk.json>');
    expect(help.stdout + help.stderr).toContain('./cdk.json is read when the working folder has one');
  });
});
