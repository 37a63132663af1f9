/**
 * Time spent waiting (at the rate limiter, in a retry's back-off), summed over every concurrent
 * wait and exact at any moment: a wait still going counts up to now. Adaptive concurrency takes
 * it out of the users' busy time, so only the time a request really keeps a user busy (its HTTP
 * exchanges and the user's own work) sizes the pool. Pure: the monotonic clock is injected.
 */
export interface WaitMeter {
  /** Starts one wait; the returned function ends it (calling it again does nothing). */
  begin(): () => void;
  /** Milliseconds waited so far, over all waits, those still going included. */
  totalMs(): number;
}

export function createWaitMeter(now: () => number): WaitMeter {
  let endedMs = 0;
  let waiting = 0;
  /** The start times of the waits going on, summed: their time so far is waiting x now - this. */
  let startedSum = 0;
  return {
    begin() {
      const startedAt = now();
      waiting++;
      startedSum += startedAt;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        waiting--;
        // Back to exactly 0 when none is left, so rounding never builds up over a long run.
        startedSum = waiting === 0 ? 0 : startedSum - startedAt;
        endedMs += Math.max(0, now() - startedAt);
      };
    },
    totalMs: () => endedMs + Math.max(0, waiting * now() - startedSum),
  };
}
