/**
 * Task ids that stop being fetched (lambdas/core/task-retirement.ts, user-registry.ts), and the
 * endpoint judgement that no longer takes a few users' stale ids for a missing endpoint.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { resolveCatalog } from '#core/config.ts';
import { EndpointHealth, endpointSymptom, judgeAcrossBatches } from '#core/endpoint-health.ts';
import { type BatchManifest, settleDeferredUnits, type UserTaskCheck } from '#core/load-batch.ts';
import type { UnitOutcome } from '#core/load-user.ts';
import { identifierShard } from '#core/plan.ts';
import type { ObjectStore } from '#core/ports.ts';
import { writeJson } from '#core/store-json.ts';
import { collectTaskChecks, retirementSettings } from '#core/task-retirement.ts';
import {
  learnUsers,
  REGISTRY,
  recordTaskChecks,
  registeredTaskIds,
  registeredUsers,
  registryCounts,
  registryShardKey,
} from '#core/user-registry.ts';
import { accountsAnd, notFound } from '#test/helpers/user-results.ts';

const catalog = resolveCatalog();
const taskMissing = () => notFound('/task/{id}/details');
const taskSymptom = endpointSymptom(taskMissing())!;

/** A user whose accounts worked and whose known task ids all answered 404. */
const staleUser = (identifier: string) => accountsAnd(identifier, 'tasks', taskMissing());

describe('the tasks endpoint and stale task ids', () => {
  it('is never disabled mid-load by users whose ids all 404, however many: only the load end judges', () => {
    const health = new EndpointHealth(catalog);
    health.startBatch(0);
    // More than the 20 users one batch once took as proof: a later batch may still answer an id.
    for (let n = 0; n < 50; n++) health.observe(staleUser(`u${n}`));
    expect(health.disabled('tasks')).toBeUndefined();
    expect(health.undecided('tasks')).toBe(true);
    health.finishLoad();
    expect(health.disabled('tasks')).toMatchObject({ code: 'http_404', evidenceUsers: 50 });
  });

  it('is not disabled at the load end when an id answered after 20 all-404 users, in another batch', () => {
    const health = new EndpointHealth(catalog);
    health.startBatch(0);
    for (let n = 0; n < 20; n++) health.observe(staleUser(`u${n}`));
    health.startBatch(1);
    health.observe(accountsAnd('fine', 'tasks'));
    health.finishLoad();
    expect(health.disabled('tasks')).toBeUndefined();
    expect(health.works('tasks')).toBe(true);
    expect(health.findings()).toEqual([]);
  });

  it('other endpoints are still disabled by their first 3 users', () => {
    const health = new EndpointHealth(catalog);
    health.startBatch(0);
    const ordersMissing = notFound('/pay-link/orders');
    for (const id of ['a', 'b', 'c']) health.observe(accountsAnd(id, 'orders', ordersMissing));
    expect(health.disabled('orders')).toMatchObject({ code: 'http_404', evidenceUsers: 3 });
  });

  it('works once one id answers, whatever the users before it showed', () => {
    const health = new EndpointHealth(catalog);
    health.startBatch(0);
    for (let n = 0; n < 5; n++) health.observe(staleUser(`u${n}`));
    health.observe(accountsAnd('fine', 'tasks'));
    expect(health.works('tasks')).toBe(true);
    for (let n = 0; n < 30; n++) health.observe(staleUser(`v${n}`));
    expect(health.disabled('tasks')).toBeUndefined();
  });

  it('at the end of a load with fewer users, concludes with three or more, as commit does across batches', () => {
    const small = new EndpointHealth(catalog);
    small.startBatch(0);
    for (const id of ['a', 'b']) small.observe(staleUser(id));
    small.finishLoad();
    expect(small.disabled('tasks'), 'two users are not enough').toBeUndefined();
    small.observe(staleUser('c'));
    small.finishLoad();
    expect(small.disabled('tasks')).toMatchObject({ evidenceUsers: 3 });

    const alone = (ids: string[]) => {
      const h = new EndpointHealth(catalog);
      h.startBatch(0);
      for (const id of ids) h.observe(staleUser(id));
      return h.evidence();
    };
    expect(
      judgeAcrossBatches(
        [
          { batch: 0, evidence: alone(['a', 'b']) },
          { batch: 1, evidence: alone(['c']) },
        ],
        [],
      ),
    ).toMatchObject([{ resource: 'tasks', evidenceUsers: 3, batches: [0, 1] }]);
  });

  it('settles a unit whose ids all 404 as ok/task_not_found when another batch had the endpoint working', () => {
    const outcome = {
      resource: 'tasks',
      status: 'failed',
      rows: 0,
      requests: 2,
      errorCode: 'http_404',
      errorMessage: 'PayLink /task/{id}/details answered HTTP 404',
      httpStatus: 404,
      endpoint: { resource: 'tasks', symptom: taskSymptom },
      missingTaskIds: ['t-1', 't-2'],
    } satisfies UnitOutcome;
    const manifest = (
      batch: number,
      works: string[],
      units: { identifier: string; outcome: UnitOutcome }[],
    ) =>
      ({
        batch,
        failedUsers: [],
        deferredUnits: units,
        endpointEvidence: { works, open: [] },
        endpointFindings: [],
      }) as unknown as BatchManifest;
    const settled = settleDeferredUnits(
      [manifest(0, [], [{ identifier: 'a', outcome }]), manifest(1, ['tasks'], [])],
      [],
    );
    expect(settled.lateFailed).toEqual([]);
    expect(settled.units[0]!.outcome).toMatchObject({
      status: 'ok',
      errorCode: 'task_not_found',
      httpStatus: 404,
      rows: 0,
    });
    expect(settled.units[0]!.outcome.errorMessage).toContain('t-1, t-2');
    // Without a working batch, it stays the user's failure.
    expect(settleDeferredUnits([manifest(0, [], [{ identifier: 'a', outcome }])], []).lateFailed).toEqual([
      'a',
    ]);
  });
});

const START = '2026-12-01T09:00:00.000Z';

describe('collectTaskChecks', () => {
  const check = (
    identifier: string,
    found: Record<string, string | null>,
    missing: string[],
  ): UserTaskCheck => ({
    identifier,
    found,
    missing,
  });
  it('counts misses only when some id answered in the load', () => {
    const unproven = collectTaskChecks(
      [{ taskChecks: [check('a', {}, ['t1']), check('b', {}, ['t2'])] }],
      2,
      START,
    );
    expect(unproven).toBeUndefined();
    const proven = collectTaskChecks(
      [{ taskChecks: [check('a', {}, ['t1'])] }, { taskChecks: [check('b', { t3: 'processing' }, [])] }],
      3,
      START,
    );
    expect(proven).toEqual({
      retireAfterMisses: 3,
      startedAt: START,
      users: [
        { identifier: 'a', missing: ['t1'] },
        { identifier: 'b', found: { t3: 'processing' } },
      ],
    });
  });
});

describe('the registry retires task ids', () => {
  let dir: string;
  let store: ObjectStore;
  const settings = retirementSettings(2);
  const at = new Date('2026-12-01T10:00:00Z');
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'paylink-retire-'));
    store = createLocalStore(dir);
    await learnUsers(
      store,
      ['t-stale', 't-done', 't-running', 't-odd'].map((taskId) => ({
        identifier: 'u1',
        taskId,
        eventTime: '2026-11-01T00:00:00Z',
      })),
      at,
    );
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('after consecutive misses, or a final status; an answer clears misses; an unknown status keeps it', async () => {
    const l1 = [
      {
        identifier: 'u1',
        missing: ['t-stale'],
        found: { 't-done': 'completed', 't-running': 'processing', 't-odd': 'cancelled' },
      },
    ];
    expect(await recordTaskChecks(store, 'L1', l1, settings, at)).toBe(1);
    let user = (await registeredUsers(store)).get('u1')!;
    expect(user.taskIds).toEqual(['t-stale', 't-running', 't-odd']);
    expect(user.misses).toEqual({ 't-stale': ['L1'] });
    expect(user.retired).toEqual({
      't-done': { reason: 'final_status', at: at.toISOString(), loadId: 'L1', status: 'completed' },
    });
    // Folded again (a crash after the first fold, before its pending marker went): counted once.
    expect(await recordTaskChecks(store, 'L1', l1, settings, at)).toBe(0);
    expect((await registeredUsers(store)).get('u1')!.misses).toEqual({ 't-stale': ['L1'] });

    // An answer in between starts the count again.
    await recordTaskChecks(store, 'L2', [{ identifier: 'u1', found: { 't-stale': 'queued' } }], settings, at);
    expect((await registeredUsers(store)).get('u1')!.misses).toBeUndefined();
    await recordTaskChecks(store, 'L3', [{ identifier: 'u1', missing: ['t-stale'] }], settings, at);
    await recordTaskChecks(store, 'L4', [{ identifier: 'u1', missing: ['t-stale'] }], settings, at);
    user = (await registeredUsers(store)).get('u1')!;
    expect(user.taskIds).toEqual(['t-running', 't-odd']);
    expect(user.retired?.['t-stale']).toEqual({
      reason: 'not_found',
      at: at.toISOString(),
      loadId: 'L4',
      misses: ['L3', 'L4'],
    });
    expect(await registeredTaskIds(store, ['u1'])).toEqual(new Map([['u1', ['t-running', 't-odd']]]));
    expect(await registryCounts(store)).toEqual({
      users: 1,
      taskIds: 2,
      missing: 0,
      retired: { notFound: 1, finalStatus: 1 },
    });

    // A new event naming a retired id brings it back, and one naming a missed id clears its misses.
    await recordTaskChecks(store, 'L5', [{ identifier: 'u1', missing: ['t-odd'] }], settings, at);
    await learnUsers(
      store,
      [
        { identifier: 'u1', taskId: 't-done', eventTime: '2026-12-01T09:00:00Z' },
        { identifier: 'u1', taskId: 't-odd', eventTime: '2026-12-01T09:00:00Z' },
      ],
      at,
    );
    user = (await registeredUsers(store)).get('u1')!;
    expect(user.taskIds).toEqual(['t-running', 't-odd', 't-done']);
    expect(user.retired).toEqual({ 't-stale': expect.objectContaining({ reason: 'not_found' }) });
    expect(user.misses).toBeUndefined();
  });

  it('ignores ids the registry does not fetch (a --task-ids file, a retired id) and unknown users', async () => {
    const before = await registeredUsers(store);
    await recordTaskChecks(
      store,
      'L1',
      [
        { identifier: 'u1', missing: ['from-a-file'], found: { 'other-file-id': 'failed' } },
        { identifier: 'nobody', missing: ['t-x'] },
      ],
      settings,
      at,
    );
    expect(await registeredUsers(store)).toEqual(before);
  });

  it('reads formatVersion 1 files and writes them as 2; refuses a format it does not know', async () => {
    const shard = identifierShard('old', REGISTRY.shards);
    await writeJson(store, registryShardKey(shard), {
      formatVersion: 1,
      users: { old: { taskIds: ['a', 'b'], firstSeen: '2026-01-01T00:00:00Z', lastEventTime: '2026-01-01' } },
    });
    expect(await registeredTaskIds(store, ['old'])).toEqual(new Map([['old', ['a', 'b']]]));
    await recordTaskChecks(store, 'L1', [{ identifier: 'old', found: { a: 'failed' } }], settings, at);
    const doc = JSON.parse(new TextDecoder().decode(await store.get(registryShardKey(shard))));
    expect(doc.formatVersion).toBe(2);
    expect(doc.users.old).toMatchObject({ taskIds: ['b'], firstSeen: '2026-01-01T00:00:00Z' });

    await writeJson(store, registryShardKey(shard), { formatVersion: 3, users: {} });
    await expect(registeredUsers(store)).rejects.toThrow(
      /_state\/users\/\d\d\.json: registry formatVersion 3 is not one this loader reads/,
    );
  });
});
