/**
 * The PayLink endpoints the simulator serves (docs/paylink-api.md), as pure functions from a
 * user's data to a result. HTTP concerns (auth, faults, paging, envelopes) live in server.ts
 * and responses.ts.
 */
import type { JsonValue } from '#core/types.ts';
import type { RouteTemplate } from './api-profiles.ts';
import type { UserData } from './world-types.ts';

export type DataResult =
  | { readonly kind: 'list'; readonly key: string; readonly items: readonly JsonValue[] }
  | { readonly kind: 'object'; readonly key: string; readonly value: JsonValue }
  | { readonly kind: 'error'; readonly status: 400 | 404; readonly message: string };

/** Whose data a server-key route reads: from its path, or the owner of a task id. */
export type Subject = { readonly identifier: string } | { readonly taskId: string };

export type DataRoute = {
  readonly kind: 'data';
  readonly template: RouteTemplate;
  /** `user`: the public token names the user. `server`: our key and secret; `subject` names the user. */
  readonly auth: 'user' | 'server';
  readonly subject?: Subject;
  readonly resolve: (data: UserData, query: URLSearchParams) => DataResult;
};

export type Route = { readonly kind: 'access-token' } | DataRoute;

const notFound = (what: string): DataResult => ({ kind: 'error', status: 404, message: `${what} not found` });

const list = (
  template: RouteTemplate,
  key: string,
  pick: (d: UserData) => readonly JsonValue[],
): DataRoute => ({
  kind: 'data',
  template,
  auth: 'user',
  resolve: (data) => ({ kind: 'list', key, items: pick(data) }),
});

const STATIC_DATA_ROUTES: Readonly<Record<string, DataRoute>> = {
  '/pay-link/accounts': list('/pay-link/accounts', 'accounts', (d) => d.accounts),
  '/pay-link/orders': list('/pay-link/orders', 'orders', (d) => d.orders),
  '/pay-link/suggestions': list('/pay-link/suggestions', 'suggestions', (d) => d.suggestions),
  '/pay-link/recurring-financial-transactions': list(
    '/pay-link/recurring-financial-transactions',
    'recurringFinancialTransactions',
    (d) => d.recurringFinancialTransactions,
  ),
  '/pay-link/financial-transactions/most-recent': {
    kind: 'data',
    template: '/pay-link/financial-transactions/most-recent',
    auth: 'user',
    resolve: (data) => ({
      kind: 'object',
      key: 'financialTransaction',
      value: data.mostRecentFinancialTransaction,
    }),
  },
  '/pay-link/action-history': {
    kind: 'data',
    template: '/pay-link/action-history',
    auth: 'user',
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
      template: '/pay-link/accounts/{id}',
      auth: 'user',
      resolve: (data) => {
        const found = data.accounts.find((a) => a._id === account);
        return found ? { kind: 'object', key: 'account', value: found } : notFound('Account');
      },
    };
  }
  // Atomic's task endpoint [3rd client]: server key and secret, the task under `data`.
  const details = /^\/task\/([^/]+)\/details$/.exec(pathname);
  const task = details ? decoded(details[1]!) : undefined;
  if (task !== undefined) {
    return {
      kind: 'data',
      template: '/task/{id}/details',
      auth: 'server',
      subject: { taskId: task },
      resolve: (data) => {
        const found = Object.hasOwn(data.tasks, task) ? data.tasks[task] : undefined;
        return found ? { kind: 'object', key: 'task', value: found } : notFound('Task');
      },
    };
  }
  const userTasks = /^\/user\/([^/]+)\/tasks$/.exec(pathname);
  const identifier = userTasks ? decoded(userTasks[1]!) : undefined;
  if (identifier !== undefined) {
    return {
      kind: 'data',
      template: '/user/{identifier}/tasks',
      auth: 'server',
      subject: { identifier },
      resolve: (data, query) => {
        const status = query.get('status');
        const tasks = data.taskIds.map((id) => data.tasks[id]!).filter((t) => !status || t.status === status);
        return { kind: 'list', key: 'tasks', items: tasks };
      },
    };
  }
  return undefined;
}

function decoded(segment: string): string | undefined {
  try {
    const value = decodeURIComponent(segment);
    return value === '' ? undefined : value;
  } catch {
    return undefined;
  }
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
