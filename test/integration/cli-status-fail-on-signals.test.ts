/**
 * `status --fail-on-signals` judges the newest load (the alarms hold the newest load's state),
 * and `status` raises no flag for a signal the stack's cdk.json switches off (the stack has no
 * alarm for it), in text and JSON. On lakes of load reports written here (numbers chosen).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import { dailyReport, putCommitted } from '#test/helpers/daily-report.ts';
import { runCli, Scratch } from '#test/helpers/lake-harness.ts';

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
