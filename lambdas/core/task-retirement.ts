/**
 * Task ids that stop being fetched. The registry (user-registry.ts) learns task ids from webhook
 * events and every later load with `tasks` fetches each of them; without this they are kept
 * forever, and a lake full of tasks PayLink no longer knows (or that ended long ago) pays a
 * request per id per load, and its 404s look like a missing endpoint.
 *
 * What a load saw (the batch manifests' `taskChecks`) is folded by its commit, after its commit
 * point and under the events lock, through its events claim (event-claims.ts), so a crash between
 * the commit's steps folds it later, once:
 *  - a miss: an id PayLink answered a plain 404 for, in a load in which the endpoint answered
 *    some id (any 200 anywhere proves the route; without one the 404s prove nothing and count
 *    nothing). `retireAfterMisses` consecutive committed loads with a miss retire the id
 *    (`not_found`); an answer in between starts the count again;
 *  - a final status: an answered task whose `status` is `completed` or `failed` retires
 *    (`final_status`). Only those two: paylink-api.md lists `queued`/`processing`/`completed`/
 *    `failed`, and webhooks report a task becoming `completed` or `failed`; any other value
 *    (unknown to the doc, or patched later: `task-status-patched`) keeps the id fetched.
 * A new event naming a retired id brings it back (user-registry.ts `learnUsers`). The commit's
 * own events received before the load started are folded before its checks (they were there
 * when it fetched: a task first named by one, fetched with a final status, retires at once);
 * those received since are folded after, so one naming a task id the load retired wins: the id
 * is fetched once more.
 */
import type { BatchManifest } from './load-batch.ts';
import type { TaskCheckRecord, TaskRetirementSettings } from './user-registry.ts';

/** Statuses a task does not leave (paylink-api.md); conservative: nothing the doc is unsure of. */
export const FINAL_TASK_STATUSES: readonly string[] = ['completed', 'failed'];

export const TASK_RETIREMENT = {
  /** Default consecutive committed loads with a 404 (the endpoint answering other ids) that retire an id. */
  retireAfterMisses: 2,
  /** Bounds of the setting: 1 retires at the first miss; more than this is "never" in practice. */
  maxRetireAfterMisses: 1000,
} as const;

export function retirementSettings(retireAfterMisses: number): TaskRetirementSettings {
  return { retireAfterMisses, isFinal: (status) => FINAL_TASK_STATUSES.includes(status) };
}

/** What a load's commit folds about task ids (kept in its events claim until folded). */
export interface TaskChecks {
  /** The setting of the committing load: a later commit that folds this claim uses it too. */
  readonly retireAfterMisses: number;
  /** When the load started (its plan's `startedAt`): events received before it were there when it fetched. */
  readonly startedAt: string;
  readonly users: readonly TaskCheckRecord[];
}

/**
 * The task checks of a load's batches, or undefined when there is nothing to fold. Misses are
 * kept only when the endpoint answered some known or discovered task id anywhere in the load;
 * a user's answered ids are kept only when there is something to do with them (a final status
 * to retire, or misses to clear: the fold decides, the registry knows the misses).
 */
export function collectTaskChecks(
  manifests: readonly Pick<BatchManifest, 'taskChecks'>[],
  retireAfterMisses: number,
  startedAt: string,
): TaskChecks | undefined {
  const checks = manifests.flatMap((m) => m.taskChecks ?? []);
  const proven = checks.some((c) => Object.keys(c.found).length > 0);
  const users: TaskCheckRecord[] = [];
  for (const check of checks) {
    const missing = proven ? check.missing : [];
    const found = Object.keys(check.found).length > 0 ? check.found : undefined;
    if (missing.length === 0 && found === undefined) continue;
    users.push({
      identifier: check.identifier,
      ...(found === undefined ? {} : { found }),
      ...(missing.length === 0 ? {} : { missing: [...missing] }),
    });
  }
  return users.length === 0 ? undefined : { retireAfterMisses, startedAt, users };
}
