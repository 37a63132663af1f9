/**
 * A `changed` load that switches a resource off (it answered 404 for the users PayLink answered
 * on other endpoints: `endpoint_unavailable`, exit 4) did not load that resource for any of its
 * users. They are not failed users, yet their events are seen: without a retry, their change
 * waits for an `all` run. The commit keeps them for the next changed run to retry once, as it
 * does failed users.
 */
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { changedStateKey } from '#core/changed-users.ts';
import { readJson } from '#core/store-json.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import {
  changedLoadArgv,
  changedScheduleOf,
  credentialsEnv,
  runCli,
  Scratch,
} from '#test/helpers/lake-harness.ts';
import { receiveSimulatedChange } from '#test/helpers/signed-webhook.ts';

const ENV = credentialsEnv('k', 's');
const USERS = ['gone-a', 'gone-b', 'gone-c', 'gone-d', 'gone-e'];
const START = new Date('2026-12-01T08:00:00.000Z');

let scratch: Scratch;
let missing: Simulator;
let healthy: Simulator;
beforeAll(async () => {
  scratch = await Scratch.create('changed-endpoint-unavailable');
  const options = { seed: 'changed-unavailable', apiKey: 'k', apiSecret: 's' } as const;
  missing = await startSimulator({ ...options, profile: 'missing-orders' });
  healthy = await startSimulator(options);
});
afterAll(async () => {
  await missing?.close();
  await healthy?.close();
  await scratch?.dispose();
});

describe('a changed load that switches a resource off', () => {
  it('keeps its users for the next changed run, which loads them once the resource answers', async () => {
    const lake = scratch.path('lake');
    await mkdir(lake);
    const store = createLocalStore(lake);
    for (const [i, identifier] of USERS.entries()) {
      const at = new Date(START.getTime() + i * 1000);
      const stored = await receiveSimulatedChange(missing, identifier, at, { store, secret: 's' });
      expect(stored.kind).toBe('accepted');
    }
    const load = (url: string) =>
      runCli(
        changedLoadArgv({ dest: lake, baseUrl: url, resources: ['accounts', 'orders'] }, ['--json']),
        ENV,
      );

    const first = await load(missing.url);
    expect(first.code, first.stderr).toBe(4);
    expect(JSON.parse(first.stdout).endpointFindings.map((f: { resource: string }) => f.resource)).toContain(
      'orders',
    );
    const state = await readJson<{ retry?: string[] }>(
      store,
      changedStateKey(changedScheduleOf(['accounts', 'orders'])),
    );
    expect(state?.retry).toEqual(USERS);

    // The resource answers again: the next changed run takes the same users, with no new event.
    const plan = await runCli(
      [
        'load',
        '--users',
        'changed',
        '--resources',
        'accounts,orders',
        '--dest',
        lake,
        '--base-url',
        healthy.url,
        '--dry-run',
      ],
      ENV,
    );
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout + plan.stderr).toContain(
      '5 user(s) retried once (the last changed load failed them, or switched a resource off for them)',
    );
    const second = await load(healthy.url);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).users).toBe(USERS.length);
    const orders = await runCli(
      ['query', '--dest', lake, '--format', 'json', 'SELECT count(*) AS n FROM raw.orders'],
      ENV,
    );
    expect(orders.code, orders.stderr).toBe(0);
    expect(JSON.parse(orders.stdout.trim()).n).toBeGreaterThan(0);
    // Retried once: a third run has nobody to load.
    const third = await load(healthy.url);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toBe('');
    expect(third.stderr).toContain('nothing to load');
  });
});
