/**
 * Identifiers and task ids are Atomic's and PayLink's text: `__proto__`, `constructor` or
 * `toString` are keys like any other in the user registry (user-registry.ts), never the
 * prototype of the object that holds them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { learnUsers, recordTaskChecks, registeredTaskIds, registeredUsers } from '#core/user-registry.ts';

const ODD = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];
const at = new Date('2026-12-01T12:00:00.000Z');
const settings = { retireAfterMisses: 2, isFinal: (s: string) => s === 'completed' };

const key = fc.oneof(fc.constantFrom(...ODD), fc.stringMatching(/^[a-z0-9_]{1,12}$/));

describe('the user registry keyed by identifier and task id', () => {
  it('registers every identifier and task id, including Object.prototype names', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ identifier: key, taskId: key }), {
          minLength: 1,
          maxLength: 8,
          selector: (u) => u.identifier,
        }),
        async (users) => {
          const dir = await mkdtemp(join(tmpdir(), 'paylink-oddkeys-'));
          try {
            const store = createLocalStore(dir);
            const added = await learnUsers(
              store,
              users.map((u) => ({ ...u, eventTime: '2026-12-01T01:00:00Z' })),
              at,
            );
            expect(added).toBe(users.length);
            const registered = await registeredUsers(store);
            expect([...registered.keys()].sort()).toEqual(users.map((u) => u.identifier).sort());
            const tasks = await registeredTaskIds(
              store,
              users.map((u) => u.identifier),
            );
            for (const u of users) expect(tasks.get(u.identifier)).toEqual([u.taskId]);
            // A miss, then a second one: the id retires under its own name.
            for (const load of ['L1', 'L2'])
              await recordTaskChecks(
                store,
                load,
                users.map((u) => ({ identifier: u.identifier, missing: [u.taskId] })),
                settings,
                at,
              );
            const after = await registeredUsers(store);
            for (const u of users) {
              const user = after.get(u.identifier)!;
              expect(user.taskIds).toEqual([]);
              expect(Object.hasOwn(user.retired ?? {}, u.taskId)).toBe(true);
              expect(user.retired![u.taskId]).toMatchObject({ reason: 'not_found', misses: ['L1', 'L2'] });
            }
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 25, examples: [[ODD.map((name) => ({ identifier: name, taskId: name }))]] },
    );
  });

  it('keeps a user called __proto__ when a later event only adds a task', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'paylink-oddkeys-'));
    try {
      const store = createLocalStore(dir);
      await learnUsers(
        store,
        [{ identifier: '__proto__', taskId: null, eventTime: '2026-12-01T01:00:00Z' }],
        at,
      );
      await learnUsers(
        store,
        [{ identifier: '__proto__', taskId: 't1', eventTime: '2026-12-01T02:00:00Z' }],
        at,
      );
      const user = (await registeredUsers(store)).get('__proto__');
      expect(user).toMatchObject({ taskIds: ['t1'], lastEventTime: '2026-12-01T02:00:00Z' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
