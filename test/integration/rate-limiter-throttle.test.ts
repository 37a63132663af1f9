/**
 * A misconfigured rate limit: the client is told 50 req/s, the server allows 40 in any one
 * second. Before, the limiter paced at 50 all run long and about a fifth of the requests came
 * back 429; now each 429 slows the shared limiter down, so the 429s stop after the first seconds
 * and the load completes with every row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadSummary } from '#cli/summary.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { expectedTableCounts } from '#test/helpers/expected-rows.ts';
import { credentialsEnv, FAST_HTTP, runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const SEED = 'throttle-seed';
const API_KEY = 'throttle-key';
const API_SECRET = 'throttle-secret';
const SERVER_RATE = 40;
const CLIENT_RATE = 50;
/** Enough users for about 8 s of requests at the server's rate. */
const USERS = 40;

let scratch: Scratch;
let sim: Simulator;
beforeAll(async () => {
  scratch = await Scratch.create('throttle');
  sim = await startSimulator({
    seed: SEED,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    rateLimit: SERVER_RATE,
    rateLimitWindow: 'sliding',
  });
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

describe('the rate limiter against a server whose limit is below --rate-limit', () => {
  it('slows down on 429s: they stop after the first seconds, and the load completes with all rows', async () => {
    const identifiers = generateIdentifiers(SEED, USERS);
    const users = await scratch.users('users.txt', identifiers);
    const config = await scratch.json('config.json', { http: FAST_HTTP });
    // Requests and 429s counted per second of the load, from the server's counters.
    const perSecond: number[] = [];
    const requestsPerSecond: number[] = [];
    let seen = sim.stats();
    const sample = () => {
      const now = sim.stats();
      perSecond.push(now.rateLimited - seen.rateLimited);
      requestsPerSecond.push(now.requests - seen.requests);
      seen = now;
    };
    const sampler = setInterval(sample, 1000);
    let run: Awaited<ReturnType<typeof runLoad>>;
    try {
      run = await runLoad(
        {
          users,
          dest: scratch.path('lake'),
          baseUrl: sim.url,
          config,
          loadId: 'throttle',
          json: true,
          rateLimit: CLIENT_RATE,
        },
        credentialsEnv(API_KEY, API_SECRET),
      );
    } finally {
      clearInterval(sampler);
    }
    sample();

    expect(run.code, `exit code (${run.stderr})`).toBe(0);
    const summary = JSON.parse(run.stdout) as LoadSummary;
    expect(summary.failedUserCount).toBe(0);
    const { user_loads: _, ...rows } = Object.fromEntries(summary.tables.map((t) => [t.table, t.rows]));
    expect(rows, 'rows per table').toEqual(expectedTableCounts(identifiers.map((id) => sim.served(id))));

    const total = perSecond.reduce((a, b) => a + b, 0);
    expect(total, `429s per second: ${perSecond.join(' ')}`).toBeGreaterThan(0);
    // Three decreases (50 -> 45 -> 40.5 -> 36.5) a reaction time apart bring it under 40 within
    // about 4 s of the first 429; a busy machine's late samples get one more second. Paced at 50
    // all along, a fifth of the requests were refused to the end (10 of 50 each second). After
    // that, only arrivals bunched by a CPU-starved machine (this simulator shares the loader's
    // event loop: a stall holds both, and the limiter makes up 100 ms of turns at its wake) go
    // over the 3.5 req/s of slack, and each lowers the rate once more: strays, never a stream.
    // Counted against the requests sent meanwhile, not only as a number: at load 13-17 a stall
    // drew up to 5-8 in one second, 6 at most after convergence (5.4% of the requests sent then),
    // where the old pace draws 11-20% on the same machine.
    const settledAfter = perSecond.findIndex((n) => n > 0) + 6;
    const after = perSecond.slice(settledAfter);
    const sentAfter = requestsPerSecond.slice(settledAfter).reduce((a, b) => a + b, 0);
    const shown = `429s per second: ${perSecond.join(' ')}; requests per second: ${requestsPerSecond.join(' ')}`;
    expect(after.length, `the load outlasted convergence (${shown})`).toBeGreaterThan(1);
    expect(
      after.reduce((a, b) => a + b, 0),
      shown,
    ).toBeLessThanOrEqual(Math.max(2, 0.1 * sentAfter));
  });
});
