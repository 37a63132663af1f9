/**
 * A user registry put straight into a lake, as a loader of another version left it: tests that
 * start from registered task ids (ids PayLink no longer knows among them) seed the lake so.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { identifierShard } from '#core/plan.ts';
import { REGISTRY, type RegisteredUser, registryShardKey } from '#core/user-registry.ts';

export interface RegistrySeed {
  /** 1: as written before task retirement (no misses, nothing retired); 2: as written since. */
  readonly formatVersion: 1 | 2;
  /** The day (`YYYY-MM-DD`) every user was first seen and last named by an event, at 00:00 UTC. */
  readonly day: string;
}

/** The registry's shard objects (lake key -> JSON text) holding each user with its task ids. */
export function registryShards(
  users: Iterable<readonly [identifier: string, taskIds: readonly string[]]>,
  seed: RegistrySeed,
): Map<string, string> {
  const shards = new Map<number, Record<string, RegisteredUser>>();
  for (const [identifier, taskIds] of users) {
    const shard = identifierShard(identifier, REGISTRY.shards);
    shards.set(shard, {
      ...shards.get(shard),
      [identifier]: {
        taskIds,
        firstSeen: `${seed.day}T00:00:00.000Z`,
        lastEventTime: `${seed.day}T00:00:00Z`,
      },
    });
  }
  return new Map(
    [...shards].map(([shard, entries]) => [
      registryShardKey(shard),
      JSON.stringify({ formatVersion: seed.formatVersion, users: entries }),
    ]),
  );
}

/** registryShards written into the local lake `lakeDir`. */
export async function writeRegistryShards(
  lakeDir: string,
  users: Iterable<readonly [identifier: string, taskIds: readonly string[]]>,
  seed: RegistrySeed,
): Promise<void> {
  await mkdir(join(lakeDir, REGISTRY.prefix), { recursive: true });
  for (const [key, text] of registryShards(users, seed)) await writeFile(join(lakeDir, key), text);
}
