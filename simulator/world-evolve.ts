/**
 * The world over time: generation 0 is what `userData` draws; each later generation applies a
 * few changes per user, the way linked accounts change between two scheduled loads. A change is
 * a pure function of (seed, identifier, generation), so a test can compute the truth of any
 * generation and a loader run against generation g sees exactly that truth.
 *
 * Changes are removals on purpose: an account the user unlinked, a bill that ended. They are
 * what a snapshot loader gets wrong (the old rows must leave the current state).
 */
import { hashUnit } from './prng.ts';
import type { Account, UserData } from './world-types.ts';

/** Per user and generation step: the share of users who unlink one account / lose one bill. */
export const EVOLVE_RATES = { unlinkAccount: 0.2, removeBill: 0.3 } as const;

/** Bills live under `bills` or, on some accounts, `expenses` (the API renamed them). */
const BILL_KEYS = ['bills', 'expenses'] as const;

function billsOf(account: Account): { key: string; bills: unknown[] } | undefined {
  for (const key of BILL_KEYS) {
    const value = account[key];
    if (Array.isArray(value) && value.length > 0) return { key, bills: value };
  }
  return undefined;
}

/** Applies generations 1..`generation` to a user's generation-0 data (a new object; the input is kept). */
export function evolveUser(seed: string, identifier: string, data: UserData, generation: number): UserData {
  if (generation <= 0) return data;
  const out: UserData = structuredClone(data);
  for (let step = 1; step <= generation; step++) {
    if (
      hashUnit(seed, 'evolve-unlink', identifier, step) < EVOLVE_RATES.unlinkAccount &&
      out.accounts.length > 0
    ) {
      const index = Math.floor(hashUnit(seed, 'evolve-unlink-which', identifier, step) * out.accounts.length);
      const [gone] = out.accounts.splice(index, 1);
      if (gone) delete out.actionHistory[gone._id];
    }
    if (hashUnit(seed, 'evolve-bill', identifier, step) < EVOLVE_RATES.removeBill) {
      const withBills = out.accounts.filter((a) => billsOf(a) !== undefined);
      if (withBills.length > 0) {
        const account =
          withBills[Math.floor(hashUnit(seed, 'evolve-bill-account', identifier, step) * withBills.length)]!;
        const { key, bills } = billsOf(account)!;
        const index = Math.floor(hashUnit(seed, 'evolve-bill-which', identifier, step) * bills.length);
        account[key] = bills.filter((_, i) => i !== index) as Account[string];
      }
    }
  }
  return out;
}
