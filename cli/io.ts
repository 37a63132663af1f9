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
}

export function processIo(): Io {
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
