/**
 * The simulator in its own worker thread (simulator-thread.ts): started with the options in
 * workerData, it answers 'stats' and 'close' messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SimulatorOptions } from '#simulator/options.ts';
import { startSimulator } from '#simulator/server.ts';

const port = parentPort!;
const simulator = await startSimulator(workerData as SimulatorOptions);
port.on('message', async (message: 'stats' | 'close') => {
  if (message === 'stats') port.postMessage({ stats: simulator.stats() });
  else {
    await simulator.close();
    port.postMessage({ closed: true });
  }
});
port.postMessage({ url: simulator.url });
