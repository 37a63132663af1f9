/**
 * The simulator's signed events against the local receiver, over loopback: every event sent is
 * stored once (count in = count stored), a re-send stores nothing new, a wrong secret nothing.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { startWebhookServer, type WebhookServer } from '#adapters/webhook-server.ts';
import { parseSimulateArgs } from '#cli/simulate-command.ts';
import { ConfigError } from '#core/errors.ts';
import type { WebhookOutcome } from '#core/webhook.ts';
import { startSimulator } from '#simulator/server.ts';
import {
  describeSendReport,
  sendWebhookEvents,
  sendWorldChanges,
  simulatedEvent,
} from '#simulator/webhook-sender.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { captureIo } from '#test/helpers/lake-harness.ts';

const SECRET = 'sim-secret';
const TIME = new Date('2026-12-01T00:00:00.000Z');
const USERS = generateIdentifiers('webhook-sender', 60);

describe('simulated webhook events into the local receiver', () => {
  let lake: string;
  let server: WebhookServer;
  const outcomes: WebhookOutcome[] = [];
  const events = (secret: string) =>
    USERS.map((identifier) =>
      simulatedEvent({ identifier, type: 'pay-link-accounts-updated', time: TIME, secret }),
    );
  const stored = async () =>
    (await readdir(lake, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;

  beforeAll(async () => {
    lake = await mkdtemp(join(tmpdir(), 'webhook-sender-'));
    server = await startWebhookServer({
      port: 0,
      store: createLocalStore(lake),
      secret: SECRET,
      clock: () => TIME,
      onOutcome: (o) => outcomes.push(o),
    });
  });
  afterAll(async () => {
    await server?.close();
    await rm(lake, { recursive: true, force: true });
  });

  it('stores every event sent once, and a re-send of them all as duplicates', async () => {
    const first = await sendWebhookEvents(server.url, events(SECRET), 16);
    expect(first).toEqual({ answers: { 200: USERS.length }, retries: 0 });
    expect(await stored()).toBe(USERS.length);

    const again = await sendWebhookEvents(server.url, events(SECRET), 16);
    expect(again).toEqual({ answers: { 200: USERS.length }, retries: 0 });
    expect(await stored()).toBe(USERS.length);
    const kinds = outcomes.map((o) => (o.kind === 'accepted' ? o.stored : o.reason));
    expect(kinds.filter((k) => k === 'created')).toHaveLength(USERS.length);
    expect(kinds.filter((k) => k === 'duplicate')).toHaveLength(USERS.length);
  });

  it('gets 401 for every event signed with another secret, storing nothing more', async () => {
    const before = await stored();
    const report = await sendWebhookEvents(server.url, events('another-secret').slice(0, 10), 8, {
      retries: 3,
      delayMs: 1,
    });
    // As Atomic: each refused event is sent 3 more times, and refused each time.
    expect(report).toEqual({ answers: { 401: 10 }, retries: 30 });
    expect(await stored()).toBe(before);
  });

  it('makes the same bytes and ce-id for the same event (an Atomic retry), others for another time', () => {
    const a = simulatedEvent({ identifier: 'u', type: 'task-status-updated', time: TIME, secret: SECRET });
    const b = simulatedEvent({ identifier: 'u', type: 'task-status-updated', time: TIME, secret: SECRET });
    const later = simulatedEvent({
      identifier: 'u',
      type: 'task-status-updated',
      time: new Date(TIME.getTime() + 1000),
      secret: SECRET,
    });
    expect(b).toEqual(a);
    expect(later.headers['ce-id']).not.toBe(a.headers['ce-id']);
  });
});

describe("Atomic's retries", () => {
  it('delivers every event to a receiver that is down for a while (500s, then no answer), each stored once', async () => {
    const lake = await mkdtemp(join(tmpdir(), 'webhook-retry-'));
    const inner = await startWebhookServer({
      port: 0,
      store: createLocalStore(lake),
      secret: SECRET,
      clock: () => TIME,
    });
    // A proxy in front of the receiver.
    let seen = 0;
    // Per event (by its ce-id), whatever order the senders' attempts arrive in: the first
    // attempt gets 500, the second a dropped connection, the third goes through.
    const attempts = new Map<string, number>();
    const proxy = createServer((req, res) => {
      seen++;
      const id = String(req.headers['ce-id']);
      const n = attempts.get(id) ?? 0;
      attempts.set(id, n + 1);
      if (n === 0) {
        res.statusCode = 500;
        res.end();
        return;
      }
      if (n === 1) {
        req.socket.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void fetch(inner.url, {
          method: 'POST',
          headers: req.headers as Record<string, string>,
          body: Buffer.concat(chunks),
        }).then(async (r) => {
          res.statusCode = r.status;
          res.end(Buffer.from(await r.arrayBuffer()));
        });
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    try {
      const sent = USERS.slice(0, 12).map((identifier) =>
        simulatedEvent({ identifier, type: 'pay-link-accounts-updated', time: TIME, secret: SECRET }),
      );
      const report = await sendWebhookEvents(`http://127.0.0.1:${port}/`, sent, 4, {
        retries: 3,
        delayMs: 5,
      });
      expect(report.answers).toEqual({ 200: 12 });
      expect(report.retries).toBe(24);
      expect(seen).toBe(12 * 3);
      const files = (await readdir(lake, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
      expect(files).toHaveLength(12);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
      await inner.close();
      await rm(lake, { recursive: true, force: true });
    }
  });

  it('gives up after 3 retries, reporting the last answer', async () => {
    let seen = 0;
    const down = createServer((_req, res) => {
      seen++;
      res.statusCode = 503;
      res.end();
    });
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    const { port } = down.address() as AddressInfo;
    try {
      const report = await sendWebhookEvents(
        `http://127.0.0.1:${port}/`,
        [simulatedEvent({ identifier: 'u', type: 'task-status-updated', time: TIME, secret: SECRET })],
        1,
        { retries: 3, delayMs: 5 },
      );
      expect(report).toEqual({ answers: { 503: 1 }, retries: 3 });
      expect(seen).toBe(4);
      expect(describeSendReport(report)).toBe('1 x 503 (3 retries)');
    } finally {
      await new Promise((resolve) => down.close(resolve));
    }
  });
});

describe('simulate --webhooks-to', () => {
  it('needs --users and a URL', () => {
    const { io } = captureIo();
    expect(() => parseSimulateArgs(['--webhooks-to', 'http://127.0.0.1:1'], io)).toThrow(ConfigError);
    expect(() => parseSimulateArgs(['--users', '3', '--webhooks-to', 'nope'], io)).toThrow(/http/);
    expect(parseSimulateArgs(['--users', '3', '--webhooks-to', 'http://127.0.0.1:1'], io).webhooksTo).toBe(
      'http://127.0.0.1:1',
    );
  });

  it('retries as Atomic does (3 times, 30 s apart) unless --webhook-retry-seconds says otherwise', () => {
    const { io } = captureIo();
    const base = ['--users', '3', '--webhooks-to', 'http://127.0.0.1:1'];
    expect(parseSimulateArgs(base, io).webhookRetry).toEqual({ retries: 3, delayMs: 30_000 });
    expect(parseSimulateArgs([...base, '--webhook-retry-seconds', '2'], io).webhookRetry).toEqual({
      retries: 3,
      delayMs: 2000,
    });
    expect(() => parseSimulateArgs([...base, '--webhook-retry-seconds', '-1'], io)).toThrow(
      /--webhook-retry-seconds/,
    );
    expect(() => parseSimulateArgs(['--webhook-retry-seconds', '2'], io)).toThrow(/needs --webhooks-to/);
  });
});

describe('a world that changes over time', () => {
  it('completes tasks from the first round on: a short run, where each user changes once, shows both kinds', async () => {
    const sim = await startSimulator({ seed: 'changes', apiSecret: SECRET });
    try {
      const identifiers = generateIdentifiers('changes', 200);
      // What `simulate --webhooks-to` does in its first minute: 6 rounds of 3 users, each new.
      const changes = Array.from({ length: 18 }, (_, i) => sim.change(identifiers[(i * 7919) % 200]!));
      expect(new Set(changes.map((c) => c.identifier)).size).toBe(18);
      const kinds = changes.map((c) => c.kind);
      expect(kinds.filter((k) => k === 'task-completed').length).toBeGreaterThanOrEqual(5);
      expect(kinds.filter((k) => k !== 'task-completed').length).toBeGreaterThanOrEqual(5);
      for (const change of changes.filter((c) => c.kind === 'task-completed'))
        expect(sim.served(change.identifier).tasks[String(change.data.taskId)]?.status).toBe('completed');
    } finally {
      await sim.close();
    }
  });

  it('changes users one step at a time, serves the change, and sends a signed event for each', async () => {
    const lake = await mkdtemp(join(tmpdir(), 'world-changes-'));
    const sim = await startSimulator({ seed: 'changes', apiSecret: SECRET });
    const server = await startWebhookServer({
      port: 0,
      store: createLocalStore(lake),
      secret: SECRET,
      clock: () => TIME,
    });
    try {
      const identifiers = generateIdentifiers('changes', 20);
      const before = new Map(identifiers.map((id) => [id, sim.served(id)]));
      const rounds = [];
      for (let tick = 0; tick < 8; tick++)
        rounds.push(
          await sendWorldChanges({
            world: sim,
            identifiers,
            tick,
            count: 5,
            url: server.url,
            secret: SECRET,
            time: TIME,
          }),
        );
      const changes = rounds.flatMap((r) => r.changes);
      expect(changes).toHaveLength(40); // each user twice: an account change and a task, in their own order
      expect(rounds.map((r) => r.report)).toEqual(Array(8).fill({ answers: { 200: 5 }, retries: 0 }));
      // Accounts linked and unlinked, tasks completing: each served from then on.
      expect(new Set(changes.map((c) => c.kind))).toEqual(
        new Set(['account-linked', 'account-unlinked', 'task-completed']),
      );
      for (const change of changes) {
        const now = sim.served(change.identifier);
        if (change.kind === 'task-completed')
          expect(now.tasks[String(change.data.taskId)]?.status).toBe('completed');
        if (change.kind === 'account-linked')
          expect(now.accounts.map((a) => a._id)).toContain(change.data.accountId);
        if (change.kind === 'account-unlinked') {
          expect(before.get(change.identifier)!.accounts.map((a) => a._id)).toContain(change.data.accountId);
          expect(now.accounts.map((a) => a._id)).not.toContain(change.data.accountId);
        }
      }
      const stored = (await readdir(lake, { recursive: true, withFileTypes: true })).filter((e) =>
        e.isFile(),
      );
      expect(stored).toHaveLength(40);
    } finally {
      await server.close();
      await sim.close();
      await rm(lake, { recursive: true, force: true });
    }
  });
});
