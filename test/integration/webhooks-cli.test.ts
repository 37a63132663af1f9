/**
 * `paylink-loader webhooks`: the receiver as a local HTTP server on loopback. Signed events are
 * posted over real HTTP; what lands in the lake and what the command prints is asserted.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#cli/main.ts';
import { signWebhookBody } from '#core/webhook.ts';
import { captureIo } from '#test/helpers/lake-harness.ts';

const SECRET = 'cli-webhook-secret-Jq3';
const NOW = new Date('2026-12-01T00:30:00.000Z');

function event(identifier: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    eventType: 'task-status-updated',
    eventTime: '2026-12-01T00:29:00.000Z',
    user: { _id: `atomic-${identifier}`, identifier },
    data: { status: 'completed', previousStatus: 'processing', ...extra },
  });
}

async function eventFiles(lake: string): Promise<string[]> {
  const entries = await readdir(lake, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(lake.length + 1))
    .sort();
}

describe('paylink-loader webhooks', () => {
  let lake: string;
  let url: string;
  let interrupt: () => void;
  let exit: Promise<number>;
  let captured: ReturnType<typeof captureIo>;
  const statuses: number[] = [];
  /** Requests to another path or with another method: [method, path, status, body, Allow]. */
  const elsewhere: [string, string, number, string, string | null][] = [];

  async function post(body: string, headers: Record<string, string>): Promise<number> {
    const response = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
    await response.text();
    statuses.push(response.status);
    return response.status;
  }

  async function request(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
    const response = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined ? {} : { body }),
      headers: { 'content-type': 'application/json', ...headers },
    });
    elsewhere.push([method, path, response.status, await response.text(), response.headers.get('allow')]);
  }

  beforeAll(async () => {
    lake = await mkdtemp(join(tmpdir(), 'webhooks-cli-'));
    captured = captureIo({ PAYLINK_API_SECRET: SECRET }, { now: () => NOW });
    let onInterrupt: ((signal: 'SIGINT' | 'SIGTERM') => void) | undefined;
    const io = {
      ...captured.io,
      onInterrupt: (handler: (signal: 'SIGINT' | 'SIGTERM') => void) => {
        onInterrupt = handler;
        return () => {
          onInterrupt = undefined;
        };
      },
    };
    exit = main(['webhooks', '--dest', lake, '--port', '0'], io);
    const deadline = Date.now() + 10_000;
    const listening = () => captured.stderr().match(/listening on (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
    while (listening() === undefined) {
      if (Date.now() > deadline) throw new Error(`receiver did not start: ${captured.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    url = listening()!;
    interrupt = () => onInterrupt?.('SIGINT');

    const signed = event('cli-user-signed');
    const headers = { 'X-HMAC-Signature-Sha-256': signWebhookBody(signed, SECRET), 'ce-id': 'cli-evt-1' };
    await post(signed, headers);
    await post(signed, headers); // Atomic's retry of the same event
    const forged = event('cli-user-forged');
    await post(forged, { 'x-hmac-signature-sha-256': signWebhookBody(forged, 'wrong-secret') });
    await post(event('cli-user-unsigned'), {});
    const huge = event('cli-user-huge', { padding: 'x'.repeat(1024 * 1024) });
    await post(huge, { 'x-hmac-signature-sha-256': signWebhookBody(huge, SECRET) });
    const notJson = 'not json';
    await post(notJson, { 'x-hmac-signature-sha-256': signWebhookBody(notJson, SECRET) });
    // A correctly signed event, on another path or with another method than POST /.
    const elsewhereEvent = event('cli-user-elsewhere');
    const signature = { 'x-hmac-signature-sha-256': signWebhookBody(elsewhereEvent, SECRET) };
    await request('POST', '/webhooks', elsewhereEvent, signature);
    await request('POST', '/webhooks/', elsewhereEvent, signature);
    await request('GET', '/favicon.ico');
    await request('GET', '/');
    await request('PUT', '/', elsewhereEvent, signature);
  }, 30_000);

  afterAll(async () => {
    interrupt?.();
    await exit;
    await rm(lake, { recursive: true, force: true });
  });

  it('answers 200 twice for an event and its retry, 401, 401, 413 and 400 for the rest', () => {
    expect(statuses).toEqual([200, 200, 401, 401, 413, 400]);
  });

  it('answers 404 on any path but / and 405 to any method but POST on /, with fixed bodies', () => {
    expect(elsewhere).toEqual([
      ['POST', '/webhooks', 404, 'not found', null],
      ['POST', '/webhooks/', 404, 'not found', null],
      ['GET', '/favicon.ico', 404, 'not found', null],
      ['GET', '/', 405, 'method not allowed', 'POST'],
      ['PUT', '/', 405, 'method not allowed', 'POST'],
    ]);
  });

  it('stores the signed event once under _events/dt=<received date>/, and nothing for the rejects', async () => {
    const files = await eventFiles(lake);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^_events\/dt=2026-12-01\/[0-9a-f]{64}\.json$/);
    const stored = JSON.parse(await readFile(join(lake, files[0]!), 'utf8'));
    expect(stored).toMatchObject({
      receivedAt: NOW.toISOString(),
      cloudEvent: { id: 'cli-evt-1' },
      event: { user: { identifier: 'cli-user-signed' } },
    });
  });

  it('prints one line per request with no payload value or secret, and stops on an interrupt', async () => {
    const lines = captured.stdout().trim().split('\n');
    expect(lines.map((l) => l.split(' (')[0]!.replace(/ _events\/\S+/, ''))).toEqual([
      'accepted created task-status-updated',
      'accepted duplicate task-status-updated',
      'rejected 401 bad-signature',
      'rejected 401 unsigned',
      'rejected 413 too-large',
      'rejected 400 malformed',
      'rejected 404 not-found',
      'rejected 404 not-found',
      'rejected 404 not-found',
      'rejected 405 method-not-allowed',
      'rejected 405 method-not-allowed',
    ]);
    const printed = captured.stdout() + captured.stderr();
    expect(printed).not.toMatch(/cli-user|cli-evt|atomic-|favicon/);
    expect(printed).not.toContain(SECRET);
    interrupt();
    expect(await exit).toBe(0);
    expect(captured.stderr()).toContain('webhook receiver stopped');
  });

  it('refuses a --dest that is a file (or under one) at once, as load does, and stores nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webhooks-dest-'));
    try {
      const file = join(dir, 'lake.txt');
      await writeFile(file, 'x\n');
      for (const dest of [file, `${file}/lake`]) {
        const io = captureIo({ PAYLINK_API_SECRET: SECRET });
        const code = await main(['webhooks', '--dest', dest, '--port', '0'], io.io);
        expect(code).toBe(1);
        expect(io.stderr()).toBe(`error: --dest: '${file}' is not a folder.\n`);
      }
      expect(await readFile(file, 'utf8')).toBe('x\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start without PAYLINK_API_SECRET, naming the variable', async () => {
    const io = captureIo({});
    const code = await main(['webhooks', '--dest', lake, '--port', '0'], io.io);
    expect(code).not.toBe(0);
    expect(io.stderr()).toContain('PAYLINK_API_SECRET is not set');
  });
});
