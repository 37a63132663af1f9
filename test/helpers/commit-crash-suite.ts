/**
 * A load killed (SIGKILL, a real one: test/helpers/crash-commit.ts runs in its own process) at
 * points spread over its commit: through the documented
 * reading layers (history and current state) it is never partly visible. Before its
 * `_dlt_loads` row the lake reads exactly as before the load; after it, exactly as after a
 * fault-free commit. Re-running the load id, or running a new load, then leaves no trace of the
 * dead attempt in either layer.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import { s3ClientConfigFromEnv } from '#adapters/s3-store.ts';
import { openLakeQuery } from '#cli/duckdb-lake.ts';
import { forEachConcurrent } from '#core/pool.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { type CommitWrite, type CrashCommitArgs, loadWithCommitHook } from '#test/helpers/crash-commit.ts';
import { type S3FaultProxy, startS3FaultProxy } from '#test/helpers/s3-fault-proxy.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./crash-commit-child.ts', import.meta.url));
const API_KEY = 'crash-key';
const API_SECRET = 'crash-secret';
const SEED = 'crash';
const USERS = generateIdentifiers(SEED, 6);
/** accounts and its child tables, plus user_loads: enough tables for a commit with many writes. */
const RESOURCES = ['accounts'];
const BATCH_SIZE = 3;
/**
 * Kill points spread evenly over the commit's writes (plus the two around its commit point).
 * Few: every write is a crash point in crash-points-suite.ts (in-process, on both stores); this
 * checks that a real SIGKILL, which cuts writes wherever they are, leaves the same lake.
 */
const SPREAD_POINTS = 4;
const BUCKET = 'crash-lake';

interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runChild(args: CrashCommitArgs): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(args)], {
      cwd: REPO,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The small load the merge-crash tests kill and re-run, against a simulator of its own. */
export interface MergeCrashLoad {
  readonly sim: Simulator;
  /**
   * `load-1` of six users' `accounts` in two batches of three (so the commit merges parts of both
   * batches) into `dest`, killed before commit write `killAt` (0: never).
   */
  args(dest: string, killAt: number): CrashCommitArgs;
  close(): Promise<void>;
}

/** The simulator seeded `seed`, with the credentials `<seed>-key` and `<seed>-secret`. */
export async function startMergeCrashLoad(seed: string): Promise<MergeCrashLoad> {
  const apiKey = `${seed}-key`;
  const apiSecret = `${seed}-secret`;
  const sim = await startSimulator({ seed, apiKey, apiSecret });
  const users = generateIdentifiers(seed, 6);
  return {
    sim,
    args: (dest, killAt) => ({
      dest,
      baseUrl: sim.url,
      apiKey,
      apiSecret,
      loadId: 'load-1',
      users,
      resources: ['accounts'],
      batchSize: 3,
      killAt,
    }),
    close: () => sim.close(),
  };
}

/**
 * Runs `args` whole and returns the commit write that closes its first merged file: a kill there
 * leaves the merge's temporary file, nothing published and nothing committed.
 */
export async function firstMergedClose(args: CrashCommitArgs): Promise<CommitWrite | undefined> {
  const writes: CommitWrite[] = [];
  await loadWithCommitHook(args, (write) => writes.push(write));
  return writes.find((w) => w.kind === 'close' && w.key.startsWith(`_staging/${args.loadId}/merged/`));
}

/** What a reader sees: per table, the sorted `_dlt_id`s of history and of current state. */
export interface Seen {
  readonly loads: string[];
  readonly history: Record<string, string[]>;
  readonly current: Record<string, string[]>;
}

export async function seen(lakeDir: string): Promise<Seen> {
  const lake = await openLakeQuery(lakeDir);
  try {
    // One query for every table of both layers: this runs a few dozen times per store.
    const parts = lake
      .tables()
      .flatMap((table) =>
        ['', 'current.'].map(
          (schema) =>
            `SELECT '${schema}' AS layer, '${table}' AS t, string_agg(_dlt_id, ',' ORDER BY _dlt_id) AS ids FROM ${schema}"${table}"`,
        ),
      );
    const { rows } = await lake.query(parts.join('\nUNION ALL\n'));
    const history: Record<string, string[]> = {};
    const current: Record<string, string[]> = {};
    for (const [layer, table, ids] of rows) {
      (layer === '' ? history : current)[String(table)] = ids === null ? [] : String(ids).split(',');
    }
    const loads = (await lake.query('SELECT load_id FROM _dlt_loads ORDER BY 1')).rows.map((r) =>
      String(r[0]),
    );
    return { loads, history, current };
  } finally {
    lake.close();
  }
}

export const counts = (ids: Record<string, string[]>) =>
  Object.fromEntries(Object.entries(ids).map(([t, list]) => [t, list.length]));

/** A lake location the test can copy, crash into and read back. */
export interface LakeKind {
  readonly name: string;
  /** How many runs of a suite go side by side (an S3 run is mostly waiting on s3rver). */
  readonly concurrentRuns: number;
  setup(): Promise<void>;
  dest(label: string): string;
  copy(from: string, to: string): Promise<void>;
  /**
   * Copies of `from`, which must not change afterwards: its objects are read once, not once per
   * copy (a crash-point run makes a hundred copies of one lake).
   */
  copier(from: string): Promise<(to: string) => Promise<void>>;
  /**
   * A local folder holding the objects readers read (itself, or a download of the S3 prefix
   * less `_staging/` and `_leases/`, which no reader opens: see READERLESS).
   */
  readable(dest: string): Promise<string>;
  /**
   * Every object but those under READERLESS folders, key to a digest of its content (SHA-256;
   * on S3 the ETag, which s3rver makes from the content and its upload's parts). Two lakes
   * with equal maps give readers the same files, so readers see the same in both.
   */
  readerObjects(dest: string): Promise<Map<string, string>>;
  hasKey(dest: string, key: string): Promise<boolean>;
  teardown(): Promise<void>;
}

/**
 * Folders of a lake no reader opens: DuckDB (cli/duckdb-lake.ts) and Athena read the table
 * folders, `_dlt_loads` and the schema registry, never a load's staging or its lease.
 */
const READERLESS = ['_staging/', '_leases/'];
const readerRead = (key: string) => !READERLESS.some((folder) => key.startsWith(folder));

/** Every file under `dir`, as keys relative to it (`/`-separated). */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const key = `${prefix}${entry.name}`;
    if (entry.isDirectory()) keys.push(...(await filesUnder(dir, `${key}/`)));
    else keys.push(key);
  }
  return keys;
}

/** s3rver answers one request per round trip: download 8 objects at a time. */
const eachConcurrent = <T>(items: readonly T[], task: (item: T) => Promise<void>) =>
  forEachConcurrent(items, 8, task);

export function localKind(root: () => string): LakeKind {
  return {
    name: 'local folder',
    concurrentRuns: 2,
    async setup() {},
    dest: (label) => join(root(), label),
    copy: (from, to) => cp(from, to, { recursive: true }),
    copier: async (from) => (to) => cp(from, to, { recursive: true }),
    readable: async (dest) => dest,
    async readerObjects(dest) {
      const objects = new Map<string, string>();
      for (const key of (await filesUnder(dest)).filter(readerRead).sort())
        objects.set(
          key,
          createHash('sha256')
            .update(await readFile(join(dest, key)))
            .digest('hex'),
        );
      return objects;
    },
    hasKey: async (dest, key) => (await openStore(dest).get(key)) !== undefined,
    async teardown() {},
  };
}

/**
 * Buckets for lakes that are written side by side while the proxy fails one request of each:
 * a request is told apart by its bucket, the one part of its path every S3 request names (a
 * DeleteObjects request names no key).
 */
const LANE_BUCKETS = ['crash-lake-lane-1', 'crash-lake-lane-2', 'crash-lake-lane-3', 'crash-lake-lane-4'];

/**
 * An S3 lake: s3rver behind the fault proxy, so conditional writes (`If-None-Match: *`: leases,
 * schema versions) are decided as S3 decides them, and tests can fail requests (`proxy.faults`).
 *
 * The suites' own set-up reaches into s3rver's folder, never the lakes under test: a copy of a
 * lake is a copy of its folder there, and a download for DuckDB reads the files the listing names
 * from there. Through the S3 API they were a request (and its proxy and s3rver work) per object
 * per copy and per download, about a thousand per crash-point run, none of them the load's. Both are
 * checked against what S3 then lists (keys and ETags, an ETag being the MD5 of the bytes), so a
 * change of s3rver's layout fails loudly instead of reading something else.
 */
export function s3Kind(root: () => string): LakeKind & {
  proxy(): S3FaultProxy;
  /** Buckets of their own, one per concurrent run (see LANE_BUCKETS). */
  readonly lanes: readonly string[];
  destIn(bucket: string, label: string): string;
} {
  let s3: RunningS3rver | undefined;
  let proxy: S3FaultProxy | undefined;
  let restoreEnv: (() => void) | undefined;
  let client: S3Client | undefined;
  let downloads = 0;
  const where = (dest: string) => {
    const [, , bucket, ...rest] = dest.split('/');
    return { bucket: bucket!, prefix: `${rest.join('/')}/` };
  };
  /** Every object under `dest`: key (less the prefix) to ETag, sorted by key. */
  const listing = async (dest: string) => {
    const { bucket, prefix } = where(dest);
    const objects = new Map<string, string>();
    let token: string | undefined;
    do {
      const page = await client!.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) objects.set(object.Key!.slice(prefix.length), object.ETag!);
      token = page.NextContinuationToken;
    } while (token !== undefined);
    return new Map([...objects].sort(([a], [b]) => (a < b ? -1 : 1)));
  };
  /** The folder s3rver keeps `dest`'s objects in. */
  const folderOf = (dest: string) => {
    const { bucket, prefix } = where(dest);
    return join(s3!.dir, bucket, prefix);
  };
  /** s3rver's file holding an object's bytes (its FilesystemStore: `<key>._S3rver_object`). */
  const objectFile = (dest: string, key: string) => `${join(folderOf(dest), key)}._S3rver_object`;
  const sameObjects = (a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>) =>
    a.size === b.size && [...a].every(([key, etag]) => b.get(key) === etag);
  const copier = async (from: string) => {
    const objects = await listing(from);
    return async (to: string) => {
      await cp(folderOf(from), folderOf(to), { recursive: true, errorOnExist: true, force: false });
      const copied = await listing(to);
      if (!sameObjects(objects, copied))
        throw new Error(
          `a copy of ${from} in s3rver's folder lists other objects at ${to} (${copied.size} of ${objects.size}): has s3rver's layout changed?`,
        );
    };
  };
  return {
    name: 'S3 store',
    concurrentRuns: 4,
    async setup() {
      s3 = await startS3rver({ buckets: [BUCKET, ...LANE_BUCKETS] });
      proxy = await startS3FaultProxy(s3.endpoint);
      restoreEnv = withS3Env(proxy.endpoint);
      client = new S3Client(s3ClientConfigFromEnv());
    },
    proxy: () => proxy!,
    lanes: LANE_BUCKETS,
    dest: (label) => `s3://${BUCKET}/${label}`,
    destIn: (bucket, label) => `s3://${bucket}/${label}`,
    copy: async (from, to) => (await copier(from))(to),
    copier,
    async readable(dest) {
      const dir = join(root(), `download-${++downloads}`);
      const objects = [...(await listing(dest))].filter(([key]) => readerRead(key));
      await eachConcurrent(objects, async ([key, etag]) => {
        const md5 = /^"([0-9a-f]{32})"$/.exec(etag)?.[1];
        // A multipart upload's ETag is no MD5 of the bytes: such an object is read through S3.
        const bytes =
          md5 === undefined ? (await openStore(dest).get(key))! : await readFile(objectFile(dest, key));
        if (md5 !== undefined && createHash('md5').update(bytes).digest('hex') !== md5)
          throw new Error(`s3rver's file of ${dest}/${key} does not hold the object S3 lists (ETag ${etag})`);
        await mkdir(dirname(join(dir, key)), { recursive: true });
        await writeFile(join(dir, key), bytes);
      });
      await mkdir(dir, { recursive: true });
      return dir;
    },
    async readerObjects(dest) {
      // One listing, no object read: what a crash point's lake holds, next to the lake before it.
      return new Map([...(await listing(dest))].filter(([key]) => readerRead(key)));
    },
    hasKey: async (dest, key) => (await openStore(dest).get(key)) !== undefined,
    async teardown() {
      client?.destroy();
      restoreEnv?.();
      await proxy?.close();
      await s3?.close();
    },
  };
}

let scratch: string;
export const scratchDir = () => scratch;

export function describeCommitCrash(kind: LakeKind): void {
  describe(`a load killed during its commit (${kind.name})`, () => {
    let before: Simulator;
    let after: Simulator;
    let base: string;
    let baseSeen: Seen;
    let referenceSeen: Seen;
    let writes: CommitWrite[];
    const args = (sim: Simulator, dest: string, loadId: string, killAt: number): CrashCommitArgs => ({
      dest,
      baseUrl: sim.url,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      loadId,
      users: USERS,
      resources: RESOURCES,
      batchSize: BATCH_SIZE,
      killAt,
    });

    beforeAll(async () => {
      scratch ??= await mkdtemp(join(tmpdir(), 'paylink-crash-'));
      await kind.setup();
      const options = { seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET };
      before = await startSimulator({ ...options, generation: 0 });
      after = await startSimulator({ ...options, generation: 1 });
      // The lake before: one committed load.
      base = kind.dest(`base-${kind.name.replace(/\W/g, '')}`);
      await loadWithCommitHook(args(before, base, 'load-1', 0), () => undefined);
      baseSeen = await seen(await kind.readable(base));
      // The lake after a fault-free commit of load-2 (the world changed in between).
      const reference = kind.dest(`reference-${kind.name.replace(/\W/g, '')}`);
      await kind.copy(base, reference);
      writes = [];
      await loadWithCommitHook(args(after, reference, 'load-2', 0), (write) => writes.push(write));
      referenceSeen = await seen(await kind.readable(reference));
    }, 120_000);

    afterAll(async () => {
      await before?.close();
      await after?.close();
      await kind.teardown();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    it('has two different committed states to tell apart', () => {
      expect(baseSeen.loads).toEqual(['load-1']);
      expect(referenceSeen.loads).toEqual(['load-1', 'load-2']);
      expect(counts(referenceSeen.current)).not.toEqual(counts(baseSeen.history));
      expect(writes.length).toBeGreaterThan(SPREAD_POINTS);
    });

    it('is invisible before its _dlt_loads row and whole after it, at every kill point; a re-run or a new load leaves no trace', async () => {
      const commitPoint = writes.find((w) => w.kind === 'close' && w.key === '_dlt_loads/load-2.parquet')!.op;
      const points = new Set<number>([commitPoint, commitPoint + 1]);
      for (let i = 0; i < SPREAD_POINTS; i++)
        points.add(1 + Math.floor((i * (writes.length - 1)) / (SPREAD_POINTS - 1)));
      const checked: number[] = [];
      for (const point of [...points].sort((a, b) => a - b)) {
        const dest = kind.dest(`kill-${kind.name.replace(/\W/g, '')}-${point}`);
        await kind.copy(base, dest);
        const killed = await runChild(args(after, dest, 'load-2', point));
        expect(killed.signal, `kill at write ${point}: ${killed.stderr}`).toBe('SIGKILL');

        const committed = await kind.hasKey(dest, '_dlt_loads/load-2.parquet');
        expect(committed, `committed after a kill at write ${point} of ${writes.length}`).toBe(
          point > commitPoint,
        );
        const now = await seen(await kind.readable(dest));
        expect(now, `what readers see after a kill at write ${point}`).toEqual(
          committed ? referenceSeen : baseSeen,
        );

        if (point % 2 === 0) {
          // Recovery by re-running the same load id: exactly the fault-free result.
          await loadWithCommitHook(args(after, dest, 'load-2', 0), () => undefined);
          expect(await seen(await kind.readable(dest))).toEqual(referenceSeen);
        } else {
          // Recovery by moving on: a new load, and nothing of the dead attempt in either layer.
          await loadWithCommitHook(args(after, dest, 'load-3', 0), () => undefined);
          const later = await seen(await kind.readable(dest));
          expect(later.loads).toEqual(committed ? ['load-1', 'load-2', 'load-3'] : ['load-1', 'load-3']);
          if (!committed) {
            expect(counts(later.current)).toEqual(counts(referenceSeen.current));
            const reference = counts(referenceSeen.history);
            expect(counts(later.history)).toEqual(reference);
          }
        }
        checked.push(point);
      }
      expect(checked.length).toBeGreaterThanOrEqual(SPREAD_POINTS);
      console.info(`${kind.name}: ${checked.length} kill points of ${writes.length} commit writes checked`);
    }, 300_000);
  });
}
