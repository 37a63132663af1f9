/**
 * The simulator in its own worker thread (simulator-thread.ts): started with the options in
 * workerData, it answers 'stats' and 'close' messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SimulatorOptions } from '#simulator/options.ts';
import { startSimulator } from '#simulator/server.ts';

const port = parentPort!;
const { traceArrivals, ...options } = workerData as SimulatorOptions & { traceArrivals?: boolean };
/** With traceArrivals: each request's arrival (epoch ms, this thread's clock), for the rate bench. */
const arrivals: number[] = [];
const simulator = await startSimulator({
  ...options,
  ...(traceArrivals
    ? {
        // The log line comes when the answer is sent: the arrival is that time less the handling time.
        log: (line: string) => {
          const ms = Number(/ (\d+)ms$/.exec(line)?.[1] ?? 0);
          arrivals.push(performance.timeOrigin + performance.now() - ms);
        },
      }
    : {}),
});
port.on('message', async (message: 'stats' | 'arrivals' | 'close') => {
  if (message === 'stats') port.postMessage({ stats: simulator.stats() });
  else if (message === 'arrivals') port.postMessage({ arrivals: arrivals.splice(0) });
  else {
    await simulator.close();
    port.postMessage({ closed: true });
  }
});
port.postMessage({ url: simulator.url });
