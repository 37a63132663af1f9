/**
 * Cancellable waits (latency, hangs). close() cancels them all, so a simulator with a hung
 * request still shuts down at once instead of holding the process open for `hangMs`.
 */
export class Timers {
  readonly #pending = new Map<NodeJS.Timeout, (completed: boolean) => void>();
  #cancelled = false;

  /** Resolves true after `ms`, or false as soon as cancelAll() runs. */
  wait(ms: number): Promise<boolean> {
    if (this.#cancelled) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(timer);
        resolve(true);
      }, ms);
      this.#pending.set(timer, resolve);
    });
  }

  cancelAll(): void {
    this.#cancelled = true;
    for (const [timer, resolve] of this.#pending) {
      clearTimeout(timer);
      resolve(false);
    }
    this.#pending.clear();
  }
}
