/**
 * The world changing one user at a time, as webhooks announce it: an account linked or unlinked,
 * a task completing. A user's n-th change is a pure function of (seed, identifier, n), so a test
 * knows the truth after any number of changes, and the simulator serves exactly that truth.
 * A user's changes alternate between their accounts (`pay-link-accounts-updated`) and a task
 * completing (`task-status-updated`: a pending task of the user's, or a new one). Which comes
 * first is the user's own (a fixed hash): about half the users' first change is a task
 * completing, so a short run of `simulate --webhooks-to`, where most users change once, shows
 * both kinds instead of accounts only. Any two consecutive changes of a user are one of each.
 */
import { hash128, hashKey, hashUnit } from './prng.ts';
import type { Account, Task, UserData } from './world-types.ts';

export type WorldChangeKind = 'account-linked' | 'account-unlinked' | 'task-completed';

/** One change and what Atomic would say about it. */
export interface WorldChange {
  readonly identifier: string;
  /** 1 for the user's first change. */
  readonly step: number;
  readonly kind: WorldChangeKind;
  readonly eventType: 'pay-link-accounts-updated' | 'task-status-updated';
  /** The event's `data`. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** A 24-hex id that is a pure function of the parts (Atomic's ids are 24-hex ObjectIds). */
function idOf(...parts: (string | number)[]): string {
  return hash128(hashKey(parts))
    .map((n) => n.toString(16).padStart(8, '0'))
    .join('')
    .slice(0, 24);
}

/** Somebody else's accounts, to link: the world draws whole accounts per user. */
export type AccountSource = (identifier: string) => readonly Account[];

/**
 * Applies the user's changes 1..`steps` to `data` (a new object; the input is kept) and
 * returns what each one was.
 */
export function changeUser(
  seed: string,
  identifier: string,
  data: UserData,
  steps: number,
  accountsOf: AccountSource,
): { data: UserData; changes: WorldChange[] } {
  if (steps <= 0) return { data, changes: [] };
  const out: UserData = structuredClone(data);
  const changes: WorldChange[] = [];
  for (let step = 1; step <= steps; step++)
    changes.push(applyChange(seed, identifier, out, step, accountsOf));
  return { data: out, changes };
}

function applyChange(
  seed: string,
  identifier: string,
  out: UserData,
  step: number,
  accountsOf: AccountSource,
): WorldChange {
  const base = { identifier, step } as const;
  const taskFirst = hashUnit(seed, 'change-phase', identifier) < 0.5;
  if ((step + (taskFirst ? 1 : 0)) % 2 === 0) {
    const pending = out.taskIds
      .map((id) => out.tasks[id]!)
      .find((t) => t.status === 'queued' || t.status === 'processing');
    const task: Task = pending ?? {
      _id: idOf(seed, 'change-task', identifier, step),
      status: 'processing',
      product: 'pay-link',
      createdAt: '2026-01-01T00:00:00.000Z',
      accountId: out.accounts[0]?._id ?? null,
      company: null,
    };
    const previousStatus = task.status;
    const done: Task = {
      ...task,
      status: 'completed',
      updatedAt: `2026-01-01T00:${String(step % 60).padStart(2, '0')}:00.000Z`,
    };
    out.tasks[done._id] = done;
    if (!out.taskIds.includes(done._id)) out.taskIds.push(done._id);
    return {
      ...base,
      kind: 'task-completed',
      eventType: 'task-status-updated',
      data: { taskId: done._id, status: 'completed', previousStatus, product: 'pay-link' },
    };
  }
  const unlink = out.accounts.length > 1 && hashUnit(seed, 'change-unlink', identifier, step) < 0.5;
  if (unlink) {
    const index = Math.floor(hashUnit(seed, 'change-unlink-which', identifier, step) * out.accounts.length);
    const [gone] = out.accounts.splice(index, 1);
    if (gone) delete out.actionHistory[gone._id];
    return {
      ...base,
      kind: 'account-unlinked',
      eventType: 'pay-link-accounts-updated',
      data: { accountId: gone?._id ?? null, linked: false },
    };
  }
  // Link: an account drawn for another (simulated) person, under a new id.
  let donor: readonly Account[] = [];
  for (let k = 0; donor.length === 0 && k < 20; k++) donor = accountsOf(`${identifier}#link-${step}-${k}`);
  const account: Account = {
    ...structuredClone(donor[0] ?? { _id: 'none', company: { _id: 'company-x', name: 'Example' } }),
    _id: idOf(seed, 'change-link', identifier, step),
  };
  out.accounts.push(account);
  out.actionHistory[account._id] = [];
  return {
    ...base,
    kind: 'account-linked',
    eventType: 'pay-link-accounts-updated',
    data: { accountId: account._id, linked: true },
  };
}
