/**
 * Gives every test file its own temporary folder and removes it when the file ends.
 *
 * Why: aws-cdk-lib's `App` without an `outdir` synthesizes into a fresh `os.tmpdir()/cdk.outXXXXXX`
 * that nothing removes (about 160 KB each, ~100 per test run), and other temporary files of a
 * test that fails before its own clean-up would stay too. `os.tmpdir()` reads `TMPDIR` on every
 * call (Node docs, os.tmpdir), so pointing it at a per-file folder catches all of them, including
 * those of child processes the file spawns.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

const previous = process.env.TMPDIR;
const root = mkdtempSync(path.join(tmpdir(), 'paylink-test-'));
process.env.TMPDIR = root;

// Registered before any of the file's own hooks, so (after-hooks run in reverse) it runs last.
afterAll(() => {
  if (previous === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previous;
  rmSync(root, { recursive: true, force: true, maxRetries: 3 });
});
