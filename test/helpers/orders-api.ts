/**
 * An in-process PayLinkApi whose every user has the same small `orders` answer (one order,
 * `o-<identifier>`), counting requests as the real client does: for tests of what a load does
 * around the API (events, commits), not of the API itself.
 */
import type { PayLinkApi } from '#core/ports.ts';

export function ordersApi(): PayLinkApi {
  let requests = 0;
  return {
    async openSession(identifier) {
      requests++;
      return {
        async getJson() {
          requests++;
          return { orders: [{ id: `o-${identifier}`, total: 10 }] };
        },
      };
    },
    stats: () => ({ requests, retries: 0 }),
  };
}
