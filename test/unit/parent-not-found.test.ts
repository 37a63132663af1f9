/**
 * A fan-out child request (`/pay-link/action-history?accountId=<id>`) for a parent record that
 * vanished between the parent's fetch and the child's (an account unlinked mid-load) answers a
 * plain 404. Once the child's endpoint answered anybody in the load, that 404 is the parent's:
 * the unit is `ok` with `parent_not_found` and no rows for that parent, never a failed user. A
 * route that answers 404 for everybody is still the endpoint's (endpoint_unavailable once three
 * users show it) or, with fewer users than that evidence, their failure, as before.
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
import {
  type BatchManifest,
  type BatchUser,
  type CarriedUnits,
  loadBatch,
  settleDeferredUnits,
} from '#core/load-batch.ts';
import { loadUser, type UnitOutcome } from '#core/load-user.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { type AccountsWorld, fakeAccountsApi, GRANDCHILD_STEPS } from '#test/helpers/accounts-fake-api.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';

/** PayLink whose `/pay-link/action-history` answers one entry per account, or 404 "Account not found". */
const fakeApi = (world: AccountsWorld) => fakeAccountsApi({ historyPerAccount: 1, ...world });
type World = AccountsWorld;

const STEPS = selectResources(resolveCatalog(), ['accounts', 'action_history']).steps;

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parent-not-found-test-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One batch as a local run loads it (a shared judge), or alone as a Lambda does. */
async function batch(
  users: BatchUser[],
  api: PayLinkApi,
  run: { health: EndpointHealth; carried: CarriedUnits; batch: number; lastBatch: boolean } | 'lambda',
  steps = STEPS,
): Promise<BatchManifest> {
  return loadBatch(
    {
      loadId: '1764547200.1',
      batch: run === 'lambda' ? 0 : run.batch,
      dt: '2026-12-01',
      startedAt: '2026-12-01T00:00:00.000Z',
      users,
      steps,
      registry: await readCommittedSchema(store),
      concurrency: 1,
      ...(run === 'lambda' ? {} : run),
    },
    { api, store, parts: createParquetPartWriterFactory(), clock: () => new Date('2026-12-01T00:00:00Z') },
  );
}

/** A local run of one batch (the last): the judge sees the whole load. */
const localRun = (users: BatchUser[], api: PayLinkApi, steps = STEPS) =>
  batch(
    users,
    api,
    {
      health: new EndpointHealth(steps.map((s) => s.resource)),
      carried: { units: [], failedLate: new Set() },
      batch: 0,
      lastBatch: true,
    },
    steps,
  );

/** The staged rows of a table, from the batch's parts. */
async function staged(manifest: BatchManifest, table: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const file of manifest.files.filter((f) => f.table === table))
    rows.push(...(await readParquet((await store.get(file.stagedKey))!)).rows);
  return rows;
}

const historyUnit = async (manifest: BatchManifest, identifier: string) =>
  (await staged(manifest, 'user_loads')).find(
    (r) => r.user_identifier === identifier && r.resource === 'action_history',
  );

describe('a fan-out child whose parent vanished mid-load', () => {
  it('loads the other parents and marks the unit ok/parent_not_found when one of several parents 404s', async () => {
    const world: World = { accounts: { u1: ['a1', 'a2', 'a3'] }, gone: new Set(['a2']) };
    const result = await loadUser(
      { identifier: 'u1', steps: STEPS, loadId: '1764547200.1', dt: '2026-12-01' },
      fakeApi(world),
    );
    expect(result.failed).toBe(false);
    expect(result.outcomes.find((o) => o.resource === 'action_history')).toMatchObject({
      status: 'ok',
      rows: 2,
      // One per account, and the account list fetched again: a2 is no longer on it.
      requests: 4,
      errorCode: 'parent_not_found',
      httpStatus: 404,
    });
    const message = result.outcomes.find((o) => o.resource === 'action_history')!.errorMessage!;
    expect(message).toContain('1 of its accounts record(s) (_id a2)');
    expect(
      result.rows.filter((r) => r.table === 'action_history').map((r) => r.row['["_accounts__id"]']),
    ).toEqual(['a1', 'a3']);
    // The account leaves this load's accounts too: its history and itself leave the current state together.
    expect(result.outcomes.find((o) => o.resource === 'accounts')).toMatchObject({ status: 'ok', rows: 2 });
    expect(result.rows.filter((r) => r.table === 'accounts').map((r) => r.row['["_id"]'])).toEqual([
      'a1',
      'a3',
    ]);
    // The endpoint answered: it works, for the batch's judge.
    expect(result.observation.steps.find((s) => s.resource === 'action_history')?.result).toBe('ok');
  });

  it('is ok/parent_not_found with 0 rows when every parent of the user vanished and the endpoint answered other users', async () => {
    // u0's only account is gone: the first user, before the endpoint has answered anybody.
    const world: World = { accounts: { u0: ['a0'], u1: ['b1'], u2: ['c1', 'c2'] }, gone: new Set(['a0']) };
    const users = ['u0', 'u1', 'u2'].map((identifier) => ({ identifier }));
    const manifest = await localRun(users, fakeApi(world));
    expect(manifest.failedUsers).toEqual([]);
    expect(manifest.endpointFindings).toEqual([]);
    expect(await historyUnit(manifest, 'u0')).toMatchObject({
      status: 'ok',
      rows: 0n,
      requests: 2n,
      error_code: 'parent_not_found',
      http_status: 404n,
    });
    expect(String((await historyUnit(manifest, 'u0'))!.error_message)).toContain(
      'all 1 of its accounts record(s) (_id a0)',
    );
    expect((await staged(manifest, 'action_history')).map((r) => r._accounts_id).sort()).toEqual([
      'b1',
      'c1',
      'c2',
    ]);
  });

  it('settles the child of such a unit (a configured grandchild) ok/parent_not_found too, not parent_failed', async () => {
    const steps = GRANDCHILD_STEPS;
    const world: World = { accounts: { u0: ['a0'], u1: ['b1'], u2: ['c1'] }, gone: new Set(['a0']) };
    const users = ['u0', 'u1', 'u2'].map((identifier) => ({ identifier }));
    const manifest = await localRun(users, fakeApi(world), steps);
    expect(manifest.failedUsers).toEqual([]);
    const units = (await staged(manifest, 'user_loads')).filter((r) => r.user_identifier === 'u0');
    expect(units.map((r) => [r.resource, r.status, r.error_code]).sort()).toEqual([
      ['accounts', 'ok', null],
      // Its parent unit loaded no record: nothing to fan out over, nothing asked, nothing failed.
      ['action_details', 'ok', null],
      ['action_history', 'ok', 'parent_not_found'],
    ]);
    expect((await staged(manifest, 'action_details')).map((r) => r._id).sort()).toEqual(['h-b1', 'h-c1']);
  });

  it('is settled at once by a batch judged alone (a Lambda): nothing deferred to the commit', async () => {
    const world: World = { accounts: { u0: ['a0'] }, gone: new Set(['a0']) };
    const alone = await batch([{ identifier: 'u0' }], fakeApi(world), 'lambda');
    expect(alone.failedUsers).toEqual([]);
    expect(alone.deferredUnits).toBeUndefined();
    expect(alone.endpointFindings).toEqual([]);
    const units = (await staged(alone, 'user_loads')).filter((r) => r.resource === 'action_history');
    expect(units.map((r) => [r.user_identifier, r.status, r.error_code])).toEqual([
      ['u0', 'ok', 'parent_not_found'],
    ]);
    expect(settleDeferredUnits([alone], []).lateFailed).toEqual([]);
  });

  it('settles at commit a deferred unit an earlier version staged with its vanished parents', async () => {
    const world: World = { accounts: { u0: ['a0'] }, gone: new Set(['a0']) };
    const alone = await batch([{ identifier: 'u0' }], fakeApi(world), 'lambda');
    const outcome: UnitOutcome = {
      resource: 'action_history',
      status: 'failed',
      rows: 0,
      requests: 2,
      errorCode: 'http_404',
      errorMessage: 'PayLink answered HTTP 404',
      httpStatus: 404,
      endpoint: {
        resource: 'action_history',
        symptom: { code: 'http_404', httpStatus: 404, fix: 'path' as const },
      },
      missingParents: { resource: 'accounts', field: '_id', keys: ['a0'] },
    };
    const staged0 = { ...alone, deferredUnits: [{ identifier: 'u0', outcome }] } as BatchManifest;
    const working = {
      ...alone,
      batch: 1,
      deferredUnits: [],
      endpointEvidence: { works: ['accounts', 'action_history'], open: [] },
    };
    const settled = settleDeferredUnits([staged0, working], []);
    expect(settled.lateFailed).toEqual([]);
    expect(settled.units.map((u) => [u.identifier, u.outcome.status, u.outcome.errorCode])).toEqual([
      ['u0', 'ok', 'parent_not_found'],
    ]);
  });
});

describe('a child route that does not exist still counts against the endpoint', () => {
  it('finds the endpoint unavailable when it 404s for everybody, without calling anybody parent_not_found', async () => {
    const world: World = {
      accounts: { u0: ['a0'], u1: ['b1', 'b2'], u2: ['c1'], u3: ['d1'] },
      gone: new Set(),
      noRoute: true,
    };
    const users = ['u0', 'u1', 'u2', 'u3'].map((identifier) => ({ identifier }));
    const manifest = await localRun(users, fakeApi(world));
    expect(manifest.failedUsers).toEqual([]);
    expect(manifest.endpointFindings).toMatchObject([
      { resource: 'action_history', code: 'http_404', evidenceUsers: 3 },
    ]);
    const units = (await staged(manifest, 'user_loads')).filter((r) => r.resource === 'action_history');
    expect(units.map((r) => [r.user_identifier, r.status]).sort()).toEqual([
      ['u0', 'endpoint_unavailable'],
      ['u1', 'endpoint_unavailable'],
      ['u2', 'endpoint_unavailable'],
      ['u3', 'endpoint_unavailable'],
    ]);
    expect(units.some((r) => r.error_code === 'parent_not_found')).toBe(false);
  });

  it('fails the user as before when the only user of the load gets a 404 for every parent', async () => {
    const world: World = { accounts: { u0: ['a0', 'a1'] }, gone: new Set(), noRoute: true };
    const manifest = await localRun([{ identifier: 'u0' }], fakeApi(world));
    expect(manifest.failedUsers).toEqual(['u0']);
    expect(await historyUnit(manifest, 'u0')).toMatchObject({
      status: 'failed',
      error_code: 'http_404',
      http_status: 404n,
      rows: 0n,
    });
  });

  it('keeps the vanished-parent rule to plain 404s: an HTML 404 page fails the unit as before', async () => {
    const api = fakeApi({ accounts: { u1: ['a1', 'a2'] }, gone: new Set() });
    const html: PayLinkApi = {
      ...api,
      async openSession(identifier) {
        const session = await api.openSession(identifier);
        return {
          async getJson(request) {
            if (request.query?.accountId === 'a2') {
              const page = new PayLinkHttpError(request.endpoint, 404);
              page.html = true;
              throw page;
            }
            return session.getJson(request);
          },
        };
      },
    };
    const result = await loadUser(
      { identifier: 'u1', steps: STEPS, loadId: '1764547200.1', dt: '2026-12-01' },
      html,
    );
    const unit: UnitOutcome | undefined = result.outcomes.find((o) => o.resource === 'action_history');
    expect(unit).toMatchObject({ status: 'failed', errorCode: 'http_404', rows: 0 });
    expect(unit?.missingParents).toBeUndefined();
  });
});
