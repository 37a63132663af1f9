/**
 * The PayLink client of load-batch, in its own module so the plan's and the commit's bundles do
 * not carry ky or the Secrets Manager client. Both are imported when the first batch needs them.
 */
import type { PayLinkApi } from '#core/ports.ts';
import type { RateLimiter } from '#core/rate-limiter.ts';
import type { RequestMinutes } from '#core/request-minutes.ts';
import { createWaitMeter, type WaitMeter } from '#core/wait-meter.ts';
import { countRequestEvent } from './request-metrics.ts';
import { handlerConfig } from './runtime.ts';

/**
 * A PayLink client per invocation, with its rate limiter and its back-off meter (all belong to this
 * batch: the limiter's counters and the retries' back-off size the adaptive concurrency); the
 * credentials behind it are cached per container by the credentials adapter. `minutes`, when
 * given, counts each request sent (by the minute it was answered in), 429 and retry as it
 * happens, for the batch's per-minute metrics.
 */
export async function payLinkApi(
  minutes?: RequestMinutes,
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
    ...(minutes === undefined
      ? {}
      : {
          onEvent: (event) => countRequestEvent(minutes, event),
        }),
  });
  return { api, limiter, backoff };
}
