/**
 * Runs `fn` over items with at most `concurrency` in flight, in item order. The first
 * rejection stops new work from starting and is rethrown once in-flight items settle, so a
 * systemic failure (our API key rejected) fails fast without leaving work running.
 */
export async function forEachConcurrent<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await fn(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker);
  await Promise.all(workers);
  if (failure !== undefined) throw failure.error;
}
