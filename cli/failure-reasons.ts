/**
 * Why users failed, for the end-of-load summary: the committed `user_loads` rows of the load
 * (one per user and resource, with `status` and `error_code`), grouped by error code. Read
 * from the lake, not counted while loading, so a resumed load counts the batches an earlier
 * run staged, and endpoint symptoms that the batch excused (`endpoint_unavailable`) are not
 * counted as failures.
 */
import { parquetReadObjects } from 'hyparquet';
import type { LoadMarker } from '#core/commit.ts';
import { LAKE } from '#core/constants.ts';
import { forEachConcurrent } from '#core/pool.ts';
import type { ObjectStore } from '#core/ports.ts';

export interface FailureReason {
  /** `user_loads.error_code` (`http_500`, `timeout`, `selector_not_found`, ...). */
  readonly code: string;
  /** Users with at least one failed resource for this code. */
  readonly users: number;
  /** Failed (user, resource) rows with this code. */
  readonly units: number;
}

/** Parts read at once: each is read whole into memory (three columns of it are decoded). */
const READ_CONCURRENCY = 4;

/**
 * The failure reasons of a committed load, most users first (then by code). Empty when no user
 * failed (nothing is read then). Throws StoreError when a part cannot be read.
 */
export async function failureReasons(
  store: ObjectStore,
  marker: Pick<LoadMarker, 'failedUserCount' | 'files'>,
): Promise<FailureReason[]> {
  if (marker.failedUserCount === 0) return [];
  const parts = marker.files.filter((f) => f.table === LAKE.userLoadsTable);
  const byCode = new Map<string, { users: Set<string>; units: number }>();
  await forEachConcurrent(parts, READ_CONCURRENCY, async (part) => {
    const bytes = await store.get(part.key);
    if (bytes === undefined) return;
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const rows = await parquetReadObjects({ file, columns: ['status', 'error_code', LAKE.userColumn] });
    for (const row of rows) {
      if (row['status'] !== 'failed') continue;
      const code = typeof row['error_code'] === 'string' ? row['error_code'] : 'unknown';
      const entry = byCode.get(code) ?? { users: new Set<string>(), units: 0 };
      entry.users.add(String(row[LAKE.userColumn]));
      entry.units++;
      byCode.set(code, entry);
    }
  });
  return [...byCode]
    .map(([code, { users, units }]) => ({ code, users: users.size, units }))
    .sort((a, b) => b.users - a.users || a.code.localeCompare(b.code));
}

/** A code in plain words, for the summary (the code itself stays the key to query). */
export function reasonWords(code: string): string {
  const http = /^http_(\d{3})$/.exec(code)?.[1];
  if (http !== undefined)
    return `PayLink answered HTTP ${http}${http === '429' ? ' (rate limited) after retries' : ''}`;
  const words: Record<string, string> = {
    timeout: 'timed out after retries',
    network: 'network error after retries',
    malformed_response: 'answer was not the JSON expected',
    selector_not_found: 'no records where the catalog looks for them',
    access_token_rejected: 'PayLink refused a token for this user',
    response_too_large: 'answer larger than http.maxResponseBytes',
    pagination_limit: 'more pages than the limit',
    parent_failed: 'its parent resource failed, so it could not be fetched',
    child_not_found: 'PayLink answered 404 for a parent record it still lists (see error_message)',
    parent_not_found: 'parent record unlinked during the load (not a failure)',
    task_not_found: 'task id PayLink does not know (not a failure)',
    unsafe_task_id: "task id not requested: '.' or '..' in a path",
    unsafe_identifier: "identifier not requested: '.' or '..' in a path",
    unsafe_path_key: "parent record id not requested: '.' or '..' in a path",
    deadline_exceeded: 'not started: the batch reached its deadline',
    parent_unavailable: 'its parent resource was disabled',
    batch_failed: 'its batch failed as a whole',
    internal: 'internal error (see error_message)',
  };
  return words[code] ?? '';
}
