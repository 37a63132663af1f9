/**
 * Child process entry (`node --import tsx crash-commit-child.ts '<json CrashCommitArgs>'`): runs
 * a load and kills itself with SIGKILL just before commit write `killAt`, so the kill is real:
 * no finally block, no cleanup, in-flight writes cut wherever they are. With `killAt: 0` it
 * prints every commit write as a JSON line instead, for a test to choose its kill points.
 */
import { type CrashCommitArgs, loadWithCommitHook } from './crash-commit.ts';

const args = JSON.parse(process.argv[2] ?? '{}') as CrashCommitArgs;
loadWithCommitHook(args, (write) => {
  if (args.killAt === 0) process.stdout.write(`${JSON.stringify(write)}\n`);
  else if (write.op === args.killAt) process.kill(process.pid, 'SIGKILL');
}).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
