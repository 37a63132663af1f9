/**
 * A batch's PayLink requests per wall-clock minute: sent (every attempt: what the rate limiter
 * paces), retried, and answered 429. Published as the batch goes, a minute once it has ended
 * (`takeEnded`), each datapoint timestamped at its minute: a ten-minute batch that reported its
 * counts at its end drew its 429s and retries as one spike there, and its rate as nothing until
 * then. Summed per minute across batches, they are what was really sent, retried and refused then.
 */
export interface RequestCounts {
  sent: number;
  retries: number;
  rateLimited: number;
}

const MINUTE_MS = 60_000;

/** The ISO start of the wall-clock minute `atMs` is in. */
export const minuteOf = (atMs: number): string => new Date(atMs - (atMs % MINUTE_MS)).toISOString();

export class RequestMinutes {
  private readonly byMinute = new Map<string, RequestCounts>();
  private readonly taken = new Set<string>();

  /** Counts one request sent, retry or 429 at `atMs` (ms since the epoch) into its minute. */
  count(kind: keyof RequestCounts, atMs: number): void {
    const minute = minuteOf(atMs);
    const counts = this.byMinute.get(minute) ?? { sent: 0, retries: 0, rateLimited: 0 };
    counts[kind] += 1;
    this.byMinute.set(minute, counts);
  }

  /** The minutes that ended before `nowMs`, each once: no request can land in them any more. */
  takeEnded(nowMs: number): Record<string, RequestCounts> {
    const current = minuteOf(nowMs);
    return this.take((minute) => minute < current);
  }

  /** Every minute not taken yet (the batch is over). */
  takeRest(): Record<string, RequestCounts> {
    return this.take(() => true);
  }

  /** The batch's counts so far, taken or not. */
  totals(): RequestCounts {
    const total = { sent: 0, retries: 0, rateLimited: 0 };
    for (const c of this.byMinute.values()) {
      total.sent += c.sent;
      total.retries += c.retries;
      total.rateLimited += c.rateLimited;
    }
    return total;
  }

  /** Requests sent by minute, taken or not: the batch's log line. */
  sentByMinute(): Record<string, number> {
    return Object.fromEntries([...this.byMinute].sort().map(([minute, c]) => [minute, c.sent]));
  }

  private take(which: (minute: string) => boolean): Record<string, RequestCounts> {
    const out: Record<string, RequestCounts> = {};
    for (const [minute, counts] of [...this.byMinute].sort())
      if (!this.taken.has(minute) && which(minute)) {
        this.taken.add(minute);
        out[minute] = { ...counts };
      }
    return out;
  }
}
