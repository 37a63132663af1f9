/**
 * A CLI lease holder on this host that was killed but not yet reaped by its parent (a zombie,
 * as after `kill -9` under a supervisor that has not waited for it yet) is dead: its lease is
 * taken over at once, not after its expiry. A running holder is alive.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { isAbandonedOnThisHost } from '#adapters/lease-owner.ts';
import type { LeaseOwner } from '#core/lease.ts';

const holder = (pid: number): LeaseOwner => ({
  id: 'h',
  kind: 'cli',
  host: hostname(),
  pid,
  command: 'load',
});

/** Reads /proc/<pid>/stat's state letter, or undefined without /proc. */
const stateOf = async (pid: number) => {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'latin1').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
};

describe('isAbandonedOnThisHost', () => {
  it('takes a zombie holder for dead (where /proc tells), a running one for alive', async () => {
    // `sh` forks a child that exits after 0.3 s, then becomes `sleep 30` (same pid), which never
    // waits for it: the child stays a zombie until `sleep` ends.
    const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const zombie = await new Promise<number>((resolve) =>
        parent.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
      );
      expect(isAbandonedOnThisHost(holder(parent.pid!))).toBe(false);
      if (existsSync('/proc/self/stat')) {
        // Wait for the child to have exited (a zombie), as the kernel reports it.
        for (let i = 0; i < 500 && (await stateOf(zombie)) !== 'Z'; i++)
          await new Promise((r) => setTimeout(r, 20));
        expect(await stateOf(zombie)).toBe('Z');
        expect(isAbandonedOnThisHost(holder(zombie))).toBe(true);
      } else {
        // Without /proc a zombie is found by kill(pid, 0): alive until reaped (documented).
        expect(isAbandonedOnThisHost(holder(zombie))).toBe(false);
      }
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('takes a holder whose process is gone for dead, and never this process or another host', () => {
    expect(isAbandonedOnThisHost(holder(process.pid))).toBe(false);
    expect(isAbandonedOnThisHost({ ...holder(2 ** 22 + 12345), host: `${hostname()}-elsewhere` })).toBe(
      false,
    );
    // A pid above the kernel's maximum (pid_max is at most 2^22) is no process.
    expect(isAbandonedOnThisHost(holder(2 ** 22 + 12345))).toBe(true);
  });
});
