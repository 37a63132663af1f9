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
 *
 * Footers hold columns and types, not which source field each column came from (the registry's
 * `fields`: source path -> column or child table, and which paths are kept as JSON). Those are
 * recovered from whatever registry documents are still readable (`current.json` and the version
 * files, newest first), keeping only mappings whose column or child table the footers confirm.
 * What no readable document maps is reported (`unmappedColumns`, `unmappedTables`): such a column
 * keeps its name and type, and the next load's field that normalizes to its name adopts it (a
 * renamed collision, `account_id_k3x9qa`, cannot be told from its name and may get a new column).
 */

import { committedLoadIds } from './committed-loads.ts';
import { LAKE } from './constants.ts';
import { LakeStateError } from './errors.ts';
import type { JsonReason } from './field-path.ts';
import { claimSchemaVersion, newestSchemaVersion } from './lake-schema.ts';
import { DLT_LOADS_COLUMNS } from './lake-views.ts';
import { loadIdOfDltLoadsKey, parsePartKey, schemaCurrentKey, schemaVersionsPrefix } from './layout.ts';
import type { ObjectStore, PartReader } from './ports.ts';
import { type FieldDef, OVERFLOW_COLUMN, type SchemaDoc, SchemaRegistry } from './schema-registry.ts';
import { readJson } from './store-json.ts';
import type { ColumnDef, ColumnType } from './types.ts';

export interface RepairResult {
  readonly version: number;
  readonly tables: number;
  readonly columns: number;
  /** Committed files whose footers were read. */
  readonly files: number;
  /** Data files of loads that are not committed: not read, invisible to readers. */
  readonly uncommittedFiles: number;
  /** Source path -> column / child table mappings recovered from readable registry documents. */
  readonly fieldsRestored: number;
  /** The registry versions those came from, newest first (empty: none was readable). */
  readonly fieldsFrom: readonly number[];
  /** `table.column` of data columns no readable document maps to a source field. */
  readonly unmappedColumns: readonly string[];
  /** Child tables no readable document maps to the list field they hold. */
  readonly unmappedTables: readonly string[];
}

/** Registry documents read for their `fields`, newest first, at most. */
const MAX_DOCUMENTS_READ = 50;
const VERSION_FILE = /(\d+)\.json$/;
const VARIANT = /__v_(?:text|bigint|double|bool|timestamp)$/;

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

  const tables: Record<string, { columns: ColumnDef[]; fields?: FieldDef[]; overflow?: JsonReason[] }> = {};
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
  const restored = await restoreFields(store, tables);

  const version = (await newestSchemaVersion(store)) + 1;
  const registry = SchemaRegistry.fromJSON({ formatVersion: 1, version, tables });
  if (!(await claimSchemaVersion(store, registry))) {
    throw new LakeStateError(
      `schema version ${version} was written by a commit running at the same time; stop loads and run repair-schema again`,
    );
  }
  return {
    version,
    tables: Object.keys(tables).length,
    columns: columnCount,
    files,
    uncommittedFiles,
    ...restored,
  };
}

/**
 * Fills each rebuilt table's `fields` (and overflow reasons) from the readable registry
 * documents, newest first: a mapping is kept when the footers have its column (or child table)
 * and no newer document mapped that path or name already.
 */
async function restoreFields(
  store: ObjectStore,
  tables: Record<string, { columns: ColumnDef[]; fields?: FieldDef[]; overflow?: JsonReason[] }>,
): Promise<Pick<RepairResult, 'fieldsRestored' | 'fieldsFrom' | 'unmappedColumns' | 'unmappedTables'>> {
  const fieldsFrom: number[] = [];
  const paths = new Map<string, Set<string>>();
  const names = new Map<string, Set<string>>();
  let fieldsRestored = 0;
  for (const doc of await readableDocuments(store)) {
    let used = false;
    for (const [table, entry] of Object.entries(doc.tables)) {
      const rebuilt = tables[table];
      if (rebuilt === undefined) continue;
      const columns = new Set(rebuilt.columns.map((c) => c.name));
      const seenPaths = paths.get(table) ?? new Set<string>();
      const seenNames = names.get(table) ?? new Set<string>();
      paths.set(table, seenPaths);
      names.set(table, seenNames);
      for (const field of entry.fields ?? []) {
        const name = 'column' in field ? field.column : field.table;
        const path = `${'column' in field ? (field.json === undefined ? 'c' : 'j') : 't'}${JSON.stringify(field.path)}`;
        const confirmed = 'column' in field ? columns.has(name) : tables[name] !== undefined;
        if (!confirmed || seenPaths.has(path) || seenNames.has(name)) continue;
        seenPaths.add(path);
        seenNames.add(name);
        rebuilt.fields = [...(rebuilt.fields ?? []), field];
        fieldsRestored++;
        used = true;
      }
      if (entry.overflow !== undefined && columns.has(OVERFLOW_COLUMN))
        rebuilt.overflow = [...new Set([...(rebuilt.overflow ?? []), ...entry.overflow])].sort();
    }
    if (used) fieldsFrom.push(doc.version);
  }

  const unmappedColumns: string[] = [];
  const childTables = new Set<string>();
  for (const { fields } of Object.values(tables))
    for (const field of fields ?? []) if ('table' in field) childTables.add(field.table);
  const unmappedTables: string[] = [];
  for (const [table, { columns, fields }] of Object.entries(tables).sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Built-in tables are written by column name; they have no source fields.
    if (table === LAKE.userLoadsTable || table === LAKE.loadsTable) continue;
    if (table.includes(LAKE.pathSeparator) && !childTables.has(table)) unmappedTables.push(table);
    const mapped = new Set((fields ?? []).flatMap((f) => ('column' in f ? [f.column] : [])));
    for (const { name } of columns) {
      if (mapped.has(name) || isSystemColumn(name) || VARIANT.test(name)) continue;
      unmappedColumns.push(`${table}.${name}`);
    }
  }
  return { fieldsRestored, fieldsFrom, unmappedColumns, unmappedTables };
}

function isSystemColumn(name: string): boolean {
  return name.startsWith('_dlt_') || name === LAKE.userColumn || name === OVERFLOW_COLUMN;
}

/** Registry documents that still parse: `current.json` and the version files, newest first. */
async function readableDocuments(store: ObjectStore): Promise<SchemaDoc[]> {
  const keys = (await store.list(schemaVersionsPrefix)).filter((k) => VERSION_FILE.test(k));
  keys.sort((a, b) => Number(VERSION_FILE.exec(b)![1]) - Number(VERSION_FILE.exec(a)![1]));
  const docs: SchemaDoc[] = [];
  for (const key of [schemaCurrentKey, ...keys]) {
    if (docs.length >= MAX_DOCUMENTS_READ) break;
    try {
      const doc = await readJson<unknown>(store, key);
      if (doc !== undefined) docs.push(SchemaRegistry.fromJSON(doc).toJSON());
    } catch {
      // Damaged: that is why a repair runs. Older documents may still say what it said.
    }
  }
  return docs.sort((a, b) => b.version - a.version);
}
