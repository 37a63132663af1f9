/**
 * Linked biller accounts and their action history. Shapes follow the account seen in
 * Atomic's apps (`_id`, `company.branding.logo.url`, `actions`, `bills` whose actions repeat
 * the account's), plus the prose-only fields (identities, payment methods, billing day, line
 * items) under plausible names, with the messiness a loader meets in practice.
 */
import type { JsonObject, JsonValue } from '#core/types.ts';
import {
  ACTION_TYPES,
  CARD_BRANDS,
  COMPANIES,
  type CompanyDef,
  LOGO_BASE_URL,
  type PLACES,
  TAGS,
} from './catalog.ts';
import type { Rng } from './prng.ts';
import {
  amountValue,
  billingDayValue,
  type DriftProfile,
  isoDate,
  syncedAtValue,
  timestamp,
} from './world-drift.ts';
import type { Account, Action, ActionHistoryEntry } from './world-types.ts';

export interface Person {
  readonly name: string;
  readonly email: string;
  readonly place: (typeof PLACES)[number];
}

export interface GeneratedAccounts {
  accounts: Account[];
  actionHistory: Record<string, ActionHistoryEntry[]>;
}

export function generateAccounts(rng: Rng, drift: DriftProfile, person: Person): GeneratedAccounts {
  const count = rng.weighted([
    [0, 12],
    [1, 30],
    [2, 28],
    [3, 18],
    [4, 12],
  ]);
  const companies = rng.sample(COMPANIES, count);
  const accounts: Account[] = [];
  const actionHistory: Record<string, ActionHistoryEntry[]> = {};
  for (const company of companies) {
    const { account, actions } = generateAccount(rng, drift, person, company);
    accounts.push(account);
    actionHistory[account._id] = generateActionHistory(rng, account._id, actions);
  }
  return { accounts, actionHistory };
}

/** The company as accounts embed it; branding is sometimes partial or absent. */
export function companyRef(rng: Rng, company: CompanyDef): JsonObject {
  const ref: JsonObject = { _id: company._id, name: company.name };
  const roll = rng.next();
  if (roll < 0.06) ref.branding = null;
  else if (roll < 0.1) ref.branding = {};
  else ref.branding = { logo: { url: company.logo === null ? null : `${LOGO_BASE_URL}${company.logo}` } };
  return ref;
}

function generateAccount(
  rng: Rng,
  drift: DriftProfile,
  person: Person,
  company: CompanyDef,
): { account: Account; actions: Action[] } {
  const _id = rng.hex(24);
  const actions = generateActions(rng);
  const account: Account = { _id, company: companyRef(rng, company) };
  if (!rng.chance(0.05))
    account.status = rng.weighted([
      ['active', 70],
      ['syncing', 10],
      ['error', 12],
      ['disconnected', 8],
    ]);
  account.lastSyncedAt = syncedAtValue(rng, drift);
  account.actions = actions;
  const bills = generateBills(rng, drift, company, actions);
  // The API renamed bills to expenses over time; some accounts carry neither.
  const billsKey = rng.weighted([
    ['bills', 72],
    ['expenses', 22],
    [null, 6],
  ]);
  if (billsKey !== null) account[billsKey] = bills;
  if (!rng.chance(0.05)) account.identities = generateIdentities(rng, person);
  account.paymentMethods = rng.chance(0.15) ? [] : generatePaymentMethods(rng, person);
  account.billingDay = billingDayValue(rng, drift);
  if (!rng.chance(0.1)) account.tags = rng.sample(TAGS, rng.int(0, 3));
  if (rng.chance(0.3)) account.lineItems = generateLineItems(rng, drift, company);
  if (rng.chance(0.5))
    account.profile = { plan: rng.pick(company.plans), memberSince: isoDate(rng, -3000, -30) };
  if (company.sellsGoods && rng.chance(0.7)) account.orders = generateEmbeddedOrders(rng, drift, company);
  if (account.status === 'error') account.connectionError = rng.pick(connectionErrors);
  return { account, actions };
}

const connectionErrors: readonly JsonValue[] = [
  { code: 'credentials-invalid', message: 'The saved password was rejected.' },
  { code: 'mfa-required', message: null },
  null,
];

function generateActions(rng: Rng): Action[] {
  const types = rng.sample(ACTION_TYPES, rng.int(0, 4));
  return types.map((type) => ({
    actionId: rng.hex(32),
    type,
    automated: type !== 'view-account' && rng.chance(0.6),
  }));
}

function generateBills(rng: Rng, drift: DriftProfile, company: CompanyDef, actions: Action[]): JsonObject[] {
  const count = rng.weighted([
    [0, 15],
    [1, 55],
    [2, 22],
    [3, 8],
  ]);
  const bills: JsonObject[] = [];
  for (let i = 0; i < count; i++) {
    const bill: JsonObject = {
      name: rng.pick(company.plans),
      dueAmount: amountValue(rng, drift, rng.money(...company.price)),
      dueDate: rng.chance(0.06) ? null : timestamp(rng, -10, 40),
      // Bills repeat their account's actions (docs), sometimes only the plan-level ones.
      actions: actions.filter((a) => a.type !== 'view-account' || rng.chance(0.5)).map((a) => ({ ...a })),
    };
    if (rng.chance(0.7)) bill.currency = company.currency;
    if (rng.chance(0.4)) bill.lineItems = generateLineItems(rng, drift, company);
    bills.push(bill);
  }
  return bills;
}

function generateLineItems(rng: Rng, drift: DriftProfile, company: CompanyDef): JsonObject[] {
  return Array.from({ length: rng.int(0, 3) }, () => ({
    description: rng.pick([...company.plans, 'Taxes & fees', 'Late fee', 'Équipement / equipment rental']),
    amount: amountValue(rng, drift, rng.money(0.5, company.price[1] / 2)),
    quantity: rng.chance(0.9) ? 1 : rng.int(2, 4),
  }));
}

function generateIdentities(rng: Rng, person: Person): JsonObject[] {
  if (rng.chance(0.1)) return [];
  const identity: JsonObject = {
    name: person.name,
    email: rng.chance(0.85) ? person.email : null,
    phone: rng.chance(0.5) ? `+1 555 01${rng.int(10, 99)}` : null,
  };
  if (rng.chance(0.8)) identity.address = { ...person.place };
  return rng.chance(0.1)
    ? [identity, { name: person.name.split(' ')[0] ?? person.name, email: null }]
    : [identity];
}

function generatePaymentMethods(rng: Rng, person: Person): JsonObject[] {
  return Array.from({ length: rng.int(1, 2) }, (_, i): JsonObject => {
    if (rng.chance(0.2)) {
      return {
        _id: rng.hex(24),
        type: 'bank',
        isDefault: i === 0,
        bank: { name: 'First Example Bank', last4: last4(rng) },
      };
    }
    return {
      _id: rng.hex(24),
      type: 'card',
      isDefault: i === 0,
      card: {
        brand: rng.pick(CARD_BRANDS),
        last4: last4(rng),
        expiry: { month: rng.int(1, 12), year: rng.int(2025, 2031) },
        billingAddress: rng.chance(0.6) ? { ...person.place } : null,
      },
    };
  });
}

/** Always a string: leading zeros matter. */
function last4(rng: Rng): string {
  return String(rng.int(0, 9999)).padStart(4, '0');
}

function generateEmbeddedOrders(rng: Rng, drift: DriftProfile, company: CompanyDef): JsonObject[] {
  return Array.from({ length: rng.int(0, 3) }, () => ({
    orderId: `${rng.int(100, 999)}-${rng.int(1_000_000, 9_999_999)}-${rng.int(1_000_000, 9_999_999)}`,
    placedAt: timestamp(rng, -120, 0),
    total: amountValue(rng, drift, rng.money(5, 250)),
    currency: company.currency,
  }));
}

function generateActionHistory(rng: Rng, accountId: string, actions: Action[]): ActionHistoryEntry[] {
  const count = rng.weighted([
    [0, 30],
    [1, 25],
    [2, 20],
    [3, 12],
    [5, 8],
    [8, 5],
  ]);
  const history: ActionHistoryEntry[] = [];
  for (let i = 0; i < count; i++) {
    const type = actions.length > 0 && rng.chance(0.8) ? rng.pick(actions).type : rng.pick(ACTION_TYPES);
    const status = rng.weighted([
      ['completed', 70],
      ['failed', 15],
      ['processing', 8],
      ['pending', 7],
    ]);
    const requestedAt = timestamp(rng, -200, 0);
    const entry: ActionHistoryEntry = {
      _id: rng.hex(24),
      accountId,
      type,
      status,
      automated: rng.chance(0.5),
      requestedAt,
      completedAt: status === 'completed' || status === 'failed' ? laterThan(rng, requestedAt) : null,
    };
    if (status === 'failed')
      entry.error = rng.pick(['session-expired', 'site-unavailable', 'plan-not-changeable', null]);
    if (type === 'change-plan' && rng.chance(0.7)) {
      entry.details = {
        from: rng.pick(['Basic', 'Standard', 'Premium']),
        to: rng.pick(['Basic', 'Standard', 'Premium']),
      };
    }
    history.push(entry);
  }
  return history;
}

/** A timestamp 1 to 600 seconds after `iso`. */
function laterThan(rng: Rng, iso: string): string {
  return new Date(Date.parse(iso) + rng.int(1, 600) * 1000).toISOString();
}
