/** Load-batch Lambda: one Distributed Map item -> staged parts + batch manifest. */
import type { Context } from 'aws-lambda';
import { eventLoopLateness } from '#adapters/event-loop-lateness.ts';
import { processCpuMs } from '#adapters/process-cpu.ts';
import {
  adaptiveConcurrency,
  cappedConcurrencyNote,
  userConcurrencyNow,
} from '#core/adaptive-concurrency.ts';
import { selectResources } from '#core/config.ts';
import { loggableError, withSafeMessage } from '#core/errors.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { assertLeaseOwner } from '#core/lease.ts';
import { type BatchManifest, loadBatch, primaryFailureCode } from '#core/load-batch.ts';
import { batchMetrics } from '#core/load-metrics.ts';
import type { UserResult } from '#core/load-user.ts';
import { readBatchUsers, readPlan } from '#core/plan.ts';
import { rateLimiterStats } from '#core/rate-limiter.ts';
import { RequestMinutes } from '#core/request-minutes.ts';
import { recordSystemicCause } from '#core/systemic-cause.ts';
import { BATCH_DEADLINE_MARGIN_SECONDS, type LoadBatchEvent, type LoadBatchResult } from './contract.ts';
import { partWriters } from './part-writers.ts';
import { payLinkApi } from './paylink-api.ts';
import { guardRedrive } from './redrive-guard.ts';
import { publishRequestMinutes } from './request-metrics.ts';
import { handlerConfig, lakeStore } from './runtime.ts';
import { observeInvocation } from './telemetry.ts';

/** See BATCH_DEADLINE_MARGIN_SECONDS. */
export const DEADLINE_MARGIN_MS = BATCH_DEADLINE_MARGIN_SECONDS * 1000;

/**
 * Users the batch counted failed, each once, under its primary code (`primaryFailureCode`: its
 * first failed unit's, never a derived `parent_failed`), so the codes add up to the batch's
 * failed users. A unit that failed with an endpoint symptom counts unless the batch disabled that
 * resource (then it is `endpoint_unavailable`, not a failure: the EndpointUnavailable metric).
 * Units still waiting for an endpoint verdict are settled by the commit and not counted here.
 */
export function failureCounter() {
  const failedUnits = new Map<string, { code: string; endpoint: string | undefined }[]>();
  return {
    onUser(result: UserResult) {
      const failed = result.outcomes.filter((o) => o.status === 'failed');
      if (failed.length > 0)
        failedUnits.set(
          result.identifier,
          failed.map((o) => ({ code: o.errorCode ?? 'unknown', endpoint: o.endpoint?.resource })),
        );
    },
    byCode(manifest: Pick<BatchManifest, 'endpointFindings' | 'failedUsers'>): Record<string, number> {
      const disabled = new Set(manifest.endpointFindings.map((f) => f.resource));
      const byCode: Record<string, number> = {};
      for (const identifier of new Set(manifest.failedUsers)) {
        const code = primaryFailureCode(
          (failedUnits.get(identifier) ?? [])
            .filter((u) => u.endpoint === undefined || !disabled.has(u.endpoint))
            .map((u) => u.code),
        );
        byCode[code] = (byCode[code] ?? 0) + 1;
      }
      return byCode;
    },
  };
}

export async function handler(
  event: LoadBatchEvent,
  context?: Pick<Context, 'getRemainingTimeInMillis'> & Partial<Context>,
): Promise<LoadBatchResult> {
  const started = Date.now();
  const config = handlerConfig();
  const obs = await observeInvocation(
    'load-batch',
    { loadId: event.loadId, batch: event.batch, execution: event.run?.execution },
    context,
  );
  try {
    return await obs.traced('load-batch', async () => {
      // A redriven run loads nothing while another run of its schedule is going.
      if (await guardRedrive(event.run, event.childRedriveCount)) obs.log.info('redrive_guard_passed');
      const store = lakeStore();
      // Before anything is cleared or staged: the load id must still be this execution's.
      if (event.run !== undefined)
        await assertLeaseOwner(store, event.loadId, event.run.execution, () => new Date());
      const plan = await readPlan(store, event.loadId);
      obs.appendKeys({ schedule: plan.schedule });
      const remaining = context?.getRemainingTimeInMillis();
      const deadlineAt = remaining === undefined ? undefined : Date.now() + remaining;
      const minutes = new RequestMinutes();
      const failures = failureCounter();
      const { api, limiter, backoff } = await payLinkApi(minutes);
      // Unless configured: as many users as this batch's share of the rate and PayLink's measured
      // latency need (Little's law), as the CLI does. The limiter holds the batch to its share
      // (infra/batch-rate.ts) whatever the user count, so adapting can never exceed it.
      // Started by the first adaptive window; stopped with the batch.
      const lateness = eventLoopLateness();
      const concurrency =
        config.userConcurrency === 'adaptive'
          ? adaptiveConcurrency({
              ratePerSecond: config.batchRequestRate,
              limiter: () => rateLimiterStats(limiter),
              backoffMs: backoff.totalMs,
              client: () => api.stats(),
              loopDelayMs: lateness.sinceLast,
              cpuMs: processCpuMs,
              now: () => performance.now(),
            })
          : config.userConcurrency;
      // Requests, retries and 429s per minute, published as the minutes end (and the rest when
      // the batch ends, failed or not): a long batch's rate and 429s are drawn where they happened.
      const publishing = publishRequestMinutes(minutes, obs.emit);
      let manifest: BatchManifest;
      try {
        manifest = await loadBatch(
          {
            loadId: plan.loadId,
            batch: event.batch,
            dt: plan.dt,
            startedAt: plan.startedAt,
            users: await readBatchUsers(store, plan.loadId, event.batch),
            steps: selectResources(config.settings.catalog, plan.resources).steps,
            registry: await readCommittedSchema(store),
            concurrency,
            ...(deadlineAt === undefined ? {} : { deadline: new Date(deadlineAt - DEADLINE_MARGIN_MS) }),
          },
          { api, store, parts: partWriters(), clock: () => new Date(), onUser: failures.onUser },
        ).catch(async (error: unknown) => {
          // The run fails with this cause after the Map (the Map's own result carries no cause).
          await recordSystemicCause(store, plan.loadId, event.batch, error);
          throw error;
        });
      } finally {
        publishing.stop();
        lateness.stop();
      }
      const rows = Object.values(manifest.rowsByTable).reduce((a, b) => a + b, 0);
      const stats = api.stats();
      const figures = {
        users: manifest.users,
        failedUsers: manifest.failedUsers.length,
        deadlineSkipped: manifest.deadlineSkipped,
        rows,
        files: manifest.files.length,
        bytes: manifest.files.reduce((sum, f) => sum + f.bytes, 0),
        requests: manifest.requests,
        retries: stats.retries,
        rateLimited: minutes.totals().rateLimited,
        seconds: (Date.now() - started) / 1000,
        headroomSeconds: deadlineAt === undefined ? undefined : (deadlineAt - Date.now()) / 1000,
        failedUsersByCode: failures.byCode(manifest),
      };
      obs.log.info('batch_loaded', {
        ...figures,
        requestsSentByMinute: minutes.sentByMinute(),
        // Adaptive or set, and the number: "adapted too low" vs "CPU-bound" from the log alone.
        userConcurrency: userConcurrencyNow(concurrency),
        endpointFindings: manifest.endpointFindings.map((f) => f.resource),
      });
      obs.emit(batchMetrics(figures));
      // Adapting could not reach this batch's share of the rate: cdk.json userConcurrency set
      // higher would use more of it.
      const adapted = typeof concurrency === 'number' ? undefined : concurrency.state();
      const capped = adapted && cappedConcurrencyNote(adapted, config.batchRequestRate);
      if (capped !== undefined) obs.log.warn('concurrency_capped', { ...adapted, advice: capped });
      return {
        loadId: manifest.loadId,
        batch: manifest.batch,
        users: manifest.users,
        failedUsers: manifest.failedUsers.length,
        rows,
      };
    });
  } catch (error) {
    // Never the error itself: the logger would print its cause chain and properties as they
    // are, and a cause can quote a damaged file or a response (errors.ts loggableError).
    obs.log.error('batch_failed', { error: loggableError(error) });
    throw withSafeMessage(error);
  }
}
