/**
 * Seeded randomness for the simulator. Everything it invents (users' data, identifiers,
 * faults) derives from these functions, never from Math.random or the clock, so a seed
 * reproduces a run exactly. sfc32 over a 128-bit cyrb128 hash: a 32-bit state (mulberry32)
 * would give two of ~100k users identical data and ids by the birthday bound.
 */

/** cyrb128: a fast, well-mixed 128-bit string hash (four uint32s). Not cryptographic. */
export function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** Joins parts with NUL so ('a b', 'c') and ('a', 'b c') never hash alike. */
export function hashKey(parts: readonly (string | number)[]): string {
  return parts.join('\u0000');
}

/** A uniform number in [0, 1) that is a pure function of the parts. */
export function hashUnit(...parts: (string | number)[]): number {
  return hash128(hashKey(parts))[0] / 4294967296;
}

/** A seeded generator with the few draws the world needs. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(...parts: (string | number)[]) {
    [this.#a, this.#b, this.#c, this.#d] = hash128(hashKey(parts));
    // Discard the first outputs: sfc32 mixes its state over a few rounds.
    for (let i = 0; i < 12; i++) this.next();
  }

  /** sfc32: uniform in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Picks by relative weight: `weighted([['a', 3], ['b', 1]])` is 'a' three times in four. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((sum, [, w]) => sum + w, 0);
    let roll = this.next() * total;
    for (const [value, weight] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return choices[choices.length - 1]![0];
  }

  /** Up to `count` distinct items, in a random order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const pool = [...items];
    const out: T[] = [];
    while (out.length < count && pool.length > 0) {
      out.push(pool.splice(Math.floor(this.next() * pool.length), 1)[0]!);
    }
    return out;
  }

  /** Lower-case hex digits, e.g. for Mongo-style 24-character ids. */
  hex(length: number): string {
    let out = '';
    while (out.length < length)
      out += Math.floor(this.next() * 4294967296)
        .toString(16)
        .padStart(8, '0');
    return out.slice(0, length);
  }

  /** A money amount with two decimals (which JSON may print as an integer: real drift). */
  money(min: number, max: number): number {
    return Math.round((min + this.next() * (max - min)) * 100) / 100;
  }
}
