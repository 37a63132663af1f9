/**
 * The user-level resources besides accounts: orders, suggestions, recurring and most recent
 * financial transactions, tasks. Field names are plausible guesses (docs mark these [3rd]);
 * what matters for a loader is their nesting, nulls and drift.
 */
import type { JsonObject } from '#core/types.ts';
import { COMPANIES, type CompanyDef, GOODS, TASK_STATUSES } from './catalog.ts';
import type { Rng } from './prng.ts';
import { companyRef, type Person } from './world-accounts.ts';
import { amountValue, type DriftProfile, isoDate, timestamp } from './world-drift.ts';
import type { Account, Task } from './world-types.ts';

const SHOPS = COMPANIES.filter((c) => c.sellsGoods);

export function generateOrders(
  rng: Rng,
  drift: DriftProfile,
  person: Person,
  accounts: Account[],
): JsonObject[] {
  const count = rng.weighted([
    [0, 35],
    [1, 20],
    [2, 18],
    [3, 12],
    [4, 8],
    [5, 7],
  ]);
  return Array.from({ length: count }, () => {
    const shop = rng.pick(SHOPS);
    const account = accounts.find((a) => (a.company as JsonObject | null)?._id === shop._id);
    const items = Array.from({ length: rng.int(1, 4) }, () => ({
      name: rng.pick(GOODS),
      quantity: rng.int(1, 3),
      price: amountValue(rng, drift, rng.money(2, 120)),
      sku: rng.chance(0.8) ? `B0${rng.hex(8).toUpperCase()}` : null,
    }));
    const status = rng.weighted([
      ['delivered', 60],
      ['shipped', 15],
      ['processing', 10],
      ['cancelled', 10],
      ['returned', 5],
    ]);
    const order: JsonObject = {
      _id: rng.hex(24),
      accountId: account?._id ?? null,
      company: { _id: shop._id, name: shop.name },
      orderNumber: `${rng.int(100, 999)}-${rng.int(1_000_000, 9_999_999)}-${rng.int(1_000_000, 9_999_999)}`,
      status,
      placedAt: timestamp(rng, -180, 0),
      total: { amount: amountValue(rng, drift, rng.money(5, 400)), currency: shop.currency },
      items,
    };
    if (status === 'delivered' || status === 'shipped') {
      order.shipping = rng.chance(0.15)
        ? null
        : { carrier: rng.pick(['UPS', 'USPS', 'DHL', 'Amazon Logistics']), address: { ...person.place } };
    }
    return order;
  });
}

export function generateSuggestions(rng: Rng, accounts: Account[]): JsonObject[] {
  const linked = new Set(accounts.map((a) => (a.company as JsonObject | null)?._id));
  const candidates = COMPANIES.filter((c) => !linked.has(c._id));
  return rng.sample(candidates, rng.int(0, 4)).map((company) => {
    const suggestion: JsonObject = {
      _id: rng.hex(24),
      company: companyRef(rng, company),
      reason: rng.pick(['recurring-transaction', 'popular-in-region', 'card-on-file']),
      // Mostly a fraction, sometimes exactly 1 (an integer in JSON): drift between double and bigint.
      confidence: rng.chance(0.1) ? 1 : Math.round(rng.next() * 1000) / 1000,
      createdAt: timestamp(rng, -30, 0),
    };
    if (rng.chance(0.6)) suggestion.transactionCount = rng.int(1, 24);
    return suggestion;
  });
}

export function generateRecurring(rng: Rng, drift: DriftProfile, accounts: Account[]): JsonObject[] {
  const count = rng.int(0, 5);
  return Array.from({ length: count }, () => {
    const company = pickCompany(rng, accounts);
    const amount = rng.money(...company.price);
    return {
      _id: rng.hex(24),
      // A transaction that matched no company has none: null, as the API would say.
      company: rng.chance(0.15) ? null : { _id: company._id, name: company.name },
      description: company.descriptor,
      amount: amountValue(rng, drift, amount),
      currency: company.currency,
      frequency: rng.weighted([
        ['monthly', 80],
        ['yearly', 10],
        ['weekly', 5],
        ['irregular', 5],
      ]),
      nextExpectedDate: rng.chance(0.1) ? null : isoDate(rng, 0, 35),
      lastSeenAt: timestamp(rng, -35, 0),
      categories: rng.chance(0.2) ? [] : [company.category, rng.pick(['subscription', 'bills', 'general'])],
      transactions: Array.from({ length: rng.int(0, 4) }, () => ({
        _id: rng.hex(24),
        amount: amountValue(rng, drift, amount),
        postedAt: timestamp(rng, -150, 0),
      })),
    };
  });
}

export function generateMostRecent(rng: Rng, drift: DriftProfile, accounts: Account[]): JsonObject | null {
  if (rng.chance(0.15)) return null;
  const company = pickCompany(rng, accounts);
  const transaction: JsonObject = {
    _id: rng.hex(24),
    description: company.descriptor,
    amount: amountValue(rng, drift, rng.money(...company.price)),
    currency: company.currency,
    postedAt: timestamp(rng, -10, 0),
    status: rng.pick(['posted', 'posted', 'pending']),
    company: rng.chance(0.2) ? null : { _id: company._id, name: company.name },
  };
  if (rng.chance(0.5)) transaction.category = [company.category];
  return transaction;
}

export function generateTasks(rng: Rng, accounts: Account[]): Task[] {
  return Array.from({ length: rng.int(0, 3) }, () => {
    const status = rng.weighted(TASK_STATUSES.map((s) => [s, s === 'completed' ? 60 : 13] as const));
    const createdAt = timestamp(rng, -60, 0);
    const account = accounts.length > 0 && rng.chance(0.8) ? rng.pick(accounts) : undefined;
    const task: Task = {
      _id: rng.hex(24),
      status,
      product: 'pay-link',
      createdAt,
      updatedAt: new Date(Date.parse(createdAt) + rng.int(5, 3600) * 1000).toISOString(),
      accountId: account?._id ?? null,
      company: account ? companyIdName(account) : null,
    };
    if (status === 'failed')
      task.failReason = rng.pick(['bad-credentials', 'session-timeout', 'unsupported-mfa', null]);
    return task;
  });
}

function companyIdName(account: Account): JsonObject {
  const company = account.company as JsonObject;
  return { _id: company._id ?? null, name: company.name ?? null };
}

/** Mostly a company the user has linked (their statements show it), otherwise any. */
function pickCompany(rng: Rng, accounts: Account[]): CompanyDef {
  const linkedIds = accounts.map((a) => (a.company as JsonObject | null)?._id);
  const linked = COMPANIES.filter((c) => linkedIds.includes(c._id));
  return linked.length > 0 && rng.chance(0.7) ? rng.pick(linked) : rng.pick(COMPANIES);
}
