/**
 * Shapes of the simulated PayLink data, in the API's camelCase. Only the fields the
 * simulator's routes rely on are typed precisely; the rest is JSON on purpose: the data
 * drifts (docs/paylink-api.md), and a loader must not assume more than the API promises.
 */
import type { JsonObject } from '#core/types.ts';
import type { ActionType, TaskStatus } from './catalog.ts';

export type Action = { actionId: string; type: ActionType; automated: boolean };

/** `_id` is always there; `bills` or `expenses` (or neither) and the rest vary. */
export type Account = JsonObject & { _id: string };

export type ActionHistoryEntry = JsonObject & { _id: string; accountId: string };

export type Task = JsonObject & { _id: string; status: TaskStatus };

export interface UserData {
  accounts: Account[];
  /** By account id; every account has an entry (possibly empty). */
  actionHistory: Record<string, ActionHistoryEntry[]>;
  orders: JsonObject[];
  suggestions: JsonObject[];
  recurringFinancialTransactions: JsonObject[];
  mostRecentFinancialTransaction: JsonObject | null;
  /** By task id. */
  tasks: Record<string, Task>;
  /** The user's task ids, in creation order (what webhooks would announce). */
  taskIds: string[];
}
