/**
 * A user learned from a webhook event whose identifier starts or ends with whitespace is warned
 * of alike by the loads that include the learned users: a `changed` load, and a load of a users
 * list (which adds the learned users to the file's). One line, counted, never the identifier;
 * a list's own such identifiers keep their own line, and a learned user the list names is not
 * counted twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { ObjectStore } from '#core/ports.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { type CliRun, credentialsEnv, runCli, Scratch } from '#test/helpers/lake-harness.ts';
import { receiveSimulatedEvent } from '#test/helpers/signed-webhook.ts';

const API_KEY = 'ws-key';
const API_SECRET = 'ws-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const PADDED = ' padded-learned-user';
const WARNING = 'start or end with whitespace; they are loaded exactly as written';

let scratch: Scratch;
let sim: Simulator;

beforeAll(async () => {
  scratch = await Scratch.create('learned-whitespace');
  sim = await startSimulator({ seed: 'learned-whitespace', apiKey: API_KEY, apiSecret: API_SECRET });
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

async function receive(store: ObjectStore, identifier: string): Promise<void> {
  const outcome = await receiveSimulatedEvent({ store, secret: API_SECRET }, identifier, new Date());
  expect(outcome.kind).toBe('accepted');
}

function load(lake: string, users: string, loadId: string): Promise<CliRun> {
  return runCli(
    [
      'load',
      '--users',
      users,
      '--dest',
      lake,
      '--load-id',
      loadId,
      '--resources',
      'accounts',
      '--base-url',
      sim.url,
      '--rate-limit',
      '10000',
    ],
    ENV,
  );
}

const warnings = (run: CliRun) => run.stderr.split('\n').filter((line) => line.includes(WARNING));

describe('a learned identifier with surrounding whitespace', () => {
  it('is warned of once, counted, by a changed load and by a load of a users list alike', async () => {
    const lake = scratch.path('lake');
    const store = createLocalStore(lake);
    await receive(store, PADDED);
    await receive(store, 'plain-learned-user');

    const changed = await load(lake, 'changed', 'changed-1');
    expect(changed.code, changed.stderr).toBe(0);
    expect(warnings(changed)).toEqual([
      `warning: 1 identifier(s) in the 2 users of 2 new webhook event(s) ${WARNING} (a different user from the same identifier without it)`,
    ]);

    // A users list that names neither: both learned users join it, the padded one warned of.
    const list = await scratch.users('list.txt', ['listed-user']);
    const full = await load(lake, list, 'full-1');
    expect(full.code, full.stderr).toBe(0);
    expect(warnings(full)).toEqual([
      `warning: 1 identifier(s) in the user(s) learned from webhook events that ${list} does not list ${WARNING} (a different user from the same identifier without it)`,
    ]);

    // A list that names the padded user itself: its own line, the learned users' none (counted once).
    const named = await scratch.text('named.txt', `${PADDED}\nlisted-user\n`);
    const again = await load(lake, named, 'full-2');
    expect(again.code, again.stderr).toBe(0);
    expect(warnings(again)).toEqual([
      `warning: 1 identifier(s) in ${named} ${WARNING} (a different user from the same identifier without it)`,
    ]);
    for (const run of [changed, full, again]) expect(run.stderr).not.toContain(PADDED);
  }, 120_000);
});
