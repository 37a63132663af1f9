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

/**
 * Atomic's delivery: a non-200 answer (or none) is retried 3 times, 30 s apart
 * (../shared/docs/paylink-api.md, "Webhooks").
 */
export const ATOMIC_RETRY = { retries: 3, delayMs: 30_000 } as const;

export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly retries: number;
  /** Milliseconds between two attempts of one event. */
  readonly delayMs: number;
}

export interface SendReport {
  /** Each event's last answer, by HTTP status; `error` counts events that got no answer. */
  readonly answers: Record<string, number>;
  /** Attempts after the first, over all events. */
  readonly retries: number;
}

/** `12 x 200, 1 x 500 (3 retries)`: a report on one line. */
export function describeSendReport(report: SendReport): string {
  const answers = Object.entries(report.answers)
    .map(([status, count]) => `${count} x ${status}`)
    .join(', ');
  return report.retries === 0
    ? answers
    : `${answers} (${report.retries} ${report.retries === 1 ? 'retry' : 'retries'})`;
}

/**
 * POSTs each event to `url`, `concurrency` at a time, and counts the last answers by status. Like
 * Atomic, an event answered with anything but 200 (or not answered) is sent again, up to
 * `retry.retries` times `retry.delayMs` apart, so a receiver that is briefly down loses nothing.
 */
export async function sendWebhookEvents(
  url: string,
  events: readonly SimulatedEvent[],
  concurrency = 8,
  retry: RetryPolicy = ATOMIC_RETRY,
): Promise<SendReport> {
  const answers: Record<string, number> = {};
  let retries = 0;
  let next = 0;
  const attempt = async (event: SimulatedEvent): Promise<string> => {
    try {
      const response = await fetch(url, { method: 'POST', headers: event.headers, body: event.body });
      await response.arrayBuffer();
      return String(response.status);
    } catch {
      return 'error';
    }
  };
  const worker = async () => {
    while (next < events.length) {
      const event = events[next++]!;
      let key = await attempt(event);
      for (let n = 0; key !== '200' && n < retry.retries; n++) {
        await new Promise((resolve) => setTimeout(resolve, retry.delayMs));
        retries++;
        key = await attempt(event);
      }
      answers[key] = (answers[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, events.length)) }, worker));
  return { answers, retries };
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
  readonly retry?: RetryPolicy;
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
  return { changes, report: await sendWebhookEvents(options.url, events, 8, options.retry) };
}
