/**
 * `load --users changed` at its edges: a lake with no new events loads nothing and says so
 * (exit 0, no load); a lake folder that does not exist is a typo, refused naming --dest.
 * And `load --users <file>`: the users of stored events join the load, those of events no load
 * has committed yet included, and the line that says so names the load, not the file.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { receiveWebhook } from '#core/webhook.ts';
import { startSimulator } from '#simulator/server.ts';
import { simulatedEvent } from '#simulator/webhook-sender.ts';
import { changedLoadArgv, credentialsEnv, runCli, Scratch } from '#test/helpers/lake-harness.ts';
import { receiveSimulatedEvent } from '#test/helpers/signed-webhook.ts';

const ENV = credentialsEnv('k', 's');

describe('load --users changed', () => {
  let scratch: Scratch;
  beforeAll(async () => {
    scratch = await Scratch.create('load-changed-cli');
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  it('loads nothing, and says why, when no event is new', async () => {
    const lake = scratch.path('lake');
    await mkdir(lake);
    const run = await runCli(
      ['load', '--users', 'changed', '--dest', lake, '--base-url', 'http://127.0.0.1:9'],
      ENV,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('nothing to load');
    // Nothing written: no load, no lease, no state.
    expect(await readdir(lake)).toEqual([]);
  });

  it('refuses a lake folder that does not exist, naming --dest', async () => {
    const run = await runCli(
      ['load', '--users', 'changed', '--dest', scratch.path('typo'), '--base-url', 'http://127.0.0.1:9'],
      ENV,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/--dest: no lake at .*typo/);
  });
});

describe('the first load --users changed of a lake', () => {
  let scratch: Scratch;
  beforeAll(async () => {
    scratch = await Scratch.create('load-changed-first');
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  it('says, in --dry-run and in the load, that it loads every stored event user; later ones do not', async () => {
    const sim = await startSimulator({ seed: 'first-changed', apiKey: 'k', apiSecret: 's' });
    try {
      const lake = scratch.path('lake');
      await mkdir(lake);
      const store = createLocalStore(lake);
      const send = async (identifier: string) => {
        const change = sim.change(identifier);
        const stored = await receiveSimulatedEvent({ store, secret: 's' }, identifier, new Date(), {
          type: change.eventType,
          data: change.data,
        });
        expect(stored.kind).toBe('accepted');
      };
      await send('first-1');
      await send('first-2');
      const args = changedLoadArgv({ dest: lake, baseUrl: sim.url, resources: ['accounts'] });
      const note = "first 'changed' load of";

      const dry = await runCli([...args, '--dry-run'], ENV);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain(note);
      expect(dry.stdout).toContain(
        "first 'changed' load of " +
          `${lake} with --resources accounts: no committed 'changed' load of these resources has seen any webhook event yet, so this one loads the users of every event stored so far (2 users), old events included, not only recent ones: with many events stored, that is as many users as a full load.`,
      );

      const first = await runCli(args, ENV);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toContain(note);

      await send('first-3');
      const later = await runCli([...args, '--dry-run'], ENV);
      expect(later.code, later.stderr).toBe(0);
      expect(later.stdout).toContain('users: 1 from');
      expect(later.stdout + later.stderr).not.toContain(note);
    } finally {
      await sim.close();
    }
  });
});

describe('load --users <file> with stored webhook events', () => {
  let scratch: Scratch;
  beforeAll(async () => {
    scratch = await Scratch.create('load-learned-cli');
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  it('loads the users of events no load has committed yet, and says the file is not changed', async () => {
    const sim = await startSimulator({ seed: 'learned', apiKey: 'k', apiSecret: 's' });
    try {
      const lake = scratch.path('lake');
      const usersFile = await scratch.users('users.txt', ['listed-1', 'listed-2']);
      sim.change('linked-today');
      const task = sim.change('linked-today');
      expect(task.kind).toBe('task-completed');
      const event = simulatedEvent({
        identifier: 'linked-today',
        type: task.eventType,
        time: new Date('2026-12-01T08:00:00.000Z'),
        secret: 's',
        data: task.data,
      });
      const stored = await receiveWebhook(
        { headers: event.headers, body: new TextEncoder().encode(event.body) },
        { store: createLocalStore(lake), secret: 's', receivedAt: new Date() },
      );
      expect(stored.kind).toBe('accepted');
      const run = await runCli(
        [
          'load',
          '--users',
          usersFile,
          '--dest',
          lake,
          '--base-url',
          sim.url,
          '--resources',
          'accounts,tasks',
          '--json',
        ],
        ENV,
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(
        `also loading 1 user(s) learned from webhook events that ${usersFile} does not list (the file is not changed)`,
      );
      expect(JSON.parse(run.stdout)).toMatchObject({ users: 3 });
      // The event's task id went to the tasks resource; the list file is as it was.
      const tables = JSON.parse(run.stdout).tables as { table: string; rows: number }[];
      expect(tables.find((t) => t.table === 'tasks')?.rows).toBe(1);
      expect(await readFile(usersFile, 'utf8')).toBe('listed-1\nlisted-2\n');
    } finally {
      await sim.close();
    }
  });
});
