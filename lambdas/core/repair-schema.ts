/**
 * Rebuilds the schema registry from what the lake actually holds: the footers of the Parquet
 * files of committed loads. The files are the ground truth readers see; the registry is only
 * their index, so a registry deleted or damaged by hand can be recovered without guessing.
 *
 * Files of loads that are not committed (no `_dlt_loads` row) are ignored: no reader sees
 * them, and a re-run or a new load replaces them under the rebuilt registry.
 *
 * The rebuilt registry is claimed as a new version (after every version present, so no reader
 * or concurrent commit can mistake it for an older one) and copied to `current.json`.
 */

import { committedLoadIds } from './committed-loads.ts';
import { LAKE } from './constants.ts';
import { LakeStateError } from './errors.ts';
import { claimSchemaVersion, newestSchemaVersion } from './lake-schema.ts';
import { DLT_LOADS_COLUMNS } from './lake-views.ts';
import { loadIdOfDltLoadsKey, parsePartKey } from './layout.ts';
import type { ObjectStore, PartReader } from './ports.ts';
import { SchemaRegistry } from './schema-registry.ts';
import type { ColumnDef, ColumnType } from './types.ts';

export interface RepairResult {
  readonly version: number;
  readonly tables: number;
  readonly columns: number;
  /** Committed files whose footers were read. */
  readonly files: number;
  /** Data files of loads that are not committed: not read, invisible to readers. */
  readonly uncommittedFiles: number;
}

/** The most files named in an error about one column. */
const EXAMPLE_FILES = 3;

export async function rebuildSchemaFromFooters(
  store: ObjectStore,
  reader: PartReader,
): Promise<RepairResult> {
  const committed = await committedLoadIds(store);
  const filesByTable = new Map<string, string[]>();
  let uncommittedFiles = 0;
  for (const key of await store.list('')) {
    const part = parsePartKey(key);
    if (part !== undefined) {
      if (!committed.has(part.loadId)) {
        uncommittedFiles++;
        continue;
      }
      const files = filesByTable.get(part.table) ?? [];
      files.push(key);
      filesByTable.set(part.table, files);
    } else if (loadIdOfDltLoadsKey(key) !== undefined) {
      const files = filesByTable.get(LAKE.loadsTable) ?? [];
      files.push(key);
      filesByTable.set(LAKE.loadsTable, files);
    }
  }

  const tables: Record<string, { columns: ColumnDef[] }> = {};
  let files = 0;
  let columnCount = 0;
  for (const table of [...filesByTable.keys()].sort()) {
    const seen = new Map<string, { type: ColumnType; file: string }>();
    const columns: ColumnDef[] = [];
    const problems: string[] = [];
    for (const file of filesByTable.get(table)!) {
      files++;
      for (const { name, type } of await reader.readColumns(store, file)) {
        if (type === undefined) {
          problems.push(`column ${name} has a Parquet type the loader never writes (${file})`);
          continue;
        }
        const first = seen.get(name);
        if (first === undefined) {
          seen.set(name, { type, file });
          columns.push({ name, type });
        } else if (first.type !== type) {
          problems.push(`column ${name} is ${first.type} in ${first.file} but ${type} in ${file}`);
        }
      }
    }
    if (problems.length > 0) {
      throw new LakeStateError(
        `cannot rebuild the schema of table ${table}: ${problems.slice(0, EXAMPLE_FILES).join('; ')}` +
          `${problems.length > EXAMPLE_FILES ? ` (and ${problems.length - EXAMPLE_FILES} more)` : ''}. ` +
          'Move the files of one type out of the table folder (or delete their load) and run repair-schema again',
      );
    }
    tables[table] = { columns };
    columnCount += columns.length;
  }
  // A lake whose loads all committed nothing still gets its built-in table.
  tables[LAKE.loadsTable] ??= { columns: [...DLT_LOADS_COLUMNS] };

  const version = (await newestSchemaVersion(store)) + 1;
  const registry = SchemaRegistry.fromJSON({ formatVersion: 1, version, tables });
  if (!(await claimSchemaVersion(store, registry))) {
    throw new LakeStateError(
      `schema version ${version} was written by a commit running at the same time; stop loads and run repair-schema again`,
    );
  }
  return { version, tables: Object.keys(tables).length, columns: columnCount, files, uncommittedFiles };
}
