/**
 * What a user meets around the reading layers: README SQL pasted into `query` as is, `status`
 * agreeing with the views when reports or the registry are gone, and a simulator whose world can
 * move on between loads from the command line.
 */
import { statSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSimulateArgs } from '#cli/simulate-command.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { captureIo, credentialsEnv, runCli, runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const ENV = credentialsEnv('cli-key', 'cli-secret');

describe('the CLI over a lake of two loads', () => {
  let scratch: Scratch;
  let sim: Simulator;
  let dest: string;

  beforeAll(async () => {
    scratch = await Scratch.create('cli-lake');
    sim = await startSimulator({ seed: 'cli', apiKey: 'cli-key', apiSecret: 'cli-secret' });
    const users = await scratch.users('users.txt', generateIdentifiers('cli', 6));
    dest = scratch.path('lake');
    for (const loadId of ['z-first', 'a-second']) {
      const run = await runLoad({ users, dest, baseUrl: sim.url, loadId, resources: ['accounts'] }, ENV);
      expect(run.code, run.stderr).toBe(0);
    }
  }, 60_000);
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it('runs SQL that starts with a comment, as the README examples do', async () => {
    const run = await runCli([
      'query',
      '--dest',
      dest,
      '--json',
      '-- name: example\nSELECT count(*) AS n FROM _dlt_loads',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ columns: ['n'], rows: [[2]] });
  });

  it('lists loads by start time, counts _dlt_loads, and names a committed load whose report is gone', async () => {
    await rm(`${dest}/_loads/a-second.json`);
    const run = await runCli(['status', '--dest', dest, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const status = JSON.parse(run.stdout);
    expect(status.loads.map((l: { loadId: string }) => l.loadId)).toEqual(['z-first']);
    expect(status.withoutReport).toEqual(['a-second']);
    expect(status.uncommitted).toEqual([]);
    const dltLoads = status.tables.find((t: { table: string }) => t.table === '_dlt_loads');
    expect(dltLoads).toMatchObject({ rows: 2, files: 2 });
    const onDisk = (await readdir(`${dest}/_dlt_loads`, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.endsWith('.parquet'))
      .map((e) => statSync(join(e.parentPath, e.name)).size);
    expect(onDisk).toHaveLength(2);
    expect(dltLoads.bytes, 'the two commit-point files, as on disk').toBe(onDisk[0]! + onDisk[1]!);
  });

  it('still reports a lake whose registry is gone, with a warning naming the repair', async () => {
    await rm(`${dest}/_schema`, { recursive: true });
    const run = await runCli(['status', '--dest', dest]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('paylink-loader repair-schema');
    expect(run.stdout).toContain('schema version ?');
  });
});

describe('paylink-loader simulate', () => {
  it('takes the world generation and failing users from the command line', () => {
    const { options } = parseSimulateArgs(
      ['--port', '0', '--generation', '2', '--fail-users', 'user-000001, user-000002'],
      captureIo().io,
    );
    expect(options).toMatchObject({ generation: 2, faults: { failUsers: ['user-000001', 'user-000002'] } });
  });

  it("takes the server limit's window: --rate-limit-window sliding refuses a burst the default bucket lets through", async () => {
    const parse = (extra: string[]) =>
      parseSimulateArgs(['--port', '0', '--rate-limit', '4', ...extra], captureIo().io).options;
    expect(parse(['--rate-limit-window', 'sliding'])).toMatchObject({
      rateLimit: 4,
      rateLimitWindow: 'sliding',
    });
    expect(parse(['--rate-limit-window', 'bucket'])).toMatchObject({ rateLimitWindow: 'bucket' });
    expect(parse([])).not.toHaveProperty('rateLimitWindow');
    expect(() => parse(['--rate-limit-window', 'strict'])).toThrow(
      '--rate-limit-window: "strict" is not a window: use bucket or sliding',
    );
    expect(() => parseSimulateArgs(['--rate-limit-window', 'sliding'], captureIo().io)).toThrow(
      '--rate-limit-window: needs --rate-limit',
    );
    // 4 requests at once, then 2 half a second later: the bucket has refilled 2 slots by then;
    // the sliding window still holds the first 4 and refuses both.
    const refusedLater = async (extra: string[]) => {
      const sim = await startSimulator(parse(extra));
      try {
        const get = async () => (await fetch(`${sim.url}/pay-link/accounts`)).status;
        const first = await Promise.all(Array.from({ length: 4 }, get));
        expect(first.filter((s) => s === 429)).toEqual([]);
        await new Promise((resolve) => setTimeout(resolve, 600));
        return (await Promise.all([get(), get()])).filter((s) => s === 429).length;
      } finally {
        await sim.close();
      }
    };
    expect(await refusedLater(['--rate-limit-window', 'sliding'])).toBe(2);
    expect(await refusedLater([])).toBe(0);
  });

  it('refuses a generation that is not a whole number, naming the flag', () => {
    expect(() => parseSimulateArgs(['--generation', 'x'], captureIo().io)).toThrow('--generation');
  });

  it('names a busy port in one line, not as an internal error', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      const run = await runCli(['simulate', '--port', String(port)]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        `error: --port: 127.0.0.1:${port} is already in use (pick another port, or 0 for any free one).\n`,
      );
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });
});
