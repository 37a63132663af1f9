/**
 * The committed schema registry in the lake: one immutable file per version
 * (`_schema/versions/<n>.json`) plus `_schema/current.json`, a copy of the latest for people
 * and tools. The highest version file is the truth: commits claim a version with a create-only
 * write, so two commits running at once can never both write version n+1, and a slow write of
 * `current.json` cannot roll the registry back.
 */
import { schemaCurrentKey, schemaVersionKey, schemaVersionsPrefix } from './layout.ts';
import type { ObjectStore } from './ports.ts';
import { SchemaRegistry } from './schema-registry.ts';
import { readJson, writeJson } from './store-json.ts';

export async function readCommittedSchema(store: ObjectStore): Promise<SchemaRegistry> {
  const versions = (await store.list(schemaVersionsPrefix)).filter((k) => k.endsWith('.json'));
  const latest = versions.at(-1);
  const doc = await readJson<unknown>(store, latest ?? schemaCurrentKey);
  return doc === undefined ? SchemaRegistry.empty() : SchemaRegistry.fromJSON(doc);
}

/**
 * Writes the registry as its version if no other commit has claimed that version; false when
 * one has (re-read, merge again, retry).
 */
export async function claimSchemaVersion(store: ObjectStore, registry: SchemaRegistry): Promise<boolean> {
  const doc = registry.toJSON();
  const body = `${JSON.stringify(doc, null, 2)}\n`;
  if (!(await store.putIfAbsent(schemaVersionKey(doc.version), body))) return false;
  await writeJson(store, schemaCurrentKey, doc);
  return true;
}
