/**
 * The committed schema registry in the lake: one immutable file per version
 * (`_schema/versions/<n>.json`) plus `_schema/current.json`, a copy of the latest for people
 * and tools. The highest version file is the truth: commits claim a version with a create-only
 * write, so two commits running at once can never both write version n+1, and a slow write of
 * `current.json` cannot roll the registry back.
 *
 * The registry is what keeps one Parquet type per column across every file. Losing it and
 * re-inferring types from new data would give a column a second type, so it is checked before
 * anything is written: a lake with committed loads and no registry, or a registry whose newest
 * version file is gone, stops the load with the repair command (`repair-schema`).
 */
import { createHash } from 'node:crypto';
import { committedLoadIds } from './committed-loads.ts';
import { LakeStateError } from './errors.ts';
import { schemaCurrentKey, schemaVersionKey, schemaVersionsPrefix } from './layout.ts';
import type { ObjectStore } from './ports.ts';
import { SchemaRegistry } from './schema-registry.ts';
import { readJson, writeJson } from './store-json.ts';

/** The command that rebuilds the registry from the committed Parquet footers. */
export function repairHint(store: ObjectStore): string {
  return `rebuild it from the committed Parquet files with: paylink-loader repair-schema --dest ${store.description}`;
}

const VERSION_KEY = /(\d+)\.json$/;

/**
 * The newest committed registry, checked for damage. An empty registry only for a lake with no
 * committed load. Throws LakeStateError (not retryable) naming the damage and the repair command.
 */
export async function readCommittedSchema(store: ObjectStore): Promise<SchemaRegistry> {
  const versions = (await store.list(schemaVersionsPrefix)).filter((k) => VERSION_KEY.test(k));
  const latest = versions.at(-1);
  if (latest === undefined) {
    if ((await store.get(schemaCurrentKey)) !== undefined) {
      throw new LakeStateError(
        `the schema registry ${store.description}/_schema is damaged: current.json exists but no ` +
          `version file does. ${capitalize(repairHint(store))}`,
      );
    }
    const committed = (await committedLoadIds(store)).size;
    if (committed > 0) {
      throw new LakeStateError(
        `the schema registry ${store.description}/_schema is missing or has no version files, but the lake ` +
          `has ${committed} committed load(s); loading now could give a column a second Parquet type. ` +
          `${capitalize(repairHint(store))}`,
      );
    }
    return SchemaRegistry.empty();
  }
  const registry = SchemaRegistry.fromJSON(await readVersion(store, latest));
  const current = await readJson<{ version?: unknown }>(store, schemaCurrentKey).catch(() => undefined);
  if (typeof current?.version === 'number' && current.version > registry.version) {
    throw new LakeStateError(
      `the schema registry ${store.description}/_schema is damaged: current.json is at version ` +
        `${current.version} but the newest version file is ${registry.version}. ${capitalize(repairHint(store))}`,
    );
  }
  return registry;
}

async function readVersion(store: ObjectStore, key: string): Promise<unknown> {
  try {
    const doc = await readJson<unknown>(store, key);
    if (doc === undefined) throw new LakeStateError(`lake ${key}: listed but missing`);
    return doc;
  } catch (error) {
    if (!(error instanceof LakeStateError)) throw error;
    throw new LakeStateError(
      `the schema registry's newest version ${store.description}/${key} is unreadable (${error.message}). ` +
        capitalize(repairHint(store)),
      error,
    );
  }
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * Writes the registry as its version if no other commit has claimed that version; false when
 * one has (re-read, merge again, retry).
 */
export async function claimSchemaVersion(store: ObjectStore, registry: SchemaRegistry): Promise<boolean> {
  const doc = registry.toJSON();
  const body = versionBody(doc);
  if (!(await store.putIfAbsent(schemaVersionKey(doc.version), body))) {
    // Refused, but maybe by our own write: S3 applied it, answered 500, and the SDK's retry met
    // the object. The same bytes mean the same registry: the version is ours either way.
    const existing = await store.get(schemaVersionKey(doc.version));
    if (existing === undefined || new TextDecoder().decode(existing) !== body) return false;
  }
  await writeJson(store, schemaCurrentKey, doc);
  return true;
}

function versionBody(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * One claim of a schema version, as a commit records it before the claim (commit.ts): the
 * version and a digest of the exact bytes the claim writes. The claim was that commit's when the
 * version file holds those bytes (`heldClaim`), whatever happened to the commit after writing it.
 */
export interface SchemaClaim {
  readonly version: number;
  readonly sha256: string;
}

/** The claim `claimSchemaVersion(store, registry)` would make. */
export function schemaClaimOf(registry: SchemaRegistry): SchemaClaim {
  const doc = registry.toJSON();
  return { version: doc.version, sha256: digest(versionBody(doc)) };
}

/** Whether `claim` went through: its version file exists and holds the bytes it would have written. */
export async function heldClaim(store: ObjectStore, claim: SchemaClaim): Promise<boolean> {
  if (!Number.isSafeInteger(claim.version) || claim.version < 1) return false;
  const bytes = await store.get(schemaVersionKey(claim.version));
  return bytes !== undefined && digest(bytes) === claim.sha256;
}

const digest = (body: string | Uint8Array) => createHash('sha256').update(body).digest('hex');

/** The newest version number present (files or current.json), 0 for none: where a repair writes after. */
export async function newestSchemaVersion(store: ObjectStore): Promise<number> {
  let newest = 0;
  for (const key of await store.list(schemaVersionsPrefix)) {
    const m = VERSION_KEY.exec(key);
    if (m) newest = Math.max(newest, Number(m[1]));
  }
  const current = await readJson<{ version?: unknown }>(store, schemaCurrentKey).catch(() => undefined);
  if (typeof current?.version === 'number' && Number.isInteger(current.version))
    newest = Math.max(newest, current.version);
  return newest;
}
