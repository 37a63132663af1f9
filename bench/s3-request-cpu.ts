/**
 * CPU per S3 request of the lake's S3 store (lambdas/adapters/s3-store.ts) against s3rver on
 * loopback, by S3 client. s3rver runs in its own process, so this process's CPU time
 * (user + system, process.cpuUsage) is the client's alone: the store, the SDK, Node's HTTP.
 *
 *   node --import tsx bench/s3-request-cpu.ts [--rounds 6] [--ops 300] [--profile]
 *
 * A round runs every variant once, in turn, each `ops` times over the same mix a load sends
 * (a small put, a conditional put, a get, a listing, a move: copy and delete, a batch delete);
 * CPU per request is compared round by round (a shared machine is noisy; ratios within a round
 * hold better than absolute figures). `--profile` prints no table but writes a .cpuprofile of
 * the default client to the working directory.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { createS3Store, defaultS3Client, s3ClientConfigFromEnv } from '#adapters/s3-store.ts';
import type { ObjectStore } from '#core/ports.ts';
import { startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    ops: { type: 'string', default: '300' },
    profile: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const ops = Number(values.ops);

const BUCKET = 'bench';

/**
 * The clients compared: the SDK's defaults with the environment's settings (what the store made
 * before), and the store's default client now (defaultS3Client: `cacheMiddleware`).
 */
const VARIANTS: Record<string, () => S3Client> = {
  default: () => new S3Client(s3ClientConfigFromEnv()),
  defaultS3Client,
};

/** Requests one `mix` sends. */
const REQUESTS_PER_MIX = 7;

async function mix(store: ObjectStore, i: number): Promise<void> {
  const body = `{"n":${i},"pad":"${'x'.repeat(200)}"}`;
  await store.put(`m/${i % 50}/a.json`, body);
  await store.putIfAbsent(`m/${i % 50}/b.json`, body);
  await store.get(`m/${i % 50}/a.json`);
  await store.list(`m/${i % 50}/`);
  await store.move(`m/${i % 50}/b.json`, `m/${i % 50}/c.json`);
  await store.delete([`m/${i % 50}/c.json`]);
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function measure(store: ObjectStore): Promise<number> {
  const started = cpuMs();
  for (let i = 0; i < ops; i++) await mix(store, i);
  return (cpuMs() - started) / (ops * REQUESTS_PER_MIX);
}

const s3 = await startS3rver({ buckets: [BUCKET] });
const restore = withS3Env(s3.endpoint);
try {
  const stores = Object.fromEntries(
    Object.entries(VARIANTS).map(([name, client]) => [
      name,
      createS3Store({ bucket: BUCKET, prefix: name, client: client() }),
    ]),
  );
  // Warm-up: module compilation, the first connection, credentials and endpoint resolution.
  for (const store of Object.values(stores)) for (let i = 0; i < 50; i++) await mix(store, i);

  if (values.profile) {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    await measure(stores['default']!);
    const { profile } = await session.post('Profiler.stop');
    const file = `s3-request-cpu-${Date.now()}.cpuprofile`;
    writeFileSync(file, JSON.stringify(profile));
    console.log(`wrote ${file}`);
  } else {
    const names = Object.keys(stores);
    console.log(
      `load average at start: ${loadavg()[0]!.toFixed(2)}; ${ops} mixes (${ops * REQUESTS_PER_MIX} requests) per variant per round`,
    );
    console.log(
      `| round | ${names.map((n) => `${n} (ms CPU/request)`).join(' | ')} | ${names
        .slice(1)
        .map((n) => `${n} / default`)
        .join(' | ')} | load |`,
    );
    for (let round = 1; round <= rounds; round++) {
      const perRequest: number[] = [];
      // Alternate which variant goes first, so neither always runs on a warmer or quieter machine.
      const order = round % 2 === 0 ? [...names].reverse() : names;
      const got = new Map<string, number>();
      for (const name of order) got.set(name, await measure(stores[name]!));
      for (const name of names) perRequest.push(got.get(name)!);
      console.log(
        `| ${round} | ${perRequest.map((v) => v.toFixed(3)).join(' | ')} | ${perRequest
          .slice(1)
          .map((v) => (v / perRequest[0]!).toFixed(3))
          .join(' | ')} | ${loadavg()[0]!.toFixed(2)} |`,
      );
    }
  }
} finally {
  restore();
  await s3.close();
}
