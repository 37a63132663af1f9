/**
 * Before a fan-out child's plain 404 (`/pay-link/action-history?accountId=<id>`) is taken as its
 * parent's leaving (`parent_not_found`), the user's parent list is fetched again, once:
 *  - the parent is no longer listed: `parent_not_found`, and the parent leaves this load's parent
 *    rows too (it leaves the current state with its children);
 *  - the parent is still listed: the 404 is no proof, so the unit fails (`child_not_found`) and
 *    the user's committed rows stay current;
 *  - the list cannot be fetched again: the unit fails as for any failed fetch.
 * A route that answers 404 for everybody is still judged as the endpoint's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { EndpointHealth } from '#core/endpoint-health.ts';
import { PayLinkHttpError } from '#core/errors.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { type BatchManifest, type BatchUser, loadBatch, settleDeferredUnits } from '#core/load-batch.ts';
import { CHILD_NOT_FOUND, loadUser, type UserResult } from '#core/load-user.ts';
import type { ObjectStore, PayLinkApi, PayLinkRequest } from '#core/ports.ts';
import {
  type AccountsWorld,
  type FakeAccountsApi,
  fakeAccountsApi,
  GRANDCHILD_STEPS,
} from '#test/helpers/accounts-fake-api.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';

type World = AccountsWorld;
type Fake = FakeAccountsApi;
const fakeApi = fakeAccountsApi;

const STEPS = selectResources(resolveCatalog(), ['accounts', 'action_history']).steps;
const LOAD = { loadId: '1764547200.1', dt: '2026-12-01' };

const unit = (result: UserResult, resource: string) => result.outcomes.find((o) => o.resource === resource)!;
const ids = (result: UserResult, table: string, column = '["_id"]') =>
  result.rows.filter((r) => r.table === table).map((r) => r.row[column]);
const accountLists = (api: Fake) => api.paths.filter((p) => p === '/pay-link/accounts').length;

describe('a child 404 for a parent the list still names', () => {
  it('fails the unit child_not_found, writes none of its rows and keeps the parent rows, with one more request', async () => {
    const api = fakeApi({ accounts: { u1: ['a1', 'a2', 'a3'] }, notFound: new Set(['a2']) });
    const result = await loadUser({ identifier: 'u1', steps: STEPS, ...LOAD }, api);
    expect(result.failed).toBe(true);
    expect(unit(result, 'action_history')).toMatchObject({
      status: 'failed',
      rows: 0,
      // One per account, and the list fetched again.
      requests: 4,
      errorCode: CHILD_NOT_FOUND,
      httpStatus: 404,
    });
    const message = unit(result, 'action_history').errorMessage!;
    expect(message).toContain('at /pay-link/action-history for 1 accounts record(s) (_id a2)');
    expect(message).toContain('still lists');
    // Nothing of the unit is written: the user's committed history stays current.
    expect(ids(result, 'action_history')).toEqual([]);
    expect(unit(result, 'accounts')).toMatchObject({ status: 'ok', rows: 3, errorCode: null });
    expect(ids(result, 'accounts')).toEqual(['a1', 'a2', 'a3']);
    expect(accountLists(api)).toBe(2);
    // The child's endpoint answered for a1 and a3: it works, for the batch's judge.
    expect(result.observation.steps.find((s) => s.resource === 'action_history')?.result).toBe('ok');
  });

  it('names the parents that did leave too, and leaves them out of the parent rows though the unit failed', async () => {
    const api = fakeApi({
      accounts: { u1: ['a1', 'a2', 'a3'] },
      notFound: new Set(['a2']),
      gone: new Set(['a3']),
    });
    const result = await loadUser({ identifier: 'u1', steps: STEPS, ...LOAD }, api);
    expect(unit(result, 'action_history')).toMatchObject({ status: 'failed', errorCode: CHILD_NOT_FOUND });
    expect(unit(result, 'action_history').errorMessage).toContain(
      "1 other(s) (_id a3) no longer listed: unlinked during the load (left out of this load's accounts too)",
    );
    // The list is PayLink's newer word: a3 leaves (its committed history leaves the current view
    // with it, lake-views.ts), a2 stays with its committed history.
    expect(unit(result, 'accounts')).toMatchObject({ status: 'ok', rows: 2 });
    expect(ids(result, 'accounts')).toEqual(['a1', 'a2']);
  });

  it('fails the unit as for any failed fetch when the list cannot be fetched again, dropping nothing', async () => {
    const api = fakeApi({
      accounts: { u1: ['a1', 'a2'] },
      gone: new Set(['a2']),
      relistStatus: 503,
    });
    const result = await loadUser({ identifier: 'u1', steps: STEPS, ...LOAD }, api);
    expect(result.failed).toBe(true);
    expect(unit(result, 'action_history')).toMatchObject({
      status: 'failed',
      rows: 0,
      requests: 3,
      errorCode: 'http_503',
      httpStatus: 503,
    });
    expect(unit(result, 'action_history').errorMessage).toMatch(
      /^fetching accounts again to check the 404s of action_history failed: /,
    );
    expect(ids(result, 'action_history')).toEqual([]);
    expect(ids(result, 'accounts')).toEqual(['a1', 'a2']);
  });

  it('fetches the list once per user, whatever the number of 404s and of children asking', async () => {
    const steps = selectResources(resolveCatalog(), ['accounts', 'account', 'action_history']).steps;
    const listed = fakeApi({ accounts: { u1: ['a1', 'a2', 'a3', 'a4'] }, notFound: new Set(['a2', 'a4']) });
    const still = await loadUser({ identifier: 'u1', steps, ...LOAD }, listed);
    expect(accountLists(listed)).toBe(2);
    expect(unit(still, 'account')).toMatchObject({
      status: 'failed',
      errorCode: CHILD_NOT_FOUND,
      requests: 5,
    });
    // The second child learns nothing new: the list fetched for the first is reused.
    expect(unit(still, 'action_history')).toMatchObject({
      status: 'failed',
      errorCode: CHILD_NOT_FOUND,
      requests: 4,
    });

    // Gone: the first child's check leaves them out, so the second never asks for them.
    const left = fakeApi({ accounts: { u1: ['a1', 'a2', 'a3', 'a4'] }, gone: new Set(['a2', 'a4']) });
    const loaded = await loadUser({ identifier: 'u1', steps, ...LOAD }, left);
    expect(accountLists(left)).toBe(2);
    expect(unit(loaded, 'account')).toMatchObject({ status: 'ok', errorCode: 'parent_not_found', rows: 2 });
    expect(unit(loaded, 'action_history')).toMatchObject({
      status: 'ok',
      errorCode: null,
      rows: 4,
      requests: 2,
    });
    expect(ids(loaded, 'accounts')).toEqual(['a1', 'a3']);
  });

  it('checks a grandchild against its own parent list: the parent records of the 404s, fetched again', async () => {
    const steps = GRANDCHILD_STEPS;
    const api = fakeApi({ accounts: { u1: ['a1', 'a2'] } });
    const result = await loadUser({ identifier: 'u1', steps, ...LOAD }, api);
    // h2-a1 and h2-a2 404 while a1's and a2's history, fetched again, still lists them.
    expect(unit(result, 'action_details')).toMatchObject({
      status: 'failed',
      errorCode: CHILD_NOT_FOUND,
      // Four entries, and each account's history once more.
      requests: 6,
    });
    expect(unit(result, 'action_details').errorMessage).toContain(
      'action_history record(s) (_id h2-a1, h2-a2)',
    );
    expect(unit(result, 'action_history')).toMatchObject({ status: 'ok', rows: 4 });
  });
});

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parent-recheck-test-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function batch(users: BatchUser[], api: PayLinkApi, lambda = false): Promise<BatchManifest> {
  return loadBatch(
    {
      ...LOAD,
      batch: 0,
      startedAt: '2026-12-01T00:00:00.000Z',
      users,
      steps: STEPS,
      registry: await readCommittedSchema(store),
      concurrency: 1,
      ...(lambda
        ? {}
        : {
            health: new EndpointHealth(STEPS.map((s) => s.resource)),
            carried: { units: [], failedLate: new Set<string>() },
            lastBatch: true,
          }),
    },
    { api, store, parts: createParquetPartWriterFactory(), clock: () => new Date('2026-12-01T00:00:00Z') },
  );
}

async function units(manifest: BatchManifest): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const file of manifest.files.filter((f) => f.table === 'user_loads'))
    rows.push(...(await readParquet((await store.get(file.stagedKey))!)).rows);
  return rows.filter((r) => r.resource === 'action_history');
}

describe('a unit whose every parent 404s while the list still names them', () => {
  const users = ['u0', 'u1', 'u2'].map((identifier) => ({ identifier }));
  const world: World = { accounts: { u0: ['a0'], u1: ['b1'], u2: ['c1', 'c2'] }, notFound: new Set(['a0']) };

  it('is the user failure child_not_found once the endpoint answered others (a local run)', async () => {
    // u0 first: judged before the endpoint answered anybody, settled once it did.
    const manifest = await batch(users, fakeApi(world));
    expect(manifest.failedUsers).toEqual(['u0']);
    expect(manifest.endpointFindings).toEqual([]);
    const u0 = (await units(manifest)).find((r) => r.user_identifier === 'u0');
    expect(u0).toMatchObject({
      status: 'failed',
      rows: 0n,
      requests: 2n,
      error_code: CHILD_NOT_FOUND,
      http_status: 404n,
    });
  });

  it("is the user's failure with the failed fetch's code when the list cannot be fetched again", async () => {
    const manifest = await batch(
      users,
      fakeApi({ ...world, notFound: new Set(), gone: new Set(['a0']), relistStatus: 503 }),
    );
    expect(manifest.failedUsers).toEqual(['u0']);
    expect((await units(manifest)).find((r) => r.user_identifier === 'u0')).toMatchObject({
      status: 'failed',
      error_code: 'http_503',
      http_status: 503n,
    });
  });

  it('is settled by the commit as child_not_found when another batch had the endpoint working (a Lambda)', async () => {
    const alone = await batch([{ identifier: 'u0' }], fakeApi(world), true);
    expect(alone.failedUsers).toEqual([]);
    expect(alone.deferredUnits?.map((u) => u.outcome.listedParents)).toEqual([
      { resource: 'accounts', field: '_id', keys: ['a0'], endpoint: '/pay-link/action-history', gone: [] },
    ]);
    const working = {
      ...alone,
      batch: 1,
      deferredUnits: [],
      endpointEvidence: { works: ['accounts', 'action_history'], open: [] },
    };
    const settled = settleDeferredUnits([alone, working], []);
    expect(settled.lateFailed).toEqual(['u0']);
    expect(settled.lateFailedByCode).toEqual({ [CHILD_NOT_FOUND]: 1 });
    expect(settled.units.map((u) => [u.identifier, u.outcome.status, u.outcome.errorCode])).toEqual([
      ['u0', 'failed', CHILD_NOT_FOUND],
    ]);
    // No batch saw the endpoint answer: the 404 may be a missing route, the user's http_404 as before.
    const unanswered = settleDeferredUnits([alone], []);
    expect(unanswered.lateFailedByCode).toEqual({ http_404: 1 });
  });

  it('leaves a route missing for everybody to the endpoint judgement, each evidence user costing one more request', async () => {
    const everybody = ['u0', 'u1', 'u2', 'u3'].map((identifier) => ({ identifier }));
    const api = fakeApi({
      accounts: { u0: ['a0'], u1: ['b1', 'b2'], u2: ['c1'], u3: ['d1'] },
      noRoute: true,
    });
    const manifest = await batch(everybody, api);
    expect(manifest.failedUsers).toEqual([]);
    expect(manifest.endpointFindings).toMatchObject([
      { resource: 'action_history', code: 'http_404', evidenceUsers: 3 },
    ]);
    const rows = await units(manifest);
    expect(rows.map((r) => [r.user_identifier, r.status, r.error_code]).sort()).toEqual([
      ['u0', 'endpoint_unavailable', 'http_404'],
      ['u1', 'endpoint_unavailable', 'http_404'],
      ['u2', 'endpoint_unavailable', 'http_404'],
      ['u3', 'endpoint_unavailable', 'http_404'],
    ]);
    // The three evidence users' lists were fetched again (u3's history was not called).
    expect(accountLists(api)).toBe(4 + 3);
  });
});

describe('a unit whose every 404 is a parent the list, fetched again, no longer names', () => {
  const stepOf = (result: UserResult, resource: string) =>
    result.observation.steps.find((s) => s.resource === resource)?.result;

  it('is ok / parent_not_found at once with 0 rows, no endpoint evidence, and the parent left out', async () => {
    const api = fakeApi({ accounts: { u1: ['a1'] }, gone: new Set(['a1']) });
    const result = await loadUser({ identifier: 'u1', steps: STEPS, ...LOAD }, api);
    expect(result.failed).toBe(false);
    const history = unit(result, 'action_history');
    expect(history).toMatchObject({
      status: 'ok',
      rows: 0,
      requests: 2,
      errorCode: 'parent_not_found',
      httpStatus: 404,
    });
    expect(history.endpoint).toBeUndefined();
    expect(history.errorMessage).toContain('all 1 of its accounts record(s) (_id a1)');
    // Explained 404s say nothing of the endpoint: neutral, as a unit that made no request.
    expect(stepOf(result, 'action_history')).toBe('skipped');
    expect(unit(result, 'accounts')).toMatchObject({ status: 'ok', rows: 0 });
    expect(ids(result, 'accounts')).toEqual([]);
  });

  it('is ok for three such users of a batch whose endpoint answered nobody: no finding, nobody failed', async () => {
    const world: World = {
      accounts: { u0: ['a0'], u1: ['b1'], u2: ['c1', 'c2'] },
      gone: new Set(['a0', 'b1', 'c1', 'c2']),
    };
    const three = ['u0', 'u1', 'u2'].map((identifier) => ({ identifier }));
    for (const lambda of [false, true]) {
      const manifest = await batch(three, fakeApi(world), lambda);
      expect(manifest.failedUsers).toEqual([]);
      expect(manifest.endpointFindings).toEqual([]);
      expect(manifest.deferredUnits).toBeUndefined();
      expect(manifest.rowsByTable.accounts ?? 0).toBe(0);
      expect((await units(manifest)).map((r) => [r.user_identifier, r.status, r.error_code, r.rows])).toEqual(
        [
          ['u0', 'ok', 'parent_not_found', 0n],
          ['u1', 'ok', 'parent_not_found', 0n],
          ['u2', 'ok', 'parent_not_found', 0n],
        ],
      );
      // The commit's judgement across batches finds nothing either.
      expect(settleDeferredUnits([manifest], []).findings).toEqual([]);
    }
  });

  it('fails, leaving out only the parents gone, when some 404d parent is still listed: endpoint evidence, the check in its message', async () => {
    const world: World = { accounts: { u1: ['a1', 'a2'] }, gone: new Set(['a1']), notFound: new Set(['a2']) };
    const result = await loadUser({ identifier: 'u1', steps: STEPS, ...LOAD }, fakeApi(world));
    const history = unit(result, 'action_history');
    expect(history).toMatchObject({ status: 'failed', errorCode: 'http_404', httpStatus: 404 });
    expect(history.endpoint).toMatchObject({ resource: 'action_history' });
    expect(history.listedParents).toMatchObject({ keys: ['a2'], gone: ['a1'] });
    expect(history.errorMessage).toContain(
      "accounts, fetched again, still lists 1 of the 404'd record(s) (_id a2), and no longer lists 1 (_id a1: unlinked during the load (left out of this load's accounts too))",
    );
    expect(ids(result, 'accounts')).toEqual(['a2']);
    expect(unit(result, 'accounts')).toMatchObject({ rows: 1 });
    // However the endpoint verdict settles the unit (endpoint_unavailable, or the user's failure),
    // a1 is out of the accounts rows: PayLink no longer lists it.
    const manifest = await batch([{ identifier: 'u1' }], fakeApi(world), true);
    expect(manifest.rowsByTable.accounts).toBe(1);
    expect(manifest.deferredUnits?.map((u) => u.outcome.listedParents?.gone)).toEqual([['a1']]);
  });

  it('fails, keeping every parent, when the list cannot be fetched again', async () => {
    const api = fakeApi({ accounts: { u1: ['a1'] }, gone: new Set(['a1']), relistStatus: 503 });
    const result = await loadUser({ identifier: 'u1', steps: STEPS, ...LOAD }, api);
    expect(unit(result, 'action_history')).toMatchObject({ status: 'failed', errorCode: 'http_503' });
    expect(ids(result, 'accounts')).toEqual(['a1']);
  });

  it('leaves the parent out when a sibling child unit of it failed too', async () => {
    // `account` (by id) finds a1 gone and ends ok; `action_history` fails on a2, still listed.
    const steps = selectResources(resolveCatalog(), ['accounts', 'account', 'action_history']).steps;
    const api = fakeApi({ accounts: { u1: ['a1', 'a2', 'a3'] }, gone: new Set(['a1']) });
    const failing = {
      ...api,
      async openSession(identifier: string) {
        const session = await api.openSession(identifier);
        return {
          async getJson(request: PayLinkRequest) {
            if (request.path === '/pay-link/action-history' && request.query?.accountId === 'a2')
              throw new PayLinkHttpError(request.endpoint, 404, 40400);
            return session.getJson(request);
          },
        };
      },
    };
    const result = await loadUser({ identifier: 'u1', steps, ...LOAD }, failing);
    expect(unit(result, 'account')).toMatchObject({ status: 'ok', errorCode: 'parent_not_found' });
    expect(unit(result, 'account').errorMessage).toContain("(left out of this load's accounts too)");
    expect(unit(result, 'action_history')).toMatchObject({ status: 'failed', errorCode: CHILD_NOT_FOUND });
    // a1 leaves: the history committed for it leaves the current view with it (lake-views.ts);
    // a2 and a3 stay with theirs.
    expect(ids(result, 'accounts')).toEqual(['a2', 'a3']);
    expect(unit(result, 'accounts')).toMatchObject({ rows: 2 });
  });
});
