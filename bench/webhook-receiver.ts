/**
 * The webhook receiver under a burst: `autocannon` (a real HTTP load tool) POSTs distinct,
 * correctly signed events at a fixed rate to the receiver (`startWebhookServer`, the same core as
 * the Lambda, over a local lake) running alone in a child process, on 127.0.0.1.
 *
 *   node --import tsx bench/webhook-receiver.ts [--rate 200] [--seconds 20] [--connections 10] [--quick] [--no-save]
 *
 * Figures: latency percentiles as autocannon measures them (with its coordinated-omission
 * correction at a fixed rate), the rate achieved, and count in = count stored: answers 200 vs
 * event objects under `_events/` afterwards (every request is a new event, so they must match).
 * Results are appended to bench/results/webhook-receiver.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { signWebhookBody } from '#core/webhook.ts';
import { markdownTable } from './lib/format.ts';
import { describeMachine, recordRun } from './lib/history.ts';

const SECRET = 'bench-webhook-secret';
const CHILD = fileURLToPath(new URL('./lib/webhook-receiver-child.ts', import.meta.url));

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string' },
    connections: { type: 'string', default: '10' },
    quick: { type: 'boolean', default: false },
    'no-save': { type: 'boolean', default: false },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds ?? (values.quick ? 5 : 20));
const connections = Number(values.connections);

async function startReceiver(lake: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, lake, SECRET], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port?: number }) =>
      m.port ? resolve(m.port) : reject(new Error('no port')),
    );
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  return { child, port };
}

async function storedEvents(lake: string): Promise<number> {
  const entries = await readdir(path.join(lake, '_events'), { recursive: true, withFileTypes: true }).catch(
    () => [],
  );
  return entries.filter((e) => e.isFile() && e.name.endsWith('.json')).length;
}

const startedAt = new Date();
const lake = await mkdtemp(path.join(tmpdir(), 'bench-webhook-'));
const { child, port } = await startReceiver(lake);
let sequence = 0;
try {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections,
    overallRate: rate,
    // A fixed amount, not a duration: autocannon stops counting answers when a duration ends,
    // and the requests in flight then would make count in and count stored disagree.
    amount: rate * seconds,
    requests: [
      {
        method: 'POST',
        // A new event per request: Atomic's body shape, signed as Atomic signs it.
        setupRequest: (request) => {
          const n = ++sequence;
          const body = JSON.stringify({
            eventType: n % 3 === 0 ? 'task-status-updated' : 'pay-link-accounts-updated',
            eventTime: new Date().toISOString(),
            user: { _id: `atomic-${n % 1000}`, identifier: `bench-user-${n % 1000}` },
            data: { sequence: n, status: 'completed' },
          });
          return {
            ...request,
            method: 'POST',
            body,
            headers: {
              'content-type': 'application/json',
              'ce-id': `bench-${n}`,
              'x-hmac-signature-sha-256': signWebhookBody(body, SECRET),
            },
          };
        },
      },
    ],
  });
  const stored = await storedEvents(lake);
  const ok = result['2xx'];
  const lost = ok - stored;
  const sent = rate * seconds;
  const ms = (v: number) => v.toFixed(1);
  const table = markdownTable(
    [
      'rate req/s',
      'connections',
      's',
      'sent',
      'answered 200',
      'stored',
      'lost',
      'non-2xx',
      'errors',
      'achieved req/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
    ],
    [
      [
        String(rate),
        String(connections),
        String(seconds),
        String(sent),
        String(ok),
        String(stored),
        String(lost),
        String(result.non2xx),
        String(result.errors + result.timeouts),
        (ok / result.duration).toFixed(1),
        ms(result.latency.p50),
        ms(result.latency.p90),
        ms(result.latency.p99),
        ms(result.latency.max),
      ],
    ],
  );
  await recordRun('webhook-receiver', {
    machine: describeMachine(),
    command: `node --import tsx bench/webhook-receiver.ts ${process.argv.slice(2).join(' ')}`.trim(),
    startedAt,
    notes: [
      `- autocannon 9.0.0, ${connections} connections at an overall ${rate} req/s for ${seconds} s; the receiver alone in a child process writing a local lake (tmpfs or disk: ${tmpdir()})`,
      '- every request a distinct, correctly signed event: count in (answered 200) must equal count stored (objects under _events/)',
    ],
    table,
    save: !values['no-save'],
  });
  if (lost !== 0 || result.non2xx !== 0 || result.errors !== 0) {
    console.error(
      `FAILED: ${lost} event(s) answered 200 but not stored, ${result.non2xx} non-2xx, ${result.errors} errors`,
    );
    process.exitCode = 1;
  }
} finally {
  child.send('close');
  await new Promise((resolve) => child.once('exit', resolve));
  await rm(lake, { recursive: true, force: true });
}
