/** JSON documents in the lake (plans, manifests, markers, the schema registry). */
import { LakeStateError } from './errors.ts';
import type { ObjectStore } from './ports.ts';

export async function readJson<T>(store: ObjectStore, key: string): Promise<T | undefined> {
  const bytes = await store.get(key);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (error) {
    throw new LakeStateError(`lake ${key}: not valid JSON (was it edited by hand?)`, error);
  }
}

export function writeJson(store: ObjectStore, key: string, value: unknown): Promise<void> {
  return store.put(key, `${JSON.stringify(value, null, 2)}\n`);
}
