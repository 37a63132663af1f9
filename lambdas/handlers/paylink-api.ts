/**
 * The PayLink client of load-batch, in its own module so the plan's and the commit's bundles do
 * not carry ky or the Secrets Manager client. Both are imported when the first batch needs them.
 */
import { countByMinute } from '#core/load-metrics.ts';
import type { PayLinkApi } from '#core/ports.ts';
import type { RateLimiter } from '#core/rate-limiter.ts';
import { createWaitMeter, type WaitMeter } from '#core/wait-meter.ts';
import { handlerConfig } from './runtime.ts';

/** What the client saw that its own stats do not count (for the batch's metrics). */
export interface PayLinkCounters {
  /** Responses answered 429 (every attempt counts). */
  rateLimited: number;
  /** Requests sent (every attempt), by the minute they were answered in (load-metrics.ts `countByMinute`). */
  readonly sentByMinute: Record<string, number>;
}

/**
 * A PayLink client per invocation, with its rate limiter and its back-off meter (all belong to this
 * batch: the limiter's counters and the retries' back-off size the adaptive concurrency); the
 * credentials behind it are cached per container by the credentials adapter. `counters`, when
 * given, is updated as responses arrive.
 */
export async function payLinkApi(
  counters?: PayLinkCounters,
): Promise<{ api: PayLinkApi; limiter: RateLimiter; backoff: WaitMeter }> {
  const config = handlerConfig();
  const [{ resolveCredentials }, { createPayLinkClient }, { createSystemRateLimiter }] = await Promise.all([
    import('#adapters/credentials.ts'),
    import('#adapters/paylink-client.ts'),
    import('#adapters/system-timers.ts'),
  ]);
  const credentials = await resolveCredentials({ env: process.env, secretId: config.secretArn });
  const limiter = createSystemRateLimiter(config.batchRequestRate);
  const backoff = createWaitMeter(() => performance.now());
  const api = createPayLinkClient({
    baseUrl: config.settings.baseUrl,
    credentials,
    rateLimiter: limiter,
    backoff,
    http: config.settings.http,
    ...(counters === undefined
      ? {}
      : {
          onEvent: (event) => {
            if (event.type !== 'request') return;
            countByMinute(counters.sentByMinute, Date.now());
            if (event.status === 429) counters.rateLimited++;
          },
        }),
  });
  return { api, limiter, backoff };
}
