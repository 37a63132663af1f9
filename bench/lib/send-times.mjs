/**
 * Preloaded into the loader's child by bench/rate-limit.ts (RATE_BENCH_SEND_TIMES=<file>): records
 * when each request's headers went out on the socket (undici's diagnostics channel, the client's
 * own clock as epoch ms) and writes them, one a line, to that file when the process exits.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const file = process.env.RATE_BENCH_SEND_TIMES;
if (file) {
  const times = [];
  subscribe('undici:client:sendHeaders', () => times.push(performance.timeOrigin + performance.now()));
  process.on('exit', () => writeFileSync(file, times.map((t) => t.toFixed(2)).join('\n')));
}
