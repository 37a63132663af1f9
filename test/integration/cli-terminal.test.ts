/**
 * A load as a person sees it in a terminal: the built command runs in a pseudo-terminal
 * (@lydell/node-pty: node-pty with prebuilt binaries shipped in npm packages, no compiler) of
 * 60 and 120 columns, and what it prints is rendered by a terminal emulator (@xterm/headless),
 * so the test reads the screen a person would read: the load id at the start, a progress line
 * that never wraps (never wider than the terminal) and leaves no fragment behind, and a
 * summary that says why users failed.
 */
import { fileURLToPath } from 'node:url';
import pty from '@lydell/node-pty';
import xterm from '@xterm/headless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayWidth } from '#cli/text-width.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { Scratch } from '#test/helpers/lake-harness.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/paylink-loader.mjs', import.meta.url));
const SEED = 'terminal-seed';
const API_KEY = 'terminal-key';
const API_SECRET = 'terminal-secret';
const USERS = 80;

interface Screen {
  readonly code: number;
  /** Every logical line of the screen and its scrollback (wrapped rows joined). */
  readonly lines: readonly string[];
  /** Progress lines seen on the screen while the load ran. */
  readonly progress: readonly string[];
  /** Widest row a progress line took, and whether one ever wrapped onto a second row. */
  readonly widestProgress: number;
  readonly progressWrapped: boolean;
  /** Each redraw the command sent: the text after `\r\x1b[2K` up to the next control. */
  readonly frames: readonly string[];
}

/** The logical lines of a terminal buffer: a row marked `isWrapped` continues the one above. */
function logicalLines(term: xterm.Terminal): string[] {
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) {
    const row = buffer.getLine(i);
    if (row === undefined) continue;
    const text = row.translateToString(true);
    if (row.isWrapped && lines.length > 0) lines[lines.length - 1] += text;
    else lines.push(text);
  }
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  return lines;
}

/** Runs `paylink-loader <argv>` in a pseudo-terminal of `cols` columns; watches the screen. */
function runInTerminal(argv: readonly string[], cols: number, env: NodeJS.ProcessEnv): Promise<Screen> {
  const term = new xterm.Terminal({ cols, rows: 40, scrollback: 2000, allowProposedApi: true });
  const child = pty.spawn(process.execPath, [BIN, ...argv], {
    name: 'xterm-256color',
    cols,
    rows: 40,
    cwd: REPO,
    env,
  });
  let raw = '';
  const progress: string[] = [];
  let widestProgress = 0;
  let progressWrapped = false;
  let writes = Promise.resolve();
  const look = () => {
    // The row the cursor is on, and the one above it when that row continues it.
    const buffer = term.buffer.active;
    const y = buffer.baseY + buffer.cursorY;
    const row = buffer.getLine(y);
    const start = row?.isWrapped ? buffer.getLine(y - 1) : row;
    const text = start?.translateToString(true) ?? '';
    if (!text.startsWith('users ')) return;
    progress.push(row?.isWrapped ? `${text}${row.translateToString(true)}` : text);
    widestProgress = Math.max(widestProgress, displayWidth(text));
    if (row?.isWrapped) progressWrapped = true;
  };
  child.onData((data) => {
    raw += data;
    writes = writes.then(() => new Promise<void>((resolve) => term.write(data, resolve))).then(look);
  });
  return new Promise((resolve) => {
    child.onExit(({ exitCode }) => {
      // The last output may still be on its way through the emulator's parser.
      setTimeout(() => {
        void writes.then(() => {
          // The last clear (the progress stopping) is followed by the summary, not a frame.
          const frames = raw
            .split('\r\x1b[2K')
            .slice(1)
            .map((frame) => frame.split(/[\r\n\x1b]/)[0] ?? '')
            .filter((frame) => frame.startsWith('users '));
          resolve({
            code: exitCode,
            lines: logicalLines(term),
            progress,
            widestProgress,
            progressWrapped,
            frames,
          });
          term.dispose();
        });
      }, 50);
    });
  });
}

describe('a load in a terminal', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let users: string;
  let failing: string[];
  beforeAll(async () => {
    const identifiers = generateIdentifiers(SEED, USERS);
    failing = [identifiers[5]!, identifiers[17]!];
    sim = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      faults: { failUsers: failing },
    });
    scratch = await Scratch.create('terminal');
    users = await scratch.users('users.txt', identifiers);
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it.each([60, 120])(
    'at %i columns: load id first, progress within the width and then gone, reasons in the summary',
    async (cols) => {
      const loadId = `terminal-${cols}`;
      const env: NodeJS.ProcessEnv = {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        TERM: 'xterm-256color',
        PAYLINK_API_KEY: API_KEY,
        PAYLINK_API_SECRET: API_SECRET,
      };
      // At least 5.3 seconds of loading however fast the machine (2 requests a user at 30/s):
      // several redraws (every 500 ms), and an ETA once 3 s of pace were measured.
      const screen = await runInTerminal(
        [
          'load',
          '--users',
          users,
          '--dest',
          scratch.path(`lake-${cols}`),
          '--base-url',
          sim.url,
          '--resources',
          'accounts',
          '--rate-limit',
          '30',
          '--load-id',
          loadId,
        ],
        cols,
        env,
      );
      const text = screen.lines.join('\n');
      expect(screen.code, text).toBe(3);

      // The load id is on the screen before anything else.
      expect(screen.lines[0]).toBe(
        `load ${loadId} into ${scratch.path(`lake-${cols}`)}: ${USERS} users in 1 batch(es)`,
      );

      // Progress: seen several times, never wider than the terminal, never wrapped.
      expect(screen.frames.length, text).toBeGreaterThanOrEqual(2);
      expect(screen.progress.length).toBeGreaterThanOrEqual(2);
      for (const frame of screen.frames) expect(displayWidth(frame), frame).toBeLessThan(cols);
      expect(screen.widestProgress).toBeLessThan(cols);
      expect(screen.progressWrapped).toBe(false);
      expect(
        screen.progress.some((line) => / · ETA \d/.test(line)),
        screen.progress.join('\n'),
      ).toBe(true);
      if (cols >= 120)
        expect(screen.progress.some((line) => /requests \d+ \([\d.]+\/s\)/.test(line))).toBe(true);
      // ... and once the load is done, no fragment of it is left on the screen.
      expect(screen.lines.filter((line) => line.includes('users ') && line.includes('%)'))).toEqual([]);

      // The summary: committed, and why users failed, grouped by code.
      expect(text).toContain(`Load ${loadId} committed with 2 of ${USERS} users failed`);
      expect(screen.lines).toContain('Failed users (2; details per resource in the user_loads table):');
      expect(
        screen.lines.some((line) => /^ {2}http_404 +2 +2 +PayLink answered HTTP 404$/.test(line)),
        text,
      ).toBe(true);
      for (const identifier of failing) expect(screen.lines).toContain(`  ${JSON.stringify(identifier)}`);
    },
    30_000,
  );
});
