/** What a CLI command may touch of the process: passed in, so tests run commands in-process. */
export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WriteStream;
  /** Where `query` reads SQL from when given `-` or no SQL (absent: no stdin, as in most tests). */
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => Date;
  readonly cwd: string;
  /**
   * Subscribes to interruptions (SIGINT, SIGTERM) while a command runs; returns the
   * unsubscribe. Absent: the command cannot be interrupted gracefully (tests in-process).
   */
  readonly onInterrupt?: (handler: (signal: 'SIGINT' | 'SIGTERM') => void) => () => void;
  /**
   * Ends the process at once with `code` (an interruption before anything was staged). Absent
   * (commands run in-process by tests): the command stops through its normal interrupt path.
   */
  readonly exit?: (code: number) => void;
}

export function processIo(): Io {
  quietWhenClosed(process.stdout);
  quietWhenClosed(process.stderr);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    // A getter: touching process.stdin creates the stream, and only `query` needs it.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    now: () => new Date(),
    cwd: process.cwd(),
    exit: (code) => process.exit(code),
    onInterrupt(handler) {
      const signals = ['SIGINT', 'SIGTERM'] as const;
      const listeners = signals.map((signal) => {
        const listener = () => handler(signal);
        process.on(signal, listener);
        return [signal, listener] as const;
      });
      return () => {
        for (const [signal, listener] of listeners) process.off(signal, listener);
      };
    },
  };
}

const quieted = new WeakSet<NodeJS.WriteStream>();

/**
 * A reader that went away (`query ... | head -2`, a closed terminal) is not a failure of the
 * command: Node reports the closed pipe as an 'error' event (EPIPE) on the stream, and an
 * 'error' event nobody listens to ends the process with a stack trace. With this listener the
 * stream is destroyed quietly, later writes to it are dropped (Node does not emit again on a
 * destroyed stream), and the command ends with its own exit code: what it did (a committed load,
 * a query) is done whether or not anybody read the end of its output. Another write failure
 * (EIO, ENOSPC on a redirect) is said once on stderr and makes the exit code 1.
 */
export function quietWhenClosed(stream: NodeJS.WriteStream, exit: NodeJS.Process = process): void {
  if (quieted.has(stream)) return;
  quieted.add(stream);
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
    if (stream !== exit.stderr && !exit.stderr.destroyed)
      exit.stderr.write(`error: cannot write the output (${error.code ?? error.name}).\n`);
    exit.exitCode = 1;
  });
}
