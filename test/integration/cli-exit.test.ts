/**
 * A finished command ends its process with its exit code even when a handle was left open on
 * some failure path (a review saw `load` print "Nothing was committed." and then wait forever
 * on a Parquet worker's port): bin/paylink-loader.mjs exits 2 s after the command returns.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/paylink-loader.mjs', import.meta.url));
const LEAK = fileURLToPath(new URL('../fixtures/leak-handle.mjs', import.meta.url));

async function run(args: readonly string[], nodeArgs: readonly string[]) {
  const started = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  return { code, signal, stderr, ms: Date.now() - started };
}

describe('paylink-loader ends its process when the command is over', () => {
  it('exits with the command code although a port was left listening', async () => {
    // A failing command (exit 1: an unknown flag), with a leaked port that alone would keep
    // the process alive until the 30 s SIGKILL.
    const failed = await run(['status', '--no-such-flag'], ['--import', LEAK]);
    expect(failed.signal).toBeNull();
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("Unknown option '--no-such-flag'");
    const ok = await run(['--help'], ['--import', LEAK]);
    expect(ok.signal).toBeNull();
    expect(ok.code).toBe(0);
  }, 90_000);
});
