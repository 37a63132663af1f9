/**
 * Changed loads in a row while webhook events keep arriving (`simulate --webhooks-to` into a
 * receiver): a load's commit claims every event new at its commit, so the events received while
 * it ran are committed by it, but its schedule has seen only those it listed when it started.
 * The next changed load takes them again (their users are loaded: the load that committed them
 * may have fetched them before the events came), and says which of its events are new and which
 * an earlier load had committed, and of its users, counted as users, those with no new event.
 */
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { changedSourcesLine } from '#cli/summary.ts';
import type { ObjectStore } from '#core/ports.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { forwardTo, type HttpTestServer, startHttpTestServer } from '#test/helpers/http-test-server.ts';
import { changedLoadArgv, credentialsEnv, runCli, Scratch } from '#test/helpers/lake-harness.ts';
import { receiveNumberedEvent } from '#test/helpers/signed-webhook.ts';

const ENV = credentialsEnv('k', 's');

let scratch: Scratch;
let sim: Simulator;
let proxy: HttpTestServer;
/** Run once, before the first data request the proxy forwards (then cleared). */
let beforeFirstData: (() => Promise<void>) | undefined;

beforeAll(async () => {
  scratch = await Scratch.create('changed-committed-earlier');
  sim = await startSimulator({ seed: 'changed-committed-earlier', apiKey: 'k', apiSecret: 's' });
  // In front of the simulator: events stored while a load fetches its users, after its selection.
  proxy = await startHttpTestServer(async (request, response) => {
    if (request.path.startsWith('/pay-link/') && beforeFirstData !== undefined) {
      const run = beforeFirstData;
      beforeFirstData = undefined;
      await run();
    }
    const upstream = await forwardTo(sim.url, request);
    response.writeHead(upstream.status, upstream.headers).end(upstream.text);
  });
});
afterAll(async () => {
  await proxy?.close();
  await sim?.close();
  await scratch?.dispose();
});

describe('a changed load after one that committed events received while it ran', () => {
  it('counts only the events no load has committed as new, and its users apart from events', async () => {
    const lake = scratch.path('lake');
    await mkdir(lake);
    const store: ObjectStore = createLocalStore(lake);
    let seq = 0;
    const receive = async (identifier: string) => {
      await receiveNumberedEvent({ store, secret: 's', receivedAt: new Date() }, identifier, ++seq);
    };
    const changed = (more: string[]) =>
      runCli(
        changedLoadArgv({ dest: lake, baseUrl: proxy.url, resources: ['accounts'] }, [
          '--rate-limit',
          '2000',
          ...more,
        ]),
        ENV,
      );

    // Load 1 selects z's event; E1 (a, b) arrives while it fetches z, so its commit claims E1 too.
    await receive('u-z');
    beforeFirstData = async () => {
      await receive('u-a');
      await receive('u-b');
    };
    const first = await changed(['--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(beforeFirstData).toBeUndefined();
    expect(JSON.parse(first.stdout).changedUsers).toMatchObject({
      usersWithEvents: 1,
      eventsSelected: 1,
      eventsCommitted: 3,
    });

    // E2 (b, c): new. Load 2 takes a, b and c: E1 is new to its schedule, not to the lake.
    await receive('u-b');
    await receive('u-c');
    const who =
      'the 3 users of 2 new webhook event(s) and 2 webhook event(s) an earlier load had committed already ' +
      '(1 of these 3 users has no new event, only events an earlier load committed)';

    const dry = await changed(['--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(who);

    const second = await changed(['--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`: 3 users in 1 batch(es): ${who}\n`);
    const sources = JSON.parse(second.stdout).changedUsers;
    expect(sources).toEqual({
      usersWithEvents: 3,
      eventsSelected: 4,
      eventsCommittedEarlier: 2,
      retriedUsers: 0,
      usersOnlyWithEventsCommittedEarlier: 1,
      eventsCommitted: 2,
    });
    expect(changedSourcesLine(sources)).toBe(`Users: ${who}; 2 webhook event(s) committed with this load`);
  }, 120_000);
});
