/**
 * What a load says about itself when it is stopped, resumed or fails, checked against the lake
 * it leaves: a second Ctrl-C during the commit reads the lake before it says "not committed";
 * `status --load-id` does not call a killed run "running"; a resume says what it keeps and
 * gives a command that works from any directory; `--json` names the load id of a failure.
 * In-process through main() on real loads against the built-in simulator.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { Io } from '#cli/io.ts';
import { stoppedDuringCommit } from '#cli/load-command.ts';
import type { LoadDetail } from '#cli/load-report.ts';
import { main } from '#cli/main.ts';
import { ADAPTIVE_CONCURRENCY } from '#core/adaptive-concurrency.ts';
import { dltLoadsKey } from '#core/layout.ts';
import { acquireLease } from '#core/lease.ts';
import type { ObjectStore } from '#core/ports.ts';
import { receiveWebhook, signWebhookBody } from '#core/webhook.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { captureIo, credentialsEnv, loadArgv, runCli, Scratch } from '#test/helpers/lake-harness.ts';

const SEED = 'lifecycle';

/** `io` with a Ctrl-C right after the load subscribes: no user starts, the plan is staged and kept. */
function ctrlCAtStart(io: Io): Io {
  return {
    ...io,
    onInterrupt: (h) => {
      setImmediate(() => h('SIGINT'));
      return () => undefined;
    },
  };
}
const ENV = credentialsEnv('lifecycle-key', 'lifecycle-secret');

describe('what a load says when it is stopped, resumed or fails', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let users: string;
  let identifiers: string[];

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: 'lifecycle-key', apiSecret: 'lifecycle-secret' });
    scratch = await Scratch.create('lifecycle');
    identifiers = generateIdentifiers(SEED, 12);
    users = await scratch.users('users.txt', identifiers);
  });

  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it('a second Ctrl-C during the commit: committed or not is read from the lake, with the matching exit code', async () => {
    const dest = scratch.path('committed');
    const load = await runCli(
      loadArgv({ users, dest, baseUrl: sim.url, loadId: 'done', resources: ['accounts'] }),
      ENV,
    );
    expect(load.code, load.stderr).toBe(0);
    const store = createLocalStore(dest);

    const committed = await stoppedDuringCommit(store, 'done', dest);
    expect(committed).toMatchObject({ committed: true, exitCode: 0 });
    expect(committed.message).toContain('stopped after load done was committed');
    expect(committed.message).not.toContain('not committed');

    // The same lake without the commit point (the _dlt_loads row): not committed, exit 6.
    await store.delete([dltLoadsKey('done')]);
    const notYet = await stoppedDuringCommit(store, 'done', dest);
    expect(notYet).toMatchObject({ committed: false, exitCode: 6 });
    expect(notYet.message).toContain('not committed');
    expect(notYet.message).toContain(`--load-id done`);

    // A lake that does not answer in time: it says it cannot tell, and how to find out.
    const hanging: ObjectStore = { ...store, get: () => new Promise(() => undefined) };
    const unknown = await stoppedDuringCommit(hanging, 'done', dest, 50);
    expect(unknown).toMatchObject({ committed: undefined, exitCode: 6 });
    expect(unknown.message).toContain(`'paylink-loader status --dest ${dest} --load-id done' tells`);
  });

  it('a second Ctrl-C as the commit starts: the load is not committed yet, and it says so with exit 6', async () => {
    const dest = scratch.path('second-signal');
    const captured = captureIo(ENV);
    let handler: ((signal: 'SIGINT' | 'SIGTERM') => void) | undefined;
    const exits: number[] = [];
    const said: string[] = [];
    const stderr = captured.io.stderr;
    const io: Io = {
      ...captured.io,
      // Both signals land the moment the load says its commit starts.
      stderr: Object.assign(Object.create(stderr), {
        write(chunk: string) {
          said.push(String(chunk));
          if (String(chunk).startsWith('committing load') && handler) {
            handler('SIGINT');
            handler('SIGINT');
          }
          return stderr.write(chunk);
        },
      }),
      onInterrupt: (h) => {
        handler = h;
        return () => {
          handler = undefined;
        };
      },
      exit: (code) => {
        exits.push(code);
      },
    };
    const argv = loadArgv({
      users,
      dest,
      baseUrl: sim.url,
      loadId: 'cut-in-commit',
      resources: ['accounts'],
    });
    // Not --quiet: the "committing" line is the cue.
    await main(
      argv.filter((a) => a !== '--quiet'),
      io,
    );
    // io.exit does not end an in-process run: wait until the lake was read and the exit asked for.
    for (let i = 0; i < 100 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(exits).toEqual([6]);
    const message = said.join('');
    expect(message).toContain('SIGINT: the commit of load cut-in-commit is finishing');
    expect(message).toContain('SIGINT: stopped during the commit of load cut-in-commit: not committed');
  });

  it('status --load-id does not call a run on this host that is gone "running", however fresh its lease', async () => {
    const dest = scratch.path('dead-run');
    const store = createLocalStore(dest);
    // A process that has exited: its pid names nobody now.
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((resolve) => child.on('exit', resolve));
    await store.put('_staging/gone/plan.json', '{}');
    await acquireLease(store, 'gone', {
      owner: { id: 'killed-run', kind: 'cli', host: hostname(), pid, command: 'paylink-loader load' },
      ttlMs: 10 * 60_000,
      clock: () => new Date(),
    });
    const status = await runCli(['status', '--dest', dest, '--load-id', 'gone', '--json']);
    const detail = JSON.parse(status.stdout) as LoadDetail;
    expect(detail.state, status.stderr).not.toBe('running');
    expect(detail).not.toHaveProperty('runningSince');
  });

  it('a resume says what it keeps, prints absolute paths, and its summary splits requests by run', async () => {
    const dest = 'lake-resume';
    // Relative --users and --dest, from a working directory of its own.
    const cwd = scratch.dir;
    const run = async (argv: string[], stop: boolean) => {
      const captured = captureIo(ENV, { cwd });
      const io: Io = stop ? ctrlCAtStart(captured.io) : captured.io;
      return { code: await main(argv, io), stderr: captured.stderr(), stdout: captured.stdout() };
    };
    const argv = [
      'load',
      '--users',
      'users.txt',
      '--dest',
      dest,
      '--base-url',
      sim.url,
      '--resources',
      'accounts',
      '--batch-size',
      '4',
      '--load-id',
      'resumed',
    ];
    const first = await run(argv, true);
    expect(first.code, first.stderr).toBe(130);
    const resume = /Resume with:\n\s+paylink-loader (.+)\n/.exec(first.stderr)?.[1];
    expect(resume).toContain(`--users ${scratch.path('users.txt')}`);
    expect(resume).toContain(`--dest ${scratch.path(dest)}`);

    const again = await run([...resume!.split(' '), '--json'], false);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('no batch of the earlier attempt was complete: all 12 users load again');
    expect(again.stderr).not.toContain('kept ');
    const summary = JSON.parse(again.stdout) as {
      requests: number;
      requestsThisRun?: number;
      userConcurrency?: { mode: string; users: number };
    };
    expect(summary.requestsThisRun).toBe(summary.requests);
    // No --concurrency: the users in flight adapted, and the summary says how many.
    expect(summary.userConcurrency?.mode).toBe('adaptive');
    expect(summary.userConcurrency?.users).toBeGreaterThanOrEqual(ADAPTIVE_CONCURRENCY.min);
  });

  it('--json: a load that cannot reach PayLink names its generated load id; an early Ctrl-C prints its JSON error', async () => {
    const dest = scratch.path('unreachable');
    const closed = 'http://127.0.0.1:9';
    const failed = await runCli(
      [...loadArgv({ users, dest, baseUrl: closed, resources: ['accounts'] }), '--json'],
      ENV,
    );
    expect(failed.code).toBe(1);
    const error = (JSON.parse(failed.stdout) as { error: { loadId?: string; code: string } }).error;
    expect(error.loadId).toMatch(/^\d+\.\d+$/);

    const captured = captureIo(ENV);
    const exits: number[] = [];
    const io: Io = {
      ...captured.io,
      // The signal arrives while flags and files are checked, before anything is staged.
      onInterrupt: (h) => {
        h('SIGTERM');
        return () => undefined;
      },
      exit: (code) => {
        exits.push(code);
        throw new Error('exited');
      },
    };
    await main([...loadArgv({ users, dest, baseUrl: sim.url, loadId: 'early' }), '--json'], io).catch(
      () => undefined,
    );
    expect(exits).toEqual([143]);
    // The first document is the interruption's (process.exit would end the run there; here the
    // thrown stand-in makes main print its own failure after it).
    const out = captured.stdout();
    const early = JSON.parse(out.slice(0, out.indexOf('\n}\n') + 2)) as { error: Record<string, unknown> };
    expect(early.error).toMatchObject({
      command: 'load',
      exitCode: 143,
      code: 'interrupted',
      committed: false,
      loadId: 'early',
    });
  });

  it("an interrupted '--users changed' load: its resume command keeps the keyword, and finishes the load", async () => {
    const dest = scratch.path('changed-resume');
    const store = createLocalStore(dest);
    // Two users changed at the source: their signed events are stored as the receiver stores them.
    for (const identifier of identifiers.slice(0, 2)) {
      const body = JSON.stringify({
        eventType: 'pay-link-accounts-updated',
        eventTime: new Date().toISOString(),
        user: { _id: `atomic-${identifier}`, identifier },
        data: {},
      });
      const outcome = await receiveWebhook(
        {
          headers: { 'x-hmac-signature-sha-256': signWebhookBody(body, 'lifecycle-secret') },
          body: new TextEncoder().encode(body),
        },
        { store, secret: 'lifecycle-secret', receivedAt: new Date() },
      );
      expect(outcome.kind).toBe('accepted');
    }
    const captured = captureIo(ENV, { cwd: scratch.dir });
    const io: Io = {
      ...captured.io,
      onInterrupt: (h) => {
        setImmediate(() => h('SIGINT'));
        return () => undefined;
      },
    };
    const argv = [
      'load',
      '--users',
      'changed',
      '--dest',
      dest,
      '--base-url',
      sim.url,
      '--resources',
      'accounts',
    ];
    expect(await main(argv, io), captured.stderr()).toBe(130);
    const resume = /Resume with:\n\s+paylink-loader (.+)\n/.exec(captured.stderr())?.[1];
    expect(resume).toContain('--users changed ');
    const resumed = await runCli(resume!.split(' '), ENV);
    expect(resumed.code, resumed.stderr).toBe(0);
  });
});
