/**
 * The handlers' way to observability.ts: imported on the first invocation, not with the bundle,
 * so `require()` of a bundle (its cold-start init, bench/cold-start.ts) does not evaluate
 * Powertools. esbuild keeps the module in the one-file bundle (lazy.ts explains how).
 */
import type { Context } from 'aws-lambda';
import { once } from './lazy.ts';
import type { InvocationKeys, Observed } from './observability.ts';

const load = once(() => import('./observability.ts'));

/** The invocation's logger, metrics and tracer (observability.ts `observe`). */
export async function observeInvocation(
  handler: string,
  keys: InvocationKeys,
  context?: Partial<Context>,
): Promise<Observed> {
  return (await load()).observe(handler, keys, context);
}
