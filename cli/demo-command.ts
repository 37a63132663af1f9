/**
 * `npm run demo`: the main job end to end on one machine. Starts the simulator in-process
 * (with a sprinkle of 429s, 5xx, malformed bodies and a few failing users, as real APIs do),
 * loads a few hundred users into ./lake, prints the summary, then queries the lake with DuckDB.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { positiveInt } from '#core/config.ts';
import { startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { parseFlags } from './args.ts';
import { formatTable, openLakeQuery } from './duckdb-lake.ts';
import type { Io } from './io.ts';
import { executeLoad } from './load-command.ts';
import { EXIT } from './summary.ts';

const SEED = 'demo';
const API_KEY = 'demo-key';
const API_SECRET = 'demo-secret';

/**
 * Accounts per company in the load the demo just ran, chosen by its id: the lake may hold
 * other loads (an earlier demo, a load with a custom id), and load ids do not sort by time.
 */
export function demoQuery(loadId: string): string {
  return `SELECT company__name AS company, count(*) AS accounts, count(DISTINCT user_identifier) AS users
FROM accounts
WHERE _dlt_load_id = '${loadId.replaceAll("'", "''")}'
GROUP BY company__name
ORDER BY accounts DESC, company
LIMIT 12`;
}

export async function demoCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, { users: { type: 'string' }, dest: { type: 'string' } });
  const userCount = positiveInt('--users', values.users, 300);
  const dest = values.dest ?? join(io.cwd, 'lake');
  const sim = await startSimulator({
    seed: SEED,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    faults: {
      status429Rate: 0.02,
      status5xxRate: 0.02,
      malformedRate: 0.005,
      failUserRate: 0.01,
      retryAfterSeconds: 1,
    },
  });
  try {
    io.stderr.write(`PayLink simulator on ${sim.url}; loading ${userCount} users into ${dest}\n`);
    const scratch = await mkdtemp(join(tmpdir(), 'paylink-demo-'));
    const usersFile = join(scratch, 'users.txt');
    await writeFile(usersFile, `${generateIdentifiers(SEED, userCount).join('\n')}\n`);
    const { exitCode, summary } = await executeLoad(
      { usersFile, dest, baseUrl: sim.url, concurrency: 16, rateLimit: 500, batchSize: 100 },
      { ...io, env: { ...io.env, PAYLINK_API_KEY: API_KEY, PAYLINK_API_SECRET: API_SECRET } },
    ).finally(() => rm(scratch, { recursive: true, force: true }));
    // Interrupted (Ctrl-C): nothing was committed; run the demo again rather than resume it.
    if (exitCode === EXIT.interrupted || exitCode === EXIT.terminated || summary === undefined)
      return exitCode;
    const query = demoQuery(summary.loadId);
    io.stdout.write(`\nAccounts per company in this load (DuckDB over ${dest}):\n${query}\n\n`);
    const lake = await openLakeQuery(dest);
    try {
      io.stdout.write(`${formatTable(await lake.query(query))}\n`);
    } finally {
      lake.close();
    }
    io.stdout.write(
      `\nMore: npx paylink-loader status --dest ${dest} --load-id ${summary.loadId}\n` +
        `      npx paylink-loader failed --dest ${dest} --load-id ${summary.loadId}\n` +
        `      npx paylink-loader query --dest ${dest} "SELECT status, error_code, count(*) FROM current.user_loads GROUP BY ALL"\n`,
    );
    // A few simulated users fail on purpose (exit 3 for `load`); the demo itself succeeded.
    return exitCode === 3 ? 0 : exitCode;
  } finally {
    await sim.close();
  }
}
