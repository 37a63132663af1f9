/**
 * The cause of a systemic failure, kept in the load's staging for the deployed workflow. Each
 * Distributed Map item returns a constant few bytes (the Map gathers every item's result into
 * one state of at most 256 KiB, so a per-item cause of a few hundred bytes would overflow it at
 * about 800 failing batches); the run reads the cause back here to fail with it.
 */
import { SystemicFailureError } from './errors.ts';
import { systemicCauseKey } from './layout.ts';
import type { ObjectStore } from './ports.ts';
import { readJson, writeJson } from './store-json.ts';

export interface SystemicCauseDoc {
  readonly batch: number;
  /** The error's one-line message: the cause, never a stack trace or a value. */
  readonly cause: string;
}

/** Said when no batch's cause could be read back (its write failed too). */
export const UNREAD_SYSTEMIC_CAUSE =
  'a batch found the load cannot work (PayLink unreachable or not answering as PayLink), but its cause could not be read back; see the load-batch function logs';

/**
 * Records a batch's systemic failure (any batch's will do: they share the cause). Best effort: a
 * lake that cannot take this write either fails the batch for its own reason.
 */
export async function recordSystemicCause(
  store: ObjectStore,
  loadId: string,
  batch: number,
  error: unknown,
): Promise<void> {
  if (!(error instanceof SystemicFailureError)) return;
  const doc: SystemicCauseDoc = { batch, cause: error.message };
  await writeJson(store, systemicCauseKey(loadId), doc).catch(() => undefined);
}

/** The recorded cause, or UNREAD_SYSTEMIC_CAUSE. */
export async function readSystemicCause(store: ObjectStore, loadId: string): Promise<string> {
  const doc = await readJson<SystemicCauseDoc>(store, systemicCauseKey(loadId)).catch(() => undefined);
  return typeof doc?.cause === 'string' && doc.cause !== '' ? doc.cause : UNREAD_SYSTEMIC_CAUSE;
}
