/**
 * The end-to-end harness: runs `paylink-loader` commands in-process through `main(argv, io)`
 * with captured stdout/stderr and an explicit environment, writes users and config files into
 * throwaway folders, and reads a resulting lake back (DuckDB views, raw files, Parquet schemas).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { Writable } from 'node:stream';
import { parquetMetadata, parquetSchema } from 'hyparquet';
import { type LakeQuery, openLakeQuery } from '#cli/duckdb-lake.ts';
import type { Io } from '#cli/io.ts';
import { changedScheduleOf as changedScheduleOfCatalog } from '#cli/load-command.ts';
import { main } from '#cli/main.ts';
import { resolveCatalog } from '#core/config.ts';
import { readParquet } from './read-parquet.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** A text sink standing in for process.stdout / process.stderr. */
class TextSink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    done();
  }
}

export interface CapturedIo {
  readonly io: Io;
  stdout(): string;
  stderr(): string;
}

export function captureIo(env: Env = {}, options: { cwd?: string; now?: () => Date } = {}): CapturedIo {
  const out = new TextSink();
  const err = new TextSink();
  return {
    io: {
      stdout: out,
      // Only write() is used; isTTY stays undefined, so progress prints plain lines.
      stderr: err as unknown as NodeJS.WriteStream,
      env,
      now: options.now ?? (() => new Date()),
      cwd: options.cwd ?? tmpdir(),
    },
    stdout: () => out.text,
    stderr: () => err.text,
  };
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one `paylink-loader` command in-process (in `cwd`, default the system's temporary folder). */
export async function runCli(
  argv: readonly string[],
  env: Env = {},
  options: { cwd?: string } = {},
): Promise<CliRun> {
  const captured = captureIo(env, options);
  const code = await main(argv, captured.io);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

/** The variables the load command reads credentials from. */
export function credentialsEnv(apiKey: string, apiSecret: string): Env {
  return { PAYLINK_API_KEY: apiKey, PAYLINK_API_SECRET: apiSecret };
}

/**
 * An HTTP policy for tests: short timeouts and backoff so faults cost milliseconds, and enough
 * attempts that a simulator capped at `maxConsecutiveFaults: 2` always gets through.
 */
export const FAST_HTTP = {
  timeoutMs: 1_000,
  attempts: 8,
  backoffBaseMs: 5,
  backoffMaxMs: 20,
  retryAfterMaxMs: 50,
  requestBudgetMs: 30_000,
} as const;

export interface LoadArgs {
  readonly users: string;
  readonly dest: string;
  readonly baseUrl: string;
  readonly loadId?: string;
  readonly config?: string;
  readonly concurrency?: number;
  /** Default 10 000 req/s: the simulator is on loopback. */
  readonly rateLimit?: number;
  readonly batchSize?: number;
  readonly resources?: readonly string[];
  readonly secretId?: string;
  /** A --task-ids file (JSON lines). */
  readonly taskIds?: string;
  readonly json?: boolean;
}

export function loadArgv(a: LoadArgs): string[] {
  const argv = ['load', '--users', a.users, '--dest', a.dest, '--base-url', a.baseUrl, '--quiet'];
  argv.push('--rate-limit', String(a.rateLimit ?? 10_000));
  argv.push('--concurrency', String(a.concurrency ?? 8));
  if (a.batchSize !== undefined) argv.push('--batch-size', String(a.batchSize));
  if (a.loadId !== undefined) argv.push('--load-id', a.loadId);
  if (a.config !== undefined) argv.push('--config', a.config);
  if (a.resources !== undefined) argv.push('--resources', a.resources.join(','));
  if (a.secretId !== undefined) argv.push('--secret-id', a.secretId);
  if (a.taskIds !== undefined) argv.push('--task-ids', a.taskIds);
  if (a.json) argv.push('--json');
  return argv;
}

export interface ChangedLoadArgs {
  readonly dest: string;
  readonly baseUrl: string;
  readonly resources: readonly string[];
  readonly loadId?: string;
}

/**
 * The changed schedule `load --users changed --resources <resources>` advances (with the
 * built-in catalog): `local` for the command's own set, `local-resources-<hex>` for another.
 */
export function changedScheduleOf(resources: readonly string[]): string {
  return changedScheduleOfCatalog(resolveCatalog(), resources);
}

/** `load --users changed` (the users of the webhook events) of `resources` into `dest`, then `more`. */
export function changedLoadArgv(a: ChangedLoadArgs, more: readonly string[] = []): string[] {
  return usersLoadArgv({ ...a, users: 'changed' }, more);
}

export interface UsersLoadArgs extends ChangedLoadArgs {
  /** What `--users` is given: a file, `changed`, ... */
  readonly users: string;
}

/**
 * `load --users <users>` of `resources` into `dest`, then `more`: only the flags named, the
 * command's own defaults for the rest (loadArgv sets rate, concurrency and --quiet).
 */
export function usersLoadArgv(a: UsersLoadArgs, more: readonly string[] = []): string[] {
  const argv = ['load', '--users', a.users, '--dest', a.dest, '--base-url', a.baseUrl];
  argv.push('--resources', a.resources.join(','));
  if (a.loadId !== undefined) argv.push('--load-id', a.loadId);
  return [...argv, ...more];
}

export function runLoad(args: LoadArgs, env: Env): Promise<CliRun> {
  return runCli(loadArgv(args), env);
}

/** A throwaway folder; `dispose()` removes it with everything in it. */
export class Scratch {
  private constructor(readonly dir: string) {}

  static async create(label: string): Promise<Scratch> {
    return new Scratch(await mkdtemp(join(tmpdir(), `paylink-${label}-`)));
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** A users file, one identifier per line. */
  async users(name: string, identifiers: readonly string[]): Promise<string> {
    const path = this.path(name);
    await writeFile(path, `${identifiers.join('\n')}\n`, 'utf8');
    return path;
  }

  async json(name: string, value: unknown): Promise<string> {
    const path = this.path(name);
    await writeFile(path, JSON.stringify(value), 'utf8');
    return path;
  }

  async text(name: string, content: string): Promise<string> {
    const path = this.path(name);
    await writeFile(path, content, 'utf8');
    return path;
  }

  dispose(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true });
  }
}

/** Opens DuckDB over a local lake, runs `fn`, closes it. */
export async function withLake<T>(dir: string, fn: (lake: LakeQuery) => Promise<T>): Promise<T> {
  const lake = await openLakeQuery(dir);
  try {
    return await fn(lake);
  } finally {
    lake.close();
  }
}

/** Each committed webhook event's load id and `data.seq` (receiveNumberedEvent's number), by seq. */
export function committedEventSeqs(dir: string): Promise<[string, number][]> {
  return withLake(dir, async (lake) => {
    const { rows } = await lake.query(
      'SELECT _dlt_load_id, data__seq FROM webhook_events ORDER BY data__seq',
    );
    return rows.map(([load, seq]): [string, number] => [String(load), Number(seq)]);
  });
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Rows as objects (timestamps as ISO strings, BIGINT as numbers). */
export async function queryObjects(lake: LakeQuery, sql: string): Promise<Record<string, unknown>[]> {
  const { columns, rows } = await lake.query(sql);
  return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
}

/** Rows per table view of the lake. */
export async function tableCounts(lake: LakeQuery): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of lake.tables()) {
    const { rows } = await lake.query(`SELECT count(*) FROM ${quote(table)}`);
    counts[table] = Number(rows[0]?.[0]);
  }
  return counts;
}

/** Every `_dlt_id` of every table, sorted (duplicates kept, so a duplicated row shows). */
export async function idsByTable(lake: LakeQuery): Promise<Record<string, string[]>> {
  const ids: Record<string, string[]> = {};
  for (const table of lake.tables()) {
    const { rows } = await lake.query(`SELECT _dlt_id FROM ${quote(table)} ORDER BY _dlt_id`);
    ids[table] = rows.map((r) => String(r[0]));
  }
  return ids;
}

/** Column name -> DuckDB type of a table view. */
export async function columnTypes(lake: LakeQuery, table: string): Promise<Record<string, string>> {
  const { rows } = await lake.query(`DESCRIBE ${quote(table)}`);
  return Object.fromEntries(rows.map((r) => [String(r[0]), String(r[1])]));
}

/** Every file under `dir`, as `/`-separated paths relative to it, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    },
  );
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/** Every file under `dir` with its bytes. */
export async function readAllFiles(dir: string): Promise<{ path: string; bytes: Buffer }[]> {
  const files = await listFiles(dir);
  return Promise.all(files.map(async (path) => ({ path, bytes: await readFile(join(dir, path)) })));
}

/**
 * Files under `dir` holding any of `needles`, as raw bytes or (Parquet pages are compressed) in
 * their decoded values: `path: needle` for each hit.
 */
export async function filesContaining(dir: string, needles: readonly string[]): Promise<string[]> {
  const hits: string[] = [];
  for (const { path, bytes } of await readAllFiles(dir)) {
    const decoded = path.endsWith('.parquet')
      ? JSON.stringify((await readParquet(bytes)).rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v))
      : '';
    for (const needle of needles) {
      if (bytes.includes(Buffer.from(needle, 'utf8')) || decoded.includes(needle))
        hits.push(`${path}: ${needle}`);
    }
  }
  return hits;
}

export interface ParquetColumnType {
  readonly name: string;
  /** `BYTE_ARRAY/UTF8`, `INT64/-`, `INT64/TIMESTAMP_MILLIS`, `DOUBLE/-`, `BOOLEAN/-`. */
  readonly type: string;
}

/** The top-level columns of a Parquet file and their physical/converted types, from its footer. */
export function parquetColumns(bytes: Uint8Array): ParquetColumnType[] {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return parquetSchema(parquetMetadata(file)).children.map(({ element }) => ({
    name: element.name,
    type: `${element.type ?? '?'}/${element.converted_type ?? '-'}`,
  }));
}

/** `<table>/dt=YYYY-MM-DD/<file>.parquet` -> table; undefined for anything else. */
export function tableOfPart(path: string): string | undefined {
  const m = /^([^_/][^/]*)\/dt=\d{4}-\d{2}-\d{2}\/[^/]+\.parquet$/.exec(path);
  return m?.[1];
}

/**
 * Per table, per column, every Parquet type seen across the lake's part files: a healthy lake
 * has exactly one type per column.
 */
export async function parquetTypesByColumn(dir: string): Promise<Map<string, Map<string, Set<string>>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const { path, bytes } of await readAllFiles(dir)) {
    const table = tableOfPart(path);
    if (table === undefined) continue;
    const columns = out.get(table) ?? new Map<string, Set<string>>();
    out.set(table, columns);
    for (const { name, type } of parquetColumns(bytes)) {
      const types = columns.get(name) ?? new Set<string>();
      types.add(type);
      columns.set(name, types);
    }
  }
  return out;
}

/**
 * Sets process.env variables (the AWS SDK reads its endpoint and credentials there, not from
 * Io.env) and returns a function that puts the previous values back.
 */
export function withProcessEnv(values: Env): () => void {
  const previous = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  const apply = (settings: Env) => {
    for (const [name, value] of Object.entries(settings)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(values);
  return () => apply(previous);
}

/** What must not change between two loads of the same data: rows, ids and parent links per table. */
export interface LakeFingerprint {
  readonly counts: Record<string, number>;
  readonly ids: Record<string, string[]>;
  /** Sorted `_dlt_parent_id`s of child tables (a row re-attached elsewhere shows here). */
  readonly parents: Record<string, string[]>;
}

export async function lakeFingerprint(dir: string): Promise<LakeFingerprint> {
  return withLake(dir, async (lake) => {
    const parents: Record<string, string[]> = {};
    for (const table of lake.tables().filter((t) => t.includes('__'))) {
      const { rows } = await lake.query(`SELECT _dlt_parent_id FROM ${quote(table)} ORDER BY 1`);
      parents[table] = rows.map((r) => String(r[0]));
    }
    return { counts: await tableCounts(lake), ids: await idsByTable(lake), parents };
  });
}
