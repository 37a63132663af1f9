/**
 * Each test file's temporary folder (test/helpers/test-tmpdir.ts) is on tmpfs where the machine
 * has one with room, so the local store's flushes cost nothing there; elsewhere, or with
 * PAYLINK_TEST_TMPFS=0, it is under the system's temporary folder.
 */
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';

const onTmpfs = (path: string) => {
  try {
    const fs = statfsSync(path);
    return fs.type === 0x01021994 && fs.bavail * fs.bsize >= 1024 ** 3;
  } catch {
    return false;
  }
};

describe("a test file's temporary folder", () => {
  it('is its own, and on /dev/shm when that is a tmpfs with room (unless PAYLINK_TEST_TMPFS=0)', () => {
    const folder = tmpdir();
    expect(folder).toMatch(/\/paylink-test-[^/]+$/);
    const wanted = process.env.PAYLINK_TEST_TMPFS !== '0' && onTmpfs('/dev/shm');
    expect(folder.startsWith('/dev/shm/')).toBe(wanted);
    if (wanted) expect(onTmpfs(folder)).toBe(true);
  });
});
