/**
 * A batch publishes its requests, retries and 429s per minute while it runs, not once at its end:
 * the EMF lines written through the handlers' Powertools Metrics, captured from stdout, with the
 * clock and the interval faked.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTransport } from '#adapters/paylink-transport.ts';
import { DEFAULTS } from '#core/constants.ts';
import { METRIC } from '#core/load-metrics.ts';
import type { RateLimiter } from '#core/rate-limiter.ts';
import { RequestMinutes } from '#core/request-minutes.ts';
import { observe } from '#handlers/observability.ts';
import {
  countRequestEvent,
  publishRequestMinutes,
  REQUEST_METRICS_EVERY_MS,
} from '#handlers/request-metrics.ts';
import { emfRecords } from '#test/helpers/log-lines.ts';

let written: string[];

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-12-01T03:00:05.000Z') });
  written = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** Each EMF record so far: its minute and its three counts. */
const published = () =>
  emfRecords(written.join('')).map((r) => ({
    minute: new Date((r.record._aws as { Timestamp: number }).Timestamp).toISOString(),
    sent: r.metrics[METRIC.requestsSent]?.value,
    retries: r.metrics[METRIC.retries]?.value,
    rateLimited: r.metrics[METRIC.rateLimited]?.value,
  }));

describe("a batch's request counters", () => {
  it('are published minute by minute during the batch, each at its minute, and the rest when it stops', () => {
    const obs = observe('load-batch', { loadId: '1796000000.000000', batch: 0, schedule: 'daily' });
    const minutes = new RequestMinutes();
    const publishing = publishRequestMinutes(minutes, obs.emit);
    const now = () => Date.now();
    // Minute 03:00: a burst of 429s and their retries.
    for (let i = 0; i < 5; i += 1) minutes.count('sent', now());
    for (let i = 0; i < 3; i += 1) minutes.count('rateLimited', now());
    for (let i = 0; i < 3; i += 1) minutes.count('retries', now());
    vi.advanceTimersByTime(REQUEST_METRICS_EVERY_MS);
    // 03:01:05: minute 03:00 has ended and is on the dashboard while the batch goes on.
    expect(published()).toEqual([
      { minute: '2026-12-01T03:00:00.000Z', sent: 5, retries: 3, rateLimited: 3 },
    ]);
    minutes.count('sent', now());
    vi.advanceTimersByTime(REQUEST_METRICS_EVERY_MS);
    minutes.count('sent', now());
    minutes.count('sent', now());
    expect(published()).toEqual([
      { minute: '2026-12-01T03:00:00.000Z', sent: 5, retries: 3, rateLimited: 3 },
      { minute: '2026-12-01T03:01:00.000Z', sent: 1, retries: 0, rateLimited: 0 },
    ]);
    // The batch ends at 03:02:05: its last minute so far, once; nothing after it stops.
    publishing.stop();
    vi.advanceTimersByTime(3 * REQUEST_METRICS_EVERY_MS);
    expect(published()).toEqual([
      { minute: '2026-12-01T03:00:00.000Z', sent: 5, retries: 3, rateLimited: 3 },
      { minute: '2026-12-01T03:01:00.000Z', sent: 1, retries: 0, rateLimited: 0 },
      { minute: '2026-12-01T03:02:00.000Z', sent: 2, retries: 0, rateLimited: 0 },
    ]);
  });

  it('write nothing for minutes without requests', () => {
    const obs = observe('load-batch', { loadId: '1796000000.000000', batch: 1, schedule: 'daily' });
    const publishing = publishRequestMinutes(new RequestMinutes(), obs.emit);
    vi.advanceTimersByTime(5 * REQUEST_METRICS_EVERY_MS);
    publishing.stop();
    expect(published()).toEqual([]);
  });

  it('count an attempt in the minute it was sent, its 429 and retry in the minute they happen', async () => {
    const obs = observe('load-batch', { loadId: '1796000000.000000', batch: 0, schedule: 'daily' });
    const minutes = new RequestMinutes();
    const publishing = publishRequestMinutes(minutes, obs.emit);
    let sends = 0;
    const transport = createTransport({
      // Sent at 03:00:05, answered at 03:01:15 (a slow 429), then sent again at once, answered 200.
      send: async () => {
        sends += 1;
        if (sends === 1) {
          vi.setSystemTime(Date.parse('2026-12-01T03:01:15.000Z'));
          return { kind: 'response', status: 429, retryAfter: null, body: '' };
        }
        return { kind: 'response', status: 200, retryAfter: null, body: '{}' };
      },
      policy: { ...DEFAULTS.http },
      rateLimiter: { acquire: async () => {} } as unknown as RateLimiter,
      now: () => new Date(Date.now()),
      random: () => 0,
      sleep: async () => {},
      onEvent: (event) => countRequestEvent(minutes, event),
    });
    await transport.request({
      endpoint: '/test',
      method: 'GET',
      url: 'http://127.0.0.1:9/test',
      headers: {},
      accept: () => ({ ok: true, value: 'done' }),
      reject: (status) => new Error(`status ${status}`),
    });
    publishing.stop();
    expect(published()).toEqual([
      { minute: '2026-12-01T03:00:00.000Z', sent: 1, retries: 0, rateLimited: 0 },
      { minute: '2026-12-01T03:01:00.000Z', sent: 1, retries: 1, rateLimited: 1 },
    ]);
  });
});
