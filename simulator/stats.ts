/** What the simulator did, for tests and the CLI's summary. */
import type { FaultKind } from './faults.ts';

export interface SimulatorStats {
  /** Every request received, answered or not. */
  requests: number;
  /** Responses written, by HTTP status. */
  byStatus: Record<number, number>;
  /** Injected faults by kind (`status429`, `status5xx`, `malformed`, `hang`), plus `failUser` 404s and `tokenRejected` 403s. */
  faultsInjected: Record<string, number>;
  tokensMinted: number;
  /** Requests refused by the server-side `rateLimit` (also counted under byStatus[429]). */
  rateLimited: number;
}

export class StatsRecorder {
  #requests = 0;
  #rateLimited = 0;
  readonly #byStatus = new Map<number, number>();
  readonly #faults = new Map<string, number>();

  request(): void {
    this.#requests++;
  }

  responded(status: number): void {
    this.#byStatus.set(status, (this.#byStatus.get(status) ?? 0) + 1);
  }

  fault(kind: FaultKind | 'failUser' | 'tokenRejected'): void {
    this.#faults.set(kind, (this.#faults.get(kind) ?? 0) + 1);
  }

  rateLimited(): void {
    this.#rateLimited++;
  }

  snapshot(tokensMinted: number): SimulatorStats {
    return {
      requests: this.#requests,
      byStatus: Object.fromEntries(this.#byStatus),
      faultsInjected: Object.fromEntries(this.#faults),
      tokensMinted,
      rateLimited: this.#rateLimited,
    };
  }
}
