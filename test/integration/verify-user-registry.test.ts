/**
 * `verify` reads the user registry (`_state/users/`) as every load does: a shard a hand edit
 * broke (README, "Removing a user or task id") stops every load that reads it, so verify names
 * it rather than calling the lake clean, and never removes it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { identifierShard } from '#core/plan.ts';
import type { ObjectStore } from '#core/ports.ts';
import { learnUsers, REGISTRY, registryShardKey } from '#core/user-registry.ts';
import { verifyLake } from '#core/verify.ts';

let dir: string;
let store: ObjectStore;
const now = new Date('2026-12-01T10:00:00.000Z');
const verify = () => verifyLake({ store, reader: createParquetPartReader(), clock: () => now });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verify-registry-'));
  store = createLocalStore(dir);
  await learnUsers(store, [{ identifier: 'user-1', taskId: 't-1', eventTime: now.toISOString() }], now);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('verify and the user registry', () => {
  it('is clean with a readable registry, and names a shard a hand edit broke, fixable by hand only', async () => {
    expect((await verify()).findings.filter((f) => f.kind === 'user_registry')).toEqual([]);
    const key = registryShardKey(identifierShard('user-1', REGISTRY.shards));
    const file = join(dir, key);
    // A stray comma, as a hand edit leaves it.
    await writeFile(file, (await readFile(file, 'utf8')).replace('"taskIds": [', '"taskIds": [,'));
    const findings = (await verify()).findings.filter((f) => f.kind === 'user_registry');
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ keys: [], fixable: false });
    expect(findings[0]!.detail).toContain(`lake ${key}: not valid JSON (was it edited by hand?)`);
    expect(findings[0]!.detail).toContain('every load that reads');
  });

  it('names a shard of a format this loader does not read', async () => {
    const key = registryShardKey(3);
    await store.put(key, JSON.stringify({ formatVersion: 99, users: {} }));
    const findings = (await verify()).findings.filter((f) => f.kind === 'user_registry');
    expect(findings.map((f) => f.detail)).toEqual([
      expect.stringContaining(`lake ${key}: registry formatVersion 99 is not one this loader reads`),
    ]);
  });
});
