/**
 * Gives every test file its own temporary folder and removes it when the file ends.
 *
 * Why: aws-cdk-lib's `App` without an `outdir` synthesizes into a fresh `os.tmpdir()/cdk.outXXXXXX`
 * that nothing removes (about 160 KB each, ~100 per test run), and other temporary files of a
 * test that fails before its own clean-up would stay too. `os.tmpdir()` reads `TMPDIR` on every
 * call (Node docs, os.tmpdir), so pointing it at a per-file folder catches all of them, including
 * those of child processes the file spawns.
 *
 * The folder is on tmpfs (/dev/shm) when the machine has one with room, else under `os.tmpdir()`:
 * the local store flushes every object it writes (fsync), and the integration tests write
 * thousands of small objects (a crash-point run copies and loads a lake a hundred times), so on
 * a disk most of their time was waiting for flushes. What the tests prove does not depend on
 * it: a crash they stage is a process dying (the page cache survives it), never a power cut.
 * `PAYLINK_TEST_TMPFS=0` keeps the folders on disk.
 */
import { accessSync, constants, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

/** statfs(2)'s f_type of a tmpfs mount. */
const TMPFS_MAGIC = 0x01021994;
const SHM = '/dev/shm';
/** Room enough for two test files at once (the largest writes some tens of MB). */
const MIN_FREE_BYTES = 1024 ** 3;

function scratchBase(): string {
  if (process.env.PAYLINK_TEST_TMPFS === '0') return tmpdir();
  try {
    const fs = statfsSync(SHM);
    if (fs.type !== TMPFS_MAGIC || fs.bavail * fs.bsize < MIN_FREE_BYTES) return tmpdir();
    accessSync(SHM, constants.W_OK);
    return SHM;
  } catch {
    // No /dev/shm (macOS, Windows) or not ours to write: the disk it is.
    return tmpdir();
  }
}

const previous = process.env.TMPDIR;
const root = mkdtempSync(path.join(scratchBase(), 'paylink-test-'));
process.env.TMPDIR = root;

// Registered before any of the file's own hooks, so (after-hooks run in reverse) it runs last.
afterAll(() => {
  if (previous === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previous;
  rmSync(root, { recursive: true, force: true, maxRetries: 3 });
});
