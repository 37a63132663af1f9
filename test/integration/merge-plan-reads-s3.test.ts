/**
 * What the deployed commit (commit.ts with `mergeFanOut`) reads of the staged parts before it
 * merges, on the S3 store: finding the partitions to merge lists the staging and reads each lone
 * part's footer (a GetObject each). The hand-off check and the merge take the same plan, so each
 * footer is read once, as the local commit (no fan-out) reads it; it was read twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { createS3Store } from '#adapters/s3-store.ts';
import { type CommitOutcome, commitOrHandOff } from '#core/commit.ts';
import { stagingPrefix } from '#core/layout.ts';
import type { MergeFanOutPolicy } from '#core/merge-fan-out.ts';
import type { PartReader } from '#core/ports.ts';
import { ordersApi } from '#test/helpers/orders-api.ts';
import { type S3FaultProxy, startS3FaultProxy } from '#test/helpers/s3-fault-proxy.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';
import { stageOrdersLoad } from '#test/helpers/staged-orders-load.ts';

const BUCKET = 'merge-plan-reads';
const LOAD = '1796000001.000000';
const parts = createParquetPartWriterFactory();
const clock = () => new Date('2026-12-01T03:00:00Z');
/** Room for any merge here: the commit checks what is pending, then merges in this invocation. */
const roomy: MergeFanOutPolicy = { remainingSeconds: () => 900 };

let s3: RunningS3rver;
let proxy: S3FaultProxy;
let restoreEnv: () => void;
beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET] });
  proxy = await startS3FaultProxy(s3.endpoint);
  restoreEnv = withS3Env(proxy.endpoint);
});
afterAll(async () => {
  restoreEnv?.();
  await proxy?.close();
  await s3?.close();
});

/** The parts reader, with the footers it read counted by key. */
function countingReader(): { reader: PartReader; footerReads: Map<string, number> } {
  const inner = createParquetPartReader();
  const footerReads = new Map<string, number>();
  return {
    footerReads,
    reader: {
      ...inner,
      readColumns(store, key) {
        footerReads.set(key, (footerReads.get(key) ?? 0) + 1);
        return inner.readColumns(store, key);
      },
    },
  };
}

/**
 * A load of one batch (every table's partition a lone part) staged in its own lake, committed
 * with `mergeFanOut` or without; the footers read and the GetObjects of staged parts it made.
 */
async function commitOneBatch(lake: string, mergeFanOut: MergeFanOutPolicy | undefined) {
  const store = createS3Store({ bucket: BUCKET, prefix: lake });
  await stageOrdersLoad({
    store,
    loadId: LOAD,
    identifiers: ['u1', 'u2', 'u3'],
    batchSize: 10,
    api: ordersApi(),
    parts,
    clock,
  });
  const loneParts = (await store.list(stagingPrefix(LOAD))).filter((k) => k.endsWith('.parquet'));
  const { reader, footerReads } = countingReader();
  const from = proxy.requests.length;
  const outcome: CommitOutcome = await commitOrHandOff(LOAD, {
    store,
    parts,
    reader,
    clock,
    ...(mergeFanOut === undefined ? {} : { mergeFanOut }),
  });
  const staged = new Set(loneParts.map((k) => `${BUCKET}/${lake}/${k}`));
  const partGets = proxy.requests
    .slice(from)
    .filter((r) => r.operation === 'GetObject' && staged.has(r.key)).length;
  return { outcome, loneParts, footerReads, partGets };
}

describe('the deployed commit of lone parts on S3', () => {
  it("reads each lone part's footer once, as the commit without a fan-out does", async () => {
    const deployed = await commitOneBatch('deployed', roomy);
    expect('committed' in deployed.outcome).toBe(true);
    // orders and user_loads, each a lone part of the one batch.
    expect(deployed.loneParts.length).toBeGreaterThanOrEqual(2);
    const once = Object.fromEntries(deployed.loneParts.map((key) => [key, 1]));
    expect({ footers: Object.fromEntries(deployed.footerReads), gets: deployed.partGets }).toEqual({
      footers: once,
      gets: deployed.loneParts.length,
    });

    const local = await commitOneBatch('local', undefined);
    expect('committed' in local.outcome).toBe(true);
    expect(local.loneParts.length).toBe(deployed.loneParts.length);
    expect(local.partGets).toBe(deployed.partGets);
  });
});
