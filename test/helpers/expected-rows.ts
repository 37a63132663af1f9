/**
 * What a load of some users must put in the lake, computed from what the simulator served
 * (`sim.served(identifier)`), independently of the loader's normalizer: a small walk that
 * counts rows the way dlt's relational rules say (a nested object adds columns, a non-empty
 * list adds one child row per item, a list inside a list goes through a `list` row).
 * Names use the shared naming contract (#core/naming.ts), nothing else from the loader.
 */
import { normalizeIdentifier } from '#core/naming.ts';
import type { JsonObject, JsonValue } from '#core/types.ts';
import type { UserData } from '#simulator/world.ts';

/** Tables the load command writes when no --resources is given (user_loads aside). */
export const DEFAULT_RESOURCES = [
  'accounts',
  'action_history',
  'orders',
  'suggestions',
  'recurring_financial_transactions',
  'financial_transactions_most_recent',
] as const;
export type DefaultResource = (typeof DEFAULT_RESOURCES)[number];

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An account's bills: the API renamed `bills` to `expenses`; the loader aliases it back. */
export function billsOf(account: JsonObject): JsonValue[] {
  const bills = account['bills'] ?? account['expenses'];
  return Array.isArray(bills) ? bills : [];
}

/** The records each default resource yields for one user, in the order they are served. */
export function recordsOf(data: UserData): Record<DefaultResource, JsonObject[]> {
  return {
    accounts: data.accounts,
    action_history: data.accounts.flatMap((a) => data.actionHistory[a._id] ?? []),
    orders: data.orders,
    suggestions: data.suggestions,
    recurring_financial_transactions: data.recurringFinancialTransactions,
    financial_transactions_most_recent:
      data.mostRecentFinancialTransaction === null ? [] : [data.mostRecentFinancialTransaction],
  };
}

/** Root rows per resource for one user: what `user_loads.rows` must say for an ok unit. */
export function rootRowsOf(data: UserData): Record<DefaultResource, number> {
  const records = recordsOf(data);
  return Object.fromEntries(DEFAULT_RESOURCES.map((r) => [r, records[r].length])) as Record<
    DefaultResource,
    number
  >;
}

/** Rows per table (root and child tables) for these users' served data. Tables with 0 rows are absent. */
export function expectedTableCounts(
  served: readonly UserData[],
  resources: readonly DefaultResource[] = DEFAULT_RESOURCES,
): Record<string, number> {
  const counts: Record<string, number> = {};
  const add = (table: string) => {
    counts[table] = (counts[table] ?? 0) + 1;
  };

  const visitObject = (table: string, obj: JsonObject, prefix: string | undefined) => {
    for (const [key, value] of Object.entries(obj)) {
      const path = prefix === undefined ? normalizeIdentifier(key) : `${prefix}__${normalizeIdentifier(key)}`;
      if (Array.isArray(value)) {
        if (value.length > 0) visitList(`${table}__${path}`, value);
      } else if (isObject(value)) {
        visitObject(table, value, path);
      }
    }
  };
  const visitList = (table: string, items: readonly JsonValue[]) => {
    for (const item of items) {
      add(table);
      if (Array.isArray(item)) visitObject(table, { list: item }, undefined);
      else if (isObject(item)) visitObject(table, item, undefined);
    }
  };

  for (const data of served) {
    const records = recordsOf(data);
    for (const resource of resources) {
      for (const record of records[resource]) {
        add(resource);
        visitObject(resource, resource === 'accounts' ? withBillsAlias(record) : record, undefined);
      }
    }
  }
  return counts;
}

function withBillsAlias(account: JsonObject): JsonObject {
  if (!('expenses' in account) || 'bills' in account) return account;
  const { expenses, ...rest } = account;
  return { ...rest, bills: expenses as JsonValue };
}

/** Sums per-table counts (for a lake holding several loads). */
export function addCounts(...all: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const counts of all)
    for (const [table, n] of Object.entries(counts)) out[table] = (out[table] ?? 0) + n;
  return out;
}
