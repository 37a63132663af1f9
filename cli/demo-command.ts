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

export const DEMO_QUERY = `SELECT company__name AS company, count(*) AS accounts, count(DISTINCT user_identifier) AS users
FROM current.accounts
GROUP BY company__name
ORDER BY accounts DESC, company
LIMIT 12`;

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
    const { exitCode } = await executeLoad(
      { usersFile, dest, baseUrl: sim.url, concurrency: 16, rateLimit: 500, batchSize: 100 },
      { ...io, env: { ...io.env, PAYLINK_API_KEY: API_KEY, PAYLINK_API_SECRET: API_SECRET } },
    ).finally(() => rm(scratch, { recursive: true, force: true }));
    // Interrupted (Ctrl-C): nothing was committed; run the demo again rather than resume it.
    if (exitCode === EXIT.interrupted || exitCode === EXIT.terminated) return exitCode;
    io.stdout.write(`\nAccounts per company, current state (DuckDB over ${dest}):\n${DEMO_QUERY}\n\n`);
    const lake = await openLakeQuery(dest);
    try {
      io.stdout.write(`${formatTable(await lake.query(DEMO_QUERY))}\n`);
    } finally {
      lake.close();
    }
    io.stdout.write(
      `\nMore: npx paylink-loader status --dest ${dest}\n` +
        `      npx paylink-loader query --dest ${dest} "SELECT status, error_code, count(*) FROM current.user_loads GROUP BY ALL"\n`,
    );
    // A few simulated users fail on purpose (exit 3 for `load`); the demo itself succeeded.
    return exitCode === 3 ? 0 : exitCode;
  } finally {
    await sim.close();
  }
}
