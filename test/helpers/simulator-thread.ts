/**
 * A simulator on its own event loop (a worker thread), for tests that block the main thread:
 * an in-process simulator would be blocked with it and see every request sent around the block
 * only when it ends, never when it arrived, which no real server does.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SimulatorOptions } from '#simulator/options.ts';
import type { SimulatorStats } from '#simulator/server.ts';

export interface SimulatorThread {
  readonly url: string;
  stats(): Promise<SimulatorStats>;
  /** With `traceArrivals`: the arrival times (epoch ms) since the last call. */
  arrivals(): Promise<number[]>;
  close(): Promise<void>;
}

/** Options must be cloneable (no `log` function). */
export async function startSimulatorThread(
  options: Omit<SimulatorOptions, 'log'> & { traceArrivals?: boolean },
): Promise<SimulatorThread> {
  // The worker inherits no loader: register tsx's ESM hooks in it first (as parquet-worker-writer.ts).
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const entry = new URL('./simulator-thread-entry.ts', import.meta.url);
  const worker = new Worker(
    `import(${JSON.stringify(pathToFileURL(api).href)}).then((tsx) => tsx.register()).then(() => import(${JSON.stringify(entry.href)}))`,
    { eval: true, workerData: options },
  );
  const next = <T>(key: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: Record<string, unknown>) => {
        if (!(key in message)) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(message[key] as T);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  const url = await next<string>('url');
  return {
    url,
    stats() {
      const answer = next<SimulatorStats>('stats');
      worker.postMessage('stats');
      return answer;
    },
    arrivals() {
      const answer = next<number[]>('arrivals');
      worker.postMessage('arrivals');
      return answer;
    },
    async close() {
      const closed = next<boolean>('closed');
      worker.postMessage('close');
      await closed;
      await worker.terminate();
    },
  };
}
