/**
 * Hands results to `consume` in index order, whatever order they complete in. A batch loads
 * users concurrently, but types and writes their rows in user order: the first value a new
 * column sees (which gives it its type in the batch, until the commit settles it from every
 * value) and the parts written are then the same on every run, not whichever user's requests
 * happened to finish first. At most `window` finished results wait for a slow one;
 * past that, finishers wait too, so memory stays bounded.
 */
export class InOrder<T> {
  readonly #pending = new Map<number, T>();
  #next = 0;
  #waiters: (() => void)[] = [];
  #closed = false;

  constructor(
    private readonly consume: (item: T, index: number) => Promise<void>,
    private readonly window: number,
  ) {}

  /** Resolves once the item is consumed, or waits within the window for earlier items. */
  async put(index: number, item: T): Promise<void> {
    this.#pending.set(index, item);
    let consumed: Promise<void> | undefined;
    while (this.#pending.has(this.#next)) {
      const ready = this.#pending.get(this.#next)!;
      this.#pending.delete(this.#next);
      consumed = this.consume(ready, this.#next++);
    }
    if (this.#pending.size <= this.window) this.#release();
    if (consumed) await consumed;
    while (!this.#closed && this.#pending.has(index) && this.#pending.size > this.window) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** After a failure: nobody may wait for an item that will never come. */
  close(): void {
    this.#closed = true;
    this.#release();
  }

  #release(): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiting) resolve();
  }
}
