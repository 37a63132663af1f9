/**
 * Claiming a schema version when S3 applied our create-only write but answered 500: the SDK's
 * retry meets our own object (412). The version is ours (same bytes), so the commit keeps its
 * schema changes; another commit's version (other bytes) is still a lost race.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { claimSchemaVersion } from '#core/lake-schema.ts';
import { schemaCurrentKey } from '#core/layout.ts';
import type { ObjectStore } from '#core/ports.ts';
import { SchemaRegistry } from '#core/schema-registry.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'paylink-claim-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** putIfAbsent applies the write, then reports the key as taken (the retried request's 412). */
function retriedAfterApply(store: ObjectStore): ObjectStore {
  return {
    ...store,
    async putIfAbsent(key, body) {
      await store.putIfAbsent(key, body);
      return false;
    },
  };
}

const registry = (column: string) => {
  const r = SchemaRegistry.empty();
  r.declareTable('accounts', [{ name: column, type: 'text' }]);
  r.setVersion(1);
  return r;
};

describe('claimSchemaVersion', () => {
  it('takes a version its own retried write created', async () => {
    const store = createLocalStore(join(dir, 'own'));
    expect(await claimSchemaVersion(retriedAfterApply(store), registry('id'))).toBe(true);
    expect(await store.get(schemaCurrentKey)).toBeDefined();
  });

  it('loses to another commit that claimed the version first', async () => {
    const store = createLocalStore(join(dir, 'other'));
    expect(await claimSchemaVersion(store, registry('id'))).toBe(true);
    expect(await claimSchemaVersion(store, registry('name'))).toBe(false);
  });
});
