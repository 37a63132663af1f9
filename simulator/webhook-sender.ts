/**
 * The simulator's side of Atomic's webhooks: events shaped and signed as Atomic sends them
 * (../shared/docs/paylink-api.md, "Webhooks": CloudEvents binary mode, `ce-*` headers, body
 * `{eventType, eventTime, user: {_id, identifier}, data}`, `X-HMAC-Signature-Sha-256` =
 * HMAC-SHA256 hex of the body keyed with the API secret), POSTed to a receiver.
 *
 * `simulate --webhooks-to` sends one `pay-link-accounts-updated` event per user at start, then
 * one event per world change (simulator/world-changes.ts) as the world changes over time.
 */
import { createHash, createHmac } from 'node:crypto';
import type { WorldChange } from './world-changes.ts';

export interface SimulatedEvent {
  readonly headers: Readonly<Record<string, string>>;
  /** The exact bytes to send (the signature covers them). */
  readonly body: string;
}

export type SimulatedEventType = 'pay-link-accounts-updated' | 'task-status-updated';

/**
 * A signed event for `identifier` at `time`. Deterministic: the same inputs give the same
 * bytes and `ce-id`, like an Atomic retry of one event.
 */
export function simulatedEvent(options: {
  readonly identifier: string;
  readonly type: SimulatedEventType;
  readonly time: Date;
  readonly secret: string;
  readonly data?: Readonly<Record<string, unknown>>;
}): SimulatedEvent {
  const eventTime = options.time.toISOString();
  const hash = (...parts: string[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  const userId = hash('user', options.identifier).slice(0, 24);
  const body = JSON.stringify({
    eventType: options.type,
    eventTime,
    user: { _id: userId, identifier: options.identifier },
    data: options.data ?? {},
  });
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-source': 'com.atomicfi',
      'ce-type': `com.atomicfi.${options.type}`,
      'ce-id': hash('event', options.type, options.identifier, eventTime).slice(0, 32),
      'ce-time': eventTime,
      'X-HMAC-Signature-Sha-256': createHmac('sha256', options.secret).update(body).digest('hex'),
    },
  };
}

/** HTTP statuses answered, by status; `error` counts requests that got no answer. */
export type SendReport = Record<string, number>;

/**
 * POSTs each event to `url`, `concurrency` at a time, and counts the answers by status. Like
 * Atomic, a non-200 is not retried here: the report says how many were refused.
 */
export async function sendWebhookEvents(
  url: string,
  events: readonly SimulatedEvent[],
  concurrency = 8,
): Promise<SendReport> {
  const report: SendReport = {};
  let next = 0;
  const worker = async () => {
    while (next < events.length) {
      const event = events[next++]!;
      let key: string;
      try {
        const response = await fetch(url, { method: 'POST', headers: event.headers, body: event.body });
        await response.arrayBuffer();
        key = String(response.status);
      } catch {
        key = 'error';
      }
      report[key] = (report[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, events.length)) }, worker));
  return report;
}

/** The world a tick changes: the simulator's `change` (simulator/server.ts). */
export interface ChangingWorld {
  change(identifier: string): WorldChange;
}

/**
 * One tick of a world that changes over time (`simulate --webhooks-to`): `count` users, picked
 * deterministically from `identifiers` by the tick number, each change one step (an account
 * linked or unlinked, a task completing), and the signed event for each change POSTed to `url`.
 */
export async function sendWorldChanges(options: {
  readonly world: ChangingWorld;
  readonly identifiers: readonly string[];
  readonly tick: number;
  readonly count: number;
  readonly url: string;
  readonly secret: string;
  readonly time: Date;
}): Promise<{ changes: WorldChange[]; report: SendReport }> {
  const { identifiers } = options;
  const picked = new Set<string>();
  for (let j = 0; picked.size < Math.min(options.count, identifiers.length); j++)
    picked.add(identifiers[((options.tick * options.count + j) * 7919) % identifiers.length]!);
  const changes = [...picked].map((identifier) => options.world.change(identifier));
  const events = changes.map((change) =>
    simulatedEvent({
      identifier: change.identifier,
      type: change.eventType,
      time: options.time,
      secret: options.secret,
      data: change.data,
    }),
  );
  return { changes, report: await sendWebhookEvents(options.url, events) };
}
