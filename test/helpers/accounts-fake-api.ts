/**
 * A fake PayLink of accounts, their action history and a configured grandchild
 * (`action_details` per history entry), for the unit tests of fan-out 404s: accounts unlinked
 * right after their list was served, accounts still listed whose children 404, a list that
 * cannot be fetched again, a missing history route.
 */
import { resolveCatalog, selectResources } from '#core/config.ts';
import { PayLinkHttpError } from '#core/errors.ts';
import type { PayLinkApi, PayLinkRequest } from '#core/ports.ts';
import type { JsonValue } from '#core/types.ts';

export interface AccountsWorld {
  /** Account ids listed per user. */
  readonly accounts: Record<string, string[]>;
  /** Unlinked right after the user's list was first served: listed once, then their children 404. */
  readonly gone?: ReadonlySet<string>;
  /** Still listed, but their children (history, account by id) answer a plain 404. */
  readonly notFound?: ReadonlySet<string>;
  /** Every request for the account list after the first answers this status. */
  readonly relistStatus?: number;
  /** The action-history route does not exist (every request 404s). */
  readonly noRoute?: boolean;
  /**
   * History entries per account: `h-<id>`, and with 2 (the default) `h2-<id>` too, whose
   * `action_details` answer a plain 404 while the history goes on listing them.
   */
  readonly historyPerAccount?: 1 | 2;
}

export interface FakeAccountsApi extends PayLinkApi {
  /** Requests by path (the query left out), in the order made. */
  readonly paths: string[];
}

export function fakeAccountsApi(world: AccountsWorld): FakeAccountsApi {
  const paths: string[] = [];
  const lists = new Map<string, number>();
  const gone = world.gone ?? new Set();
  const notFound = world.notFound ?? new Set();
  const missing = (request: PayLinkRequest) => new PayLinkHttpError(request.endpoint, 404, 40400);
  return {
    paths,
    async openSession(identifier) {
      return {
        async getJson(request): Promise<JsonValue> {
          paths.push(request.path);
          if (request.path === '/pay-link/accounts') {
            const served = lists.get(identifier) ?? 0;
            lists.set(identifier, served + 1);
            if (served > 0 && world.relistStatus !== undefined)
              throw new PayLinkHttpError(request.endpoint, world.relistStatus);
            const ids = (world.accounts[identifier] ?? []).filter((id) => served === 0 || !gone.has(id));
            return { accounts: ids.map((_id) => ({ _id })) };
          }
          const accountId = request.query?.accountId;
          if (request.path === '/pay-link/action-history' && accountId !== undefined) {
            if (world.noRoute === true || gone.has(accountId) || notFound.has(accountId))
              throw missing(request);
            const entries = [{ _id: `h-${accountId}`, accountId, type: 'refresh' }];
            if ((world.historyPerAccount ?? 2) === 2)
              entries.push({ _id: `h2-${accountId}`, accountId, type: 'view-account' });
            return { actionHistory: entries };
          }
          const account = /^\/pay-link\/accounts\/([^/]+)$/.exec(request.path)?.[1];
          if (account !== undefined) {
            if (gone.has(account) || notFound.has(account)) throw missing(request);
            return { account: { _id: account } };
          }
          const detail = /^\/pay-link\/action-details\/([^/]+)$/.exec(request.path)?.[1];
          if (detail !== undefined) {
            if (detail.startsWith('h2-')) throw missing(request);
            return { detail: { _id: detail } };
          }
          throw missing(request);
        },
      };
    },
    stats: () => ({ requests: paths.length, retries: 0 }),
  };
}

/** `accounts`, `action_history` and `action_details` (a --config grandchild per history entry). */
export const GRANDCHILD_STEPS = selectResources(
  resolveCatalog({
    action_details: {
      path: '/pay-link/action-details/{id}',
      kind: 'object',
      selectors: ['detail'],
      parent: { resource: 'action_history', field: '_id' },
      primaryKey: '_id',
      defaultEnabled: false,
    },
  }),
  ['accounts', 'action_history', 'action_details'],
).steps;
