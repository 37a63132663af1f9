/** The committed schema registry in the lake: `_schema/current.json` plus one file per version. */
import { schemaCurrentKey, schemaVersionKey } from './layout.ts';
import type { ObjectStore } from './ports.ts';
import { SchemaRegistry } from './schema-registry.ts';
import { readJson, writeJson } from './store-json.ts';

export async function readCommittedSchema(store: ObjectStore): Promise<SchemaRegistry> {
  const doc = await readJson<unknown>(store, schemaCurrentKey);
  return doc === undefined ? SchemaRegistry.empty() : SchemaRegistry.fromJSON(doc);
}

/** Writes the version file first, then `current`: a reader of `current` always finds its version. */
export async function writeCommittedSchema(store: ObjectStore, registry: SchemaRegistry): Promise<void> {
  const doc = registry.toJSON();
  await writeJson(store, schemaVersionKey(doc.version), doc);
  await writeJson(store, schemaCurrentKey, doc);
}
