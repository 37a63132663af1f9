/**
 * Interrupt and resume, as an operator does it: the built command (bin/paylink-loader.mjs) in
 * its own process gets a real SIGINT half-way through a 1,000-user load in 8 batches. It stops starting
 * users, lets those in flight finish, keeps what it staged, prints the load id and the exact
 * command that resumes it, and exits 130. That command then loads only the rest (fewer than 55%
 * of a full load's requests) and the lake equals the lake of an uninterrupted load.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  credentialsEnv,
  idsByTable,
  loadArgv,
  runCli,
  runLoad,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/paylink-loader.mjs', import.meta.url));
const SEED = 'interrupt-seed';
const API_KEY = 'interrupt-key';
const API_SECRET = 'interrupt-secret';
const env = credentialsEnv(API_KEY, API_SECRET);
/** Eight batches: the interrupt lands in the middle of the load, with batches on both sides of it. */
const USERS = 1_000;
const BATCH_SIZE = 125;

describe('a load interrupted with SIGINT half-way', () => {
  let sim: Simulator;
  let scratch: Scratch;
  beforeAll(async () => {
    // A little latency: the load takes long enough to be interrupted in the middle.
    sim = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      faults: { latencyMs: 3 },
    });
    scratch = await Scratch.create('interrupt');
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it('stops cleanly, says how to resume, and the resume loads only the rest', async () => {
    const users = await scratch.users('users.txt', generateIdentifiers(SEED, USERS));
    const common = {
      users,
      baseUrl: sim.url,
      loadId: 'big-load',
      batchSize: BATCH_SIZE,
      concurrency: 16,
      resources: ['accounts'],
    };
    const before = sim.stats().requests;
    const reference = await runLoad({ ...common, dest: scratch.path('reference') }, env);
    expect(reference.code, reference.stderr).toBe(0);
    const full = sim.stats().requests - before;
    // A committed load is not resumed (that would replace it).
    const committed = await runCli(
      [
        'load',
        '--users',
        users,
        '--dest',
        scratch.path('reference'),
        '--base-url',
        sim.url,
        '--resume',
        'big-load',
      ],
      env,
    );
    expect(committed.stderr).toMatch(
      /load big-load is committed in .+, not interrupted: --load-id big-load would replace it/,
    );

    // The interrupted run, in its own process, as `npx paylink-loader` runs it.
    const dest = scratch.path('lake');
    const argv = loadArgv({ ...common, dest }).filter((a) => a !== '--quiet');
    const child = spawn(process.execPath, [BIN, ...argv], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const start = sim.stats().requests;
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        if (sim.stats().requests - start >= full / 2) {
          clearInterval(poll);
          child.kill('SIGINT');
          resolve();
        }
      }, 20);
      child.on('close', () => {
        clearInterval(poll);
        reject(new Error(`the load ended before it was interrupted: ${stderr}`));
      });
    });
    const code = await exited;
    const interrupted = sim.stats().requests - start;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/^load big-load into .+: 1000 users in 8 batch\(es\)\n/);
    expect(stderr).toContain('SIGINT: finishing the users in flight, then stopping');
    const resume = /Resume with:\n {2}(paylink-loader load .+ --resume big-load)\n$/.exec(stderr)?.[1];
    expect(resume, stderr).toBeDefined();
    expect(stderr).toMatch(/load big-load interrupted: \d+ of 1000 users staged, nothing committed/);
    expect((await runCli(['status', '--dest', dest, '--json'])).stdout).toContain('"loads": []');

    // The printed command, as a person would paste it (minus the program name).
    const args = resume!.split(' ').slice(1);
    const again = sim.stats().requests;
    expect(resume).toContain('--rate-limit 10000 --concurrency 16 --resume big-load');
    const resumed = await runCli([...args, '--quiet'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    const rest = sim.stats().requests - again;
    expect(rest).toBeLessThan(0.55 * full);
    expect(interrupted + rest).toBeLessThan(1.1 * full);
    console.info(
      `interrupt/resume: full load ${full} requests; interrupted run ${interrupted}; resume ${rest} (${((100 * rest) / full).toFixed(1)}%)`,
    );

    const [expected, actual] = await Promise.all([
      withLake(scratch.path('reference'), idsByTable),
      withLake(dest, idsByTable),
    ]);
    expect(actual).toEqual(expected);
    expect((await runCli(['verify', '--dest', dest])).code).toBe(0);
    // Three loads of 1,000 users: 102 s in a full suite run on a loaded 2-core machine (load
    // 13-20), over half the 180 s this had. A hang is what the timeout is for.
  }, 300_000);

  it('refuses --resume when nothing of that load is staged', async () => {
    const users = await scratch.users('few.txt', generateIdentifiers(SEED, 3));
    const run = await runCli(
      ['load', '--users', users, '--dest', scratch.path('empty'), '--base-url', sim.url, '--resume', 'nope'],
      env,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^error: --resume: nothing of load nope is staged in .+; use --load-id nope to load it\. Nothing was committed\.\n$/,
    );
    const json = await runCli(
      [
        'load',
        '--users',
        users,
        '--dest',
        scratch.path('empty'),
        '--base-url',
        sim.url,
        '--resume',
        'nope',
        '--json',
      ],
      env,
    );
    expect(JSON.parse(json.stdout).error).toMatchObject({
      command: 'load',
      exitCode: 1,
      code: 'config_invalid',
      committed: false,
      loadId: 'nope',
    });
    // Staged with other input: the message says what differs.
    const other = scratch.path('other');
    await mkdir(join(other, '_staging', 'staged'), { recursive: true });
    await writeFile(
      join(other, '_staging', 'staged', 'plan.json'),
      JSON.stringify({
        loadId: 'staged',
        batchSize: 250,
        resources: ['accounts'],
        users: 3,
        inputDigest: 'x',
      }),
    );
    const differs = await runCli(
      [
        'load',
        '--users',
        users,
        '--dest',
        other,
        '--base-url',
        sim.url,
        '--batch-size',
        '100',
        '--resume',
        'staged',
      ],
      env,
    );
    expect(differs.stderr).toContain(
      'was staged with other input: --batch-size 250 (not 100), --resources accounts (not ',
    );
  });
});
