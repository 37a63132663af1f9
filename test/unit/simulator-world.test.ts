import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateIdentifiers, type UserData, userData } from '#simulator/world.ts';

const SEED = 'world-test';
const population = (n: number, seed = SEED) => generateIdentifiers(seed, n).map((id) => userData(seed, id));
const allAccounts = (users: UserData[]) => users.flatMap((u) => u.accounts);
const allBills = (users: UserData[]) =>
  allAccounts(users).flatMap((a) => [
    ...((a.bills as object[]) ?? []),
    ...((a.expenses as object[]) ?? []),
  ]) as Record<string, unknown>[];
const kindOf = (v: unknown) => (v === null ? 'null' : typeof v);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('userData', () => {
  it('returns the same data for the same seed and identifier', () => {
    for (const id of ['user-000001', 'user-000002', 'Zoë Ångström 7']) {
      expect(userData(SEED, id)).toEqual(userData(SEED, id));
    }
  });

  it('treats a numeric seed and its string form as the same world', () => {
    expect(userData(42, 'user-000009')).toEqual(userData('42', 'user-000009'));
  });

  it('gives different data under different seeds', () => {
    const ids = generateIdentifiers(SEED, 20);
    const differing = ids.filter(
      (id) => JSON.stringify(userData('a', id)) !== JSON.stringify(userData('b', id)),
    );
    expect(differing.length).toBe(ids.length);
  });

  it('has data for any identifier, Unicode and emoji included, distinct per identifier', () => {
    const ids = ['Zoë Ångström 7', '山田 太郎 12', '🚀 launch user', ' ', 'a/b?c=d#e', 'محمد علي'];
    const serialized = ids.map((id) => JSON.stringify(userData(SEED, id)));
    expect(new Set(serialized).size).toBe(ids.length);
    for (const id of ids) expect(userData(SEED, id)).toEqual(userData(SEED, id));
  });

  it('is plain JSON that survives a round trip unchanged', () => {
    for (const user of population(50)) expect(JSON.parse(JSON.stringify(user))).toEqual(user);
  });

  it('never uses Math.random', () => {
    vi.spyOn(Math, 'random').mockImplementation(() => {
      throw new Error('Math.random called');
    });
    expect(() => population(100)).not.toThrow();
  });

  it('gives some users zero accounts and others up to four', () => {
    const counts = population(400).map((u) => u.accounts.length);
    expect(counts).toContain(0);
    expect(Math.max(...counts)).toBe(4);
  });

  it('gives some accounts expenses instead of bills, and never both', () => {
    const accounts = allAccounts(population(300));
    expect(accounts.some((a) => 'expenses' in a)).toBe(true);
    expect(accounts.some((a) => 'bills' in a)).toBe(true);
    expect(accounts.some((a) => 'bills' in a && 'expenses' in a)).toBe(false);
  });

  it('shapes accounts like the documented example', () => {
    for (const account of allAccounts(population(100))) {
      expect(account._id).toMatch(/^[0-9a-f]{24}$/);
      const company = account.company as Record<string, unknown>;
      expect(typeof company._id).toBe('string');
      expect(typeof company.name).toBe('string');
      for (const action of account.actions as Record<string, unknown>[]) {
        expect(Object.keys(action).sort()).toEqual(['actionId', 'automated', 'type']);
        expect(['view-account', 'refresh', 'change-plan', 'pause-plan', 'cancel-plan']).toContain(
          action.type,
        );
      }
    }
  });

  it('uses Unicode company names', () => {
    const names = new Set(allAccounts(population(300)).map((a) => (a.company as { name: string }).name));
    expect(names).toContain('Électricité de France');
    expect(names).toContain('Müller Stadtwerke');
    expect([...names].some((n) => /[^\x00-\x7f]/.test(n) && !/[À-ÿ]/.test(n))).toBe(true);
  });

  it('drifts dueAmount between numbers, numeric strings and "N/A" across users', () => {
    const amounts = allBills(population(400)).map((b) => b.dueAmount);
    expect(amounts.some((v) => typeof v === 'number')).toBe(true);
    expect(amounts.some((v) => typeof v === 'string' && /^\d+\.\d\d$/.test(v))).toBe(true);
    expect(amounts).toContain('N/A');
    // Whole amounts serialize as JSON integers: integer/double drift inside the number type too.
    expect(amounts.some((v) => typeof v === 'number' && Number.isInteger(v))).toBe(true);
  });

  it('drifts billingDay between integers, floats, strings and null', () => {
    const days = allAccounts(population(400)).map((a) => a.billingDay);
    expect(days.some((v) => typeof v === 'number' && Number.isInteger(v))).toBe(true);
    expect(days.some((v) => typeof v === 'number' && !Number.isInteger(v))).toBe(true);
    expect(days.some((v) => typeof v === 'string')).toBe(true);
    expect(days).toContain(null);
  });

  it('makes lastSyncedAt a timestamp for most accounts but not all', () => {
    const values = allAccounts(population(400)).map((a) => a.lastSyncedAt);
    const iso = values.filter(
      (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)) && v.includes('T'),
    );
    expect(iso.length).toBeGreaterThan(values.length * 0.7);
    expect(values.some((v) => typeof v === 'string' && Number.isNaN(Date.parse(v)))).toBe(true);
  });

  it('leaves fields out, nulls them or empties lists on some accounts', () => {
    const accounts = allAccounts(population(400));
    expect(accounts.some((a) => !('status' in a))).toBe(true);
    expect(accounts.some((a) => !('tags' in a))).toBe(true);
    expect(accounts.some((a) => (a.company as Record<string, unknown>).branding === null)).toBe(true);
    expect(accounts.some((a) => Array.isArray(a.paymentMethods) && a.paymentMethods.length === 0)).toBe(true);
    expect(accounts.some((a) => Array.isArray(a.identities) && a.identities.length > 0)).toBe(true);
    expect(accounts.some((a) => 'lineItems' in a)).toBe(true);
    expect(new Set(accounts.map((a) => kindOf((a.company as Record<string, unknown>).branding)))).toEqual(
      new Set(['object', 'null']),
    );
  });

  it('keeps every user-level resource in its documented form', () => {
    const users = population(300);
    for (const user of users) {
      expect(Object.keys(user.actionHistory).sort()).toEqual(user.accounts.map((a) => a._id).sort());
      expect(user.taskIds.slice().sort()).toEqual(Object.keys(user.tasks).sort());
      for (const task of Object.values(user.tasks)) {
        expect(['queued', 'processing', 'completed', 'failed']).toContain(task.status);
      }
      expect(user.orders.length).toBeLessThanOrEqual(5);
    }
    expect(users.some((u) => u.mostRecentFinancialTransaction === null)).toBe(true);
    expect(users.some((u) => u.mostRecentFinancialTransaction !== null)).toBe(true);
    expect(users.some((u) => u.orders.length > 0)).toBe(true);
    expect(users.some((u) => u.taskIds.length > 0)).toBe(true);
  });

  it('gives every account, order and task an id no other user shares', () => {
    const users = population(2000);
    const ids = users.flatMap((u) => [
      ...u.accounts.map((a) => a._id),
      ...u.taskIds,
      ...u.orders.map((o) => o._id),
    ]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('generates a user in well under a millisecond', () => {
    const ids = generateIdentifiers('perf', 500);
    for (const id of ids) userData('warm-up', id);
    // The CPU time this process spent, not the wall clock: on a loaded 2-core machine the wall
    // clock also counts the time the OS ran other processes (best of three rounds at load 17:
    // 1.05-1.24 ms a user by the wall clock, 0.14-0.20 ms of CPU). Vitest's forks pool runs one
    // test file at a time in a child process, so no other file's work is counted here.
    const perUser = [1, 2, 3].map((round) => {
      const started = process.cpuUsage();
      for (const id of ids) userData(round, id);
      const { user, system } = process.cpuUsage(started);
      return (user + system) / 1000 / ids.length;
    });
    expect(Math.min(...perUser)).toBeLessThan(1);
  });
});

describe('generateIdentifiers', () => {
  it('returns n unique identifiers, deterministically', () => {
    const ids = generateIdentifiers(7, 5000);
    expect(ids).toHaveLength(5000);
    expect(new Set(ids).size).toBe(5000);
    expect(generateIdentifiers(7, 5000)).toEqual(ids);
  });

  it('extends a shorter list when asked for more', () => {
    expect(generateIdentifiers(7, 1000).slice(0, 100)).toEqual(generateIdentifiers(7, 100));
  });

  it('makes most identifiers user-NNNNNN and a few with spaces and non-ASCII characters', () => {
    const ids = generateIdentifiers(7, 1000);
    const plain = ids.filter((id) => /^user-\d{6}$/.test(id));
    const unusual = ids.filter((id) => / /.test(id) && /[^\x00-\x7f]/.test(id));
    expect(plain.length).toBeGreaterThan(900);
    expect(unusual.length).toBeGreaterThan(10);
  });

  it('includes an unusual identifier even in a short demo list', () => {
    expect(generateIdentifiers(1, 10).some((id) => !/^user-\d{6}$/.test(id))).toBe(true);
  });

  it('rejects a negative count', () => {
    expect(() => generateIdentifiers(1, -1)).toThrow(RangeError);
  });
});
