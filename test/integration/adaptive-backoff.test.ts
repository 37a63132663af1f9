/**
 * Adaptive concurrency sizes users in flight from the time a request keeps a user busy. A 429's
 * Retry-After is PayLink asking us to slow down: the time users sleep it out is not latency, and
 * must not grow the pool. The real PayLink client and limiter against a loopback server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPayLinkClient } from '#adapters/paylink-client.ts';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { ADAPTIVE_CONCURRENCY, adaptiveConcurrency } from '#core/adaptive-concurrency.ts';
import { forEachConcurrent } from '#core/pool.ts';
import { rateLimiterStats } from '#core/rate-limiter.ts';
import { createWaitMeter } from '#core/wait-meter.ts';
import { type HttpTestServer, startHttpTestServer } from '#test/helpers/http-test-server.ts';

const RATE = 100;
/** PayLink's own answer time on this server. */
const ANSWER_MS = 20;

let server: HttpTestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('adaptive concurrency under 429s with Retry-After', () => {
  it('does not count the Retry-After sleeps as latency: a server answering 429 (Retry-After: 2) for a while does not drive users in flight up', async () => {
    const rateLimiter = createSystemRateLimiter(RATE);
    const backoff = createWaitMeter(() => performance.now());
    const control = adaptiveConcurrency({
      ratePerSecond: RATE,
      limiter: () => rateLimiterStats(rateLimiter),
      backoffMs: backoff.totalMs,
      now: () => performance.now(),
    });
    const initial = control.limit();
    // 429 with Retry-After: 2 to every first request of the users in flight at the start (all of
    // them sleep 2 s), then a token after ANSWER_MS.
    let refused = 0;
    server = await startHttpTestServer(async (request, response) => {
      response.setHeader('content-type', 'application/json');
      if (refused < initial) {
        refused++;
        response.writeHead(429, { 'retry-after': '2' }).end('{"message":"Too many requests","code":42900}');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, ANSWER_MS));
      const { identifier } = JSON.parse(request.body) as { identifier: string };
      response.end(JSON.stringify({ data: { publicToken: identifier } }));
    });
    const api = createPayLinkClient({
      baseUrl: server.url,
      credentials: { apiKey: 'key', apiSecret: 'secret' },
      rateLimiter,
      backoff,
    });
    const limits: number[] = [];
    const users = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    await forEachConcurrent(users, control, async (identifier) => {
      await api.openSession(identifier);
      limits.push(control.limit());
    });

    expect(api.stats().retries).toBe(initial);
    expect(backoff.totalMs()).toBeGreaterThanOrEqual(initial * 1900);
    // Without the back-off taken out, ~2 s a request read as latency: up to 100 x 2 x 1.5 = 300
    // users. Taken out, the need is 100 x ~20 ms x 1.5 = 3-4 (twice the start leaves room for a
    // busy machine's slower answers).
    expect(Math.max(...limits)).toBeLessThanOrEqual(2 * initial);
    expect(control.state().latencyMs).toBeLessThan(500);
    expect(control.state().cappedMs).toBe(0);
    expect(initial).toBeLessThan(ADAPTIVE_CONCURRENCY.max);
  });
});
