/**
 * The PayLink endpoints the simulator serves (docs/paylink-api.md), as pure functions from a
 * user's data to a result. HTTP concerns (auth, faults, paging, envelopes) live in server.ts
 * and responses.ts.
 */
import type { JsonValue } from '#core/types.ts';
import type { UserData } from './world-types.ts';

export type DataResult =
  | { readonly kind: 'list'; readonly key: string; readonly items: readonly JsonValue[] }
  | { readonly kind: 'object'; readonly key: string; readonly value: JsonValue }
  | { readonly kind: 'error'; readonly status: 400 | 404; readonly message: string };

export type Route =
  | { readonly kind: 'access-token' }
  | { readonly kind: 'data'; readonly resolve: (data: UserData, query: URLSearchParams) => DataResult };

const notFound = (what: string): DataResult => ({ kind: 'error', status: 404, message: `${what} not found` });

const list = (key: string, pick: (d: UserData) => readonly JsonValue[]): Route => ({
  kind: 'data',
  resolve: (data) => ({ kind: 'list', key, items: pick(data) }),
});

const STATIC_DATA_ROUTES: Readonly<Record<string, Route>> = {
  '/pay-link/accounts': list('accounts', (d) => d.accounts),
  '/pay-link/orders': list('orders', (d) => d.orders),
  '/pay-link/suggestions': list('suggestions', (d) => d.suggestions),
  '/pay-link/recurring-financial-transactions': list(
    'recurringFinancialTransactions',
    (d) => d.recurringFinancialTransactions,
  ),
  '/pay-link/financial-transactions/most-recent': {
    kind: 'data',
    resolve: (data) => ({
      kind: 'object',
      key: 'financialTransaction',
      value: data.mostRecentFinancialTransaction,
    }),
  },
  '/pay-link/action-history': {
    kind: 'data',
    resolve: (data, query) => {
      const accountId = query.get('accountId');
      if (!accountId) return { kind: 'error', status: 400, message: 'accountId is required' };
      const history = Object.hasOwn(data.actionHistory, accountId)
        ? data.actionHistory[accountId]
        : undefined;
      return history ? { kind: 'list', key: 'actionHistory', items: history } : notFound('Account');
    },
  },
};

/** The route for a method and path, or undefined (answered 404). */
export function matchRoute(method: string, pathname: string): Route | undefined {
  if (pathname === '/access-token') return method === 'POST' ? { kind: 'access-token' } : undefined;
  if (method !== 'GET') return undefined;
  const fixed = STATIC_DATA_ROUTES[pathname];
  if (fixed) return fixed;
  const account = idAfter(pathname, '/pay-link/accounts/');
  if (account !== undefined) {
    return {
      kind: 'data',
      resolve: (data) => {
        const found = data.accounts.find((a) => a._id === account);
        return found ? { kind: 'object', key: 'account', value: found } : notFound('Account');
      },
    };
  }
  const task = idAfter(pathname, '/pay-link/tasks/');
  if (task !== undefined) {
    return {
      kind: 'data',
      // Another user's task is "not found" for this one: the token is the user scope.
      resolve: (data) => {
        const found = Object.hasOwn(data.tasks, task) ? data.tasks[task] : undefined;
        return found ? { kind: 'object', key: 'task', value: found } : notFound('Task');
      },
    };
  }
  return undefined;
}

/** The single, non-empty, decoded path segment after `prefix`; undefined otherwise. */
function idAfter(pathname: string, prefix: string): string | undefined {
  if (!pathname.startsWith(prefix)) return undefined;
  const rest = pathname.slice(prefix.length);
  if (rest === '' || rest.includes('/')) return undefined;
  try {
    return decodeURIComponent(rest);
  } catch {
    return undefined;
  }
}
