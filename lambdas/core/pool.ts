/**
 * Runs `fn` over items with at most `concurrency` in flight, started in item order. The first
 * rejection stops new work from starting and is rethrown once in-flight items settle, so a
 * systemic failure (our API key rejected) fails fast without leaving work running.
 *
 * `concurrency` is a number, or a ConcurrencyControl asked again each time an item finishes
 * (adaptive-concurrency.ts): the pool then grows or shrinks as it says, never stopping items
 * already in flight.
 */
export interface ConcurrencyControl {
  /** Items that may be in flight now (at least 1 is always allowed). */
  limit(): number;
  /** The largest `limit()` can ever be: sizes what depends on it (reorder windows). */
  readonly max: number;
  /** Told each time the number of items in flight changes (after the change). */
  inFlight?(count: number): void;
  /**
   * Told when every item has started, and again each time one finishes after that: the slots
   * the pool leaves free from here on are the caller's to use (run-load.ts starts the next
   * batch's users in them, so requests do not dip while a batch's last users finish).
   */
  allStarted?(): void;
}

export function fixedConcurrency(concurrency: number): ConcurrencyControl {
  return { limit: () => concurrency, max: concurrency };
}

export async function forEachConcurrent<T>(
  items: readonly T[],
  concurrency: number | ConcurrencyControl,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  const control = typeof concurrency === 'number' ? fixedConcurrency(concurrency) : concurrency;
  let next = 0;
  let active = 0;
  let failure: { error: unknown } | undefined;
  if (items.length === 0) return;
  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      while (failure === undefined && next < items.length && active < Math.max(1, control.limit())) {
        const index = next++;
        active++;
        control.inFlight?.(active);
        Promise.resolve()
          .then(() => fn(items[index]!, index))
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => {
            active--;
            control.inFlight?.(active);
            pump();
          });
      }
      if (failure === undefined && next >= items.length) control.allStarted?.();
      if (active === 0 && (failure !== undefined || next >= items.length)) {
        if (failure !== undefined) reject(failure.error);
        else resolve();
      }
    };
    pump();
  });
}
