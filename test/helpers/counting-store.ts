/**
 * A store that counts what is read of it: for tests that bound how much of the lake a step reads
 * (the quality judgement's scan of earlier load reports), not only what it decides.
 */
import type { ObjectStore } from '#core/ports.ts';

/** `store` with its GETs of keys under `prefix` counted; everything else passes through as it is. */
export function countingGets(store: ObjectStore, prefix: string): { store: ObjectStore; reads(): number } {
  let reads = 0;
  return {
    reads: () => reads,
    store: {
      ...store,
      get: (key: string) => {
        if (key.startsWith(prefix)) reads += 1;
        return store.get(key);
      },
    },
  };
}
