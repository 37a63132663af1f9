/**
 * The PayLink simulator: a loopback HTTP server that answers exactly the API shapes of
 * docs/paylink-api.md with deterministic, messy data and faults on demand.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '#core/errors.ts';
import { createSimulatorCore } from './handler.ts';
import { parseSimulatorOptions, type SimulatorOptions } from './options.ts';
import type { SimulatorStats } from './stats.ts';
import type { WorldChange } from './world-changes.ts';
import type { UserData } from './world-types.ts';

export type { SimulatorStats } from './stats.ts';

export interface Simulator {
  /** Base URL, no trailing slash: `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops every connection, including requests held by a hang fault. Idempotent. */
  close(): Promise<void>;
  stats(): SimulatorStats;
  /** Exactly what the data endpoints serve for this identifier (a copy). */
  served(identifier: string): UserData;
  /** Whether this identifier's data endpoints answer 404 (`faults.failUsers` / `faults.failUserRate`). */
  userFails(identifier: string): boolean;
  /** The user's next change (an account linked or unlinked, a task completing), served from now on. */
  change(identifier: string): WorldChange;
}

/** A port that cannot be listened on, as a ConfigError naming the port (never a stack trace). */
function listenError(port: number, error: NodeJS.ErrnoException): Error {
  if (error.code === 'EADDRINUSE')
    return new ConfigError(
      'port',
      `127.0.0.1:${port} is already in use (pick another port, or 0 for any free one)`,
    );
  if (error.code === 'EACCES')
    return new ConfigError(
      'port',
      `not allowed to listen on 127.0.0.1:${port} (ports below 1024 need privileges)`,
    );
  return error;
}

/**
 * Starts a simulator on 127.0.0.1. Throws ConfigError (naming the option) on invalid options,
 * and ConfigError('port') when the port is taken or not allowed.
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const resolved = parseSimulatorOptions(options);
  const core = createSimulatorCore(resolved);
  const server = createServer((req, res) => {
    void core.handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(listenError(resolved.port, error));
    server.once('error', failed);
    server.listen(resolved.port, '127.0.0.1', () => {
      server.off('error', failed);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve, reject) => {
      core.shutdown();
      server.close((error) => (error ? reject(error) : resolve()));
      // Keep-alive and hung connections would otherwise hold close() open.
      server.closeAllConnections();
    });
    return closing;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close,
    stats: core.stats,
    served: core.served,
    userFails: core.userFails,
    change: core.change,
  };
}
