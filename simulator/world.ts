/**
 * The simulated PayLink world. A user's data is a pure function of (seed, identifier): any
 * identifier at all has data, as with the real API, where the first access-token call
 * creates the user. Nothing here reads the clock or Math.random.
 */
import { PEOPLE, PLACES, UNUSUAL_IDENTIFIER_NAMES } from './catalog.ts';
import { hashUnit, Rng } from './prng.ts';
import { generateAccounts, type Person } from './world-accounts.ts';
import {
  generateMostRecent,
  generateOrders,
  generateRecurring,
  generateSuggestions,
  generateTasks,
} from './world-activity.ts';
import { driftProfile } from './world-drift.ts';
import { evolveUser } from './world-evolve.ts';
import type { Task, UserData } from './world-types.ts';

export type { Account, Action, ActionHistoryEntry, Task, UserData } from './world-types.ts';

/** A seed as given on a command line or in code: `42` and `'42'` are the same world. */
export type Seed = string | number;

/**
 * A user's data at `generation` (0: as first drawn; each later generation unlinks accounts and
 * ends bills for some users, see world-evolve.ts).
 */
export function userData(seed: Seed, identifier: string, generation = 0): UserData {
  return evolveUser(String(seed), identifier, initialUserData(seed, identifier), generation);
}

function initialUserData(seed: Seed, identifier: string): UserData {
  const key = String(seed);
  // Independent streams per section: changing how one section is drawn leaves the others as they were.
  const drift = driftProfile(new Rng(key, identifier, 'drift'));
  const person = personFor(new Rng(key, identifier, 'person'));
  const { accounts, actionHistory } = generateAccounts(new Rng(key, identifier, 'accounts'), drift, person);
  const activity = new Rng(key, identifier, 'activity');
  const orders = generateOrders(activity, drift, person, accounts);
  const suggestions = generateSuggestions(activity, accounts);
  const recurringFinancialTransactions = generateRecurring(activity, drift, accounts);
  const mostRecentFinancialTransaction = generateMostRecent(activity, drift, accounts);
  const taskList = generateTasks(new Rng(key, identifier, 'tasks'), accounts);
  const tasks: Record<string, Task> = {};
  for (const task of taskList) tasks[task._id] = task;
  return {
    accounts,
    actionHistory,
    orders,
    suggestions,
    recurringFinancialTransactions,
    mostRecentFinancialTransaction,
    tasks,
    taskIds: taskList.map((t) => t._id),
  };
}

function personFor(rng: Rng): Person {
  const name = rng.pick(PEOPLE);
  const local = name
    .normalize('NFKD')
    .replace(/[^A-Za-z ]/g, '')
    .trim()
    .toLowerCase()
    .replace(/ +/g, '.');
  return { name, email: `${local || 'user'}${rng.int(1, 999)}@example.com`, place: rng.pick(PLACES) };
}

/**
 * `n` distinct identifiers for demos: mostly `user-000123`, about one in fifteen with spaces,
 * accents, CJK, RTL script or emoji (`Zoë Ångström 7`). Index `i`'s identifier depends only on
 * (seed, i), so a longer list extends a shorter one.
 */
export function generateIdentifiers(seed: Seed, n: number): string[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError('n must be a non-negative integer');
  const key = String(seed);
  return Array.from({ length: n }, (_, i) => identifierAt(key, i));
}

/**
 * The index of `identifier` in the world of `seed` (what `generateIdentifiers` lists at that
 * place), or undefined when no user of the world has it: `user-000003` is none in any world (the
 * fourth identifier is always an unusual one, `Ngọc Trần 3`).
 */
export function identifierIndex(seed: Seed, identifier: string): number | undefined {
  const match = /^user-(\d{6,})$/.exec(identifier) ?? /^.+ (\d+)$/u.exec(identifier);
  if (match === null) return undefined;
  const i = Number(match[1]);
  if (!Number.isSafeInteger(i)) return undefined;
  return identifierAt(String(seed), i) === identifier ? i : undefined;
}

function identifierAt(seed: string, i: number): string {
  // i % 25 === 3 guarantees a few unusual ones even in short demo lists.
  const unusual = i % 25 === 3 || hashUnit(seed, 'identifier', i) < 0.03;
  if (!unusual) return `user-${String(i).padStart(6, '0')}`;
  const names = UNUSUAL_IDENTIFIER_NAMES;
  // The index suffix keeps them unique; the `user-` ones can never end in ` <digits>`.
  return `${names[Math.floor(hashUnit(seed, 'identifier-name', i) * names.length)]} ${i}`;
}
