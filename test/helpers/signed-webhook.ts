/**
 * Webhook events as PayLink sends them (a JSON body signed with the API secret), given to the
 * receiver (core/webhook.ts) that stores them in a lake: for tests of what loads do with them.
 */
import type { ObjectStore } from '#core/ports.ts';
import { receiveWebhook, signWebhookBody, type WebhookDeps, type WebhookOutcome } from '#core/webhook.ts';
import type { Simulator } from '#simulator/server.ts';
import { type SimulatedEventType, simulatedEvent } from '#simulator/webhook-sender.ts';

export interface WebhookEventFields {
  readonly identifier: string;
  readonly eventTime: Date;
  /** Default `pay-link-accounts-updated`. */
  readonly eventType?: string;
  /** Carry PayLink's own user id (`user._id`: `atomic-<identifier>`), as its real events do. */
  readonly atomicId?: boolean;
  readonly data: Record<string, unknown>;
}

/** The body of one event, its keys in PayLink's order. */
export function webhookEventBody(event: WebhookEventFields): string {
  const { identifier } = event;
  return JSON.stringify({
    eventType: event.eventType ?? 'pay-link-accounts-updated',
    eventTime: event.eventTime.toISOString(),
    user: event.atomicId ? { _id: `atomic-${identifier}`, identifier } : { identifier },
    data: event.data,
  });
}

/** `body` signed with `deps.secret` and received; `headers` go with the signature's (`ce-id`). */
export function receiveSigned(
  body: string,
  deps: WebhookDeps,
  headers: Readonly<Record<string, string>> = {},
): Promise<WebhookOutcome> {
  return receiveWebhook(
    {
      headers: { 'x-hmac-signature-sha-256': signWebhookBody(body, deps.secret), ...headers },
      body: new TextEncoder().encode(body),
    },
    deps,
  );
}

/**
 * A signed `pay-link-accounts-updated` event numbered `seq` (`data.seq`, to tell events apart in
 * `webhook_events`) of `identifier`, sent when received; throws unless the receiver accepts it.
 */
export async function receiveNumberedEvent(
  deps: WebhookDeps,
  identifier: string,
  seq: number,
): Promise<Extract<WebhookOutcome, { kind: 'accepted' }>> {
  const body = webhookEventBody({ identifier, eventTime: deps.receivedAt, data: { seq } });
  const outcome = await receiveSigned(body, deps);
  if (outcome.kind !== 'accepted')
    throw new Error(`event ${seq} of ${identifier} not accepted: ${outcome.reason}`);
  return outcome;
}

/**
 * A signed event for `identifier` as the simulator's sender makes it (`simulate --webhooks-to`),
 * received at `at` into `store`: `pay-link-accounts-updated`, or `task-status-updated` when
 * `data` names a task (`taskId`), unless `type` says otherwise.
 */
export function receiveSimulatedEvent(
  deps: { readonly store: ObjectStore; readonly secret: string },
  identifier: string,
  at: Date,
  event: { readonly type?: SimulatedEventType; readonly data?: Record<string, unknown> } = {},
): Promise<WebhookOutcome> {
  const { data } = event;
  const signed = simulatedEvent({
    identifier,
    type: event.type ?? (data?.taskId === undefined ? 'pay-link-accounts-updated' : 'task-status-updated'),
    time: at,
    secret: deps.secret,
    ...(data === undefined ? {} : { data }),
  });
  return receiveWebhook(
    { headers: signed.headers, body: new TextEncoder().encode(signed.body) },
    { store: deps.store, secret: deps.secret, receivedAt: at },
  );
}

/**
 * The simulator changes `identifier`'s world and its signed event (the sender's own, as
 * `simulate --webhooks-to` sends it) is received at `at` into `store`.
 */
export function receiveSimulatedChange(
  sim: Simulator,
  identifier: string,
  at: Date,
  deps: { readonly store: ObjectStore; readonly secret: string },
): Promise<WebhookOutcome> {
  const change = sim.change(identifier);
  return receiveSimulatedEvent(deps, identifier, at, { type: change.eventType, data: change.data });
}
