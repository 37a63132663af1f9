/**
 * Which loads are committed: those with a `_dlt_loads` row (the commit point, commit.ts), or,
 * for lakes written before `_dlt_loads` existed, those with a load report. One definition for
 * the registry checks, `status`, `repair-schema` and `verify`.
 */
import { dltLoadsPrefix, loadIdOfDltLoadsKey, loadsPrefix } from './layout.ts';
import type { ObjectStore } from './ports.ts';
import { readJson } from './store-json.ts';

export async function committedLoadIds(store: ObjectStore): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const key of await store.list(dltLoadsPrefix)) {
    const id = loadIdOfDltLoadsKey(key);
    if (id !== undefined) ids.add(id);
  }
  if (ids.size > 0) return ids;
  for (const key of await store.list(loadsPrefix)) {
    if (!key.endsWith('.json')) continue;
    const marker = await readJson<{ loadId?: unknown }>(store, key).catch(() => undefined);
    if (typeof marker?.loadId === 'string') ids.add(marker.loadId);
  }
  return ids;
}
