/**
 * Webhook events as PayLink sends them (a JSON body signed with the API secret), given to the
 * receiver (core/webhook.ts) that stores them in a lake: for tests of what loads do with them.
 */
import { receiveWebhook, signWebhookBody, type WebhookDeps, type WebhookOutcome } from '#core/webhook.ts';

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
