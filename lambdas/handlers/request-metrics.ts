/**
 * Publishes a batch's per-minute request counters (core/request-minutes.ts) while it runs: every
 * REQUEST_METRICS_EVERY_MS the minutes that ended, at `stop()` the rest. The dashboard's request
 * rate, 429s and retries then show each minute as it happened, during a batch of many minutes.
 */

import type { PayLinkEvent } from '#adapters/paylink-transport.ts';
import { requestMetrics } from '#core/load-metrics.ts';
import type { RequestMinutes } from '#core/request-minutes.ts';
import type { Observed } from './observability.ts';

/**
 * Counts the client's events in their minutes: an attempt in the minute it was sent (its
 * `sentAt`: the event comes with the response, which may arrive a minute later), a 429 and a
 * retry in the minute they happen (the response's arrival, the retry's decision: now).
 */
export function countRequestEvent(
  minutes: RequestMinutes,
  event: PayLinkEvent,
  now: number = Date.now(),
): void {
  if (event.type === 'retry') minutes.count('retries', now);
  if (event.type !== 'request') return;
  minutes.count('sent', event.sentAt ?? now);
  if (event.status === 429) minutes.count('rateLimited', now);
}

/** A minute's counts are final once it has ended: publishing each minute keeps the lag under two. */
export const REQUEST_METRICS_EVERY_MS = 60_000;

export function publishRequestMinutes(
  minutes: RequestMinutes,
  emit: Observed['emit'],
  everyMs: number = REQUEST_METRICS_EVERY_MS,
): { stop(): void } {
  const timer = setInterval(() => {
    const ended = minutes.takeEnded(Date.now());
    if (Object.keys(ended).length > 0) emit(requestMetrics(ended));
  }, everyMs);
  // Never what keeps a container's event loop alive.
  timer.unref?.();
  return {
    stop() {
      clearInterval(timer);
      const rest = minutes.takeRest();
      if (Object.keys(rest).length > 0) emit(requestMetrics(rest));
    },
  };
}
