/**
 * A unit of zero requests (a user with no task id, a child with no parent record to fan out
 * over) says nothing about its endpoint, in a batch that judges alone (a Lambda, settled at
 * commit) as in a local run: it once counted as the endpoint working, which turned three users'
 * 404s into stale ids or their own failures, and hid a missing route.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { PayLinkHttpError } from '#core/errors.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { type BatchUser, loadBatch, settleDeferredUnits } from '#core/load-batch.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';

/** PayLink with `accounts` per user from a table; `/task/...` and `/pay-link/accounts/{id}` all 404. */
function fakeApi(accounts: (identifier: string) => number): PayLinkApi {
  let requests = 0;
  return {
    async openSession(identifier) {
      requests++;
      return {
        async getJson(request) {
          requests++;
          if (request.path === '/pay-link/accounts')
            return {
              data: Array.from({ length: accounts(identifier) }, (_, n) => ({ _id: `${identifier}-a${n}` })),
            };
          throw new PayLinkHttpError(request.endpoint, 404, 40400);
        },
      };
    },
    stats: () => ({ requests, retries: 0 }),
  };
}

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'no-request-test-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lambdaBatch(resources: string[], users: BatchUser[], api: PayLinkApi) {
  return loadBatch(
    {
      loadId: '1764547200.1',
      batch: 0,
      dt: '2026-12-01',
      startedAt: '2026-12-01T00:00:00.000Z',
      users,
      steps: selectResources(resolveCatalog(), resources).steps,
      registry: await readCommittedSchema(store),
      concurrency: 1,
    },
    { api, store, parts: createParquetPartWriterFactory(), clock: () => new Date('2026-12-01T00:00:00Z') },
  );
}

describe('a unit that made no request is neutral for its endpoint', () => {
  it('a user with no task id does not make the task endpoint work (batch judged alone, settled at commit)', async () => {
    const users = [
      ...[0, 1, 2].map((n) => ({ identifier: `u${n}`, taskIds: [`bogus-${n}`] })),
      { identifier: 'u3' },
    ];
    const manifest = await lambdaBatch(
      ['accounts', 'tasks'],
      users,
      fakeApi(() => 1),
    );
    expect(manifest.endpointEvidence?.works).toEqual(['accounts']);
    const settled = settleDeferredUnits([manifest], manifest.endpointFindings);
    expect(settled.findings).toEqual([
      expect.objectContaining({ resource: 'tasks', code: 'http_404', evidenceUsers: 3 }),
    ]);
    expect(settled.units.map((u) => [u.identifier, u.outcome.status])).toEqual([
      ['u0', 'endpoint_unavailable'],
      ['u1', 'endpoint_unavailable'],
      ['u2', 'endpoint_unavailable'],
    ]);
    expect(settled.lateFailed).toEqual([]);
  });

  it('a user with no account does not make the per-account endpoint work', async () => {
    // The user with no account comes first: before, its unit of no request settled the verdict as working.
    const users = ['none', 'u0', 'u1', 'u2'].map((identifier) => ({ identifier }));
    const manifest = await lambdaBatch(
      ['accounts', 'account'],
      users,
      fakeApi((identifier) => (identifier === 'none' ? 0 : 1)),
    );
    expect(manifest.endpointEvidence?.works ?? []).not.toContain('account');
    expect(manifest.endpointFindings).toEqual([
      expect.objectContaining({ resource: 'account', code: 'http_404', evidenceUsers: 3 }),
    ]);
    expect(manifest.failedUsers).toEqual([]);
  });
});
