/**
 * A `changed` load says when webhook events wait in partitions dated more than a day ahead (a
 * receiver clock ahead, a hand copy): its own listing stops at tomorrow, so those users are not
 * in it, and without the line nothing would say why. Not said by a first changed load, which
 * lists all of `_events/` and takes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { addDays } from '#core/event-log.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { type CliRun, credentialsEnv, runCli, Scratch } from '#test/helpers/lake-harness.ts';
import { receiveSigned, webhookEventBody } from '#test/helpers/signed-webhook.ts';

const API_KEY = 'held-key';
const API_SECRET = 'held-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const HELD = 'object(s) under _events/ are in partitions dated more than a day after today';

let scratch: Scratch;
let sim: Simulator;
beforeAll(async () => {
  scratch = await Scratch.create('held-back-changed-load');
  sim = await startSimulator({ seed: 'held-back-changed-load', apiKey: API_KEY, apiSecret: API_SECRET });
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

function load(lake: string, ...more: string[]): Promise<CliRun> {
  return runCli(
    ['load', '--users', 'changed', '--dest', lake, '--resources', 'accounts', '--base-url', sim.url, ...more],
    ENV,
  );
}

describe('a changed load and events dated ahead', () => {
  it('names them, their partition and the day loads take them from; a first load takes them', async () => {
    const lake = scratch.path('lake');
    const store = createLocalStore(lake);
    const now = new Date();
    const today = now.toISOString().slice(0, 10);
    const receive = async (identifier: string, daysAhead: number) => {
      const body = webhookEventBody({ identifier, eventTime: now, data: {} });
      const receivedAt = new Date(now.getTime() + daysAhead * 86_400_000);
      expect((await receiveSigned(body, { store, secret: API_SECRET, receivedAt })).kind).toBe('accepted');
    };
    await receive('user-now', 0);
    await receive('user-ahead-first', 3);
    const first = await load(lake);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toContain(HELD);

    // Nothing else new: the load has nothing to load, and says why the event waits.
    await receive('user-ahead', 3);
    const idle = await load(lake);
    expect(idle.code, idle.stderr).toBe(0);
    expect(idle.stderr).toContain(`warning: 1 ${HELD}`);
    expect(idle.stderr).toContain('nothing to load');

    await receive('user-now-2', 0);
    const dry = await load(lake, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(
      `warning: 1 ${HELD} (${today}, UTC): dt=${addDays(today, 3)} (1, held back until ${addDays(today, 2)}).`,
    );
    const second = await load(lake);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout + second.stderr).toContain(`warning: 1 ${HELD}`);
  });
});
