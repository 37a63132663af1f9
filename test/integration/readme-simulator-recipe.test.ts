/**
 * README's recipe for a script that starts the simulator in the background, run as written: when
 * the script ends, no process it started is left. `npx paylink-loader simulate ... &` made `$!`
 * npx's pid, and the simulator (npx's child) outlived any `kill $!` and the script.
 *
 * The recipe runs in a folder of its own where `bin/` and `node_modules/.bin/paylink-loader` lead
 * to this checkout (as in the repository, so npx finds it without a registry), and what is left
 * is found by its working folder (/proc/<pid>/cwd): only the recipe's processes work there.
 */
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** The commented script under "reads the port from stderr" in README's simulator section. */
function recipe(): string {
  const lines = readFileSync(path.join(root, 'README.md'), 'utf8').split('\n');
  const at = lines.findIndex((l) => l.includes('reads the port from stderr'));
  expect(at, 'README has the background simulator recipe').toBeGreaterThan(0);
  const start = lines.findIndex((l, i) => i > at && l.startsWith('#   '));
  const script: string[] = [];
  for (let i = start; i < lines.length && lines[i]!.startsWith('#   '); i++) script.push(lines[i]!.slice(4));
  return script.join('\n');
}

/** Processes (not this one) whose working folder is `dir`. */
function workingIn(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir) found.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

describe("README's background simulator recipe", () => {
  it('leaves no simulator running once the script ends', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sim-recipe-'));
    symlinkSync(path.join(root, 'bin'), path.join(dir, 'bin'));
    mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
    symlinkSync(
      path.join(root, 'bin', 'paylink-loader.mjs'),
      path.join(dir, 'node_modules', '.bin', 'paylink-loader'),
    );
    const script = recipe();
    expect(script).toContain('simulate --port 0');
    writeFileSync(path.join(dir, 'recipe.sh'), `${script}\n`);
    const run = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(
        'bash',
        ['recipe.sh'],
        { cwd: dir, timeout: 60_000, env: { ...process.env, npm_config_offline: 'true' } },
        (error, stdout) => resolve({ code: error ? (child.exitCode ?? 1) : 0, stdout }),
      );
    });
    let left: number[] = [];
    try {
      expect(run.stdout).toMatch(/http:\/\/127\.0\.0\.1:\d+/);
      // A simulator stopping on SIGTERM closes its server first: give it a moment.
      for (let i = 0; i < 50; i++) {
        left = workingIn(dir);
        if (left.length === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(left, 'processes of the recipe still running').toEqual([]);
      expect(run.code).toBe(0);
    } finally {
      // Whatever the recipe left (on failure) is this test's to stop.
      for (const pid of workingIn(dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  }, 90_000);
});
