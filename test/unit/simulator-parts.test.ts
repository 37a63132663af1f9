import { describe, expect, it } from 'vitest';
import { BoundedMap } from '#simulator/bounded-map.ts';
import { FaultInjector, malformedBody, serverErrorStatus, TOKEN_FAULT_KINDS } from '#simulator/faults.ts';
import { type FaultOptions, faultOptionsSchema } from '#simulator/options.ts';
import { hashUnit, Rng } from '#simulator/prng.ts';
import { SlidingWindow, TokenBucket } from '#simulator/rate-limit.ts';
import { Timers } from '#simulator/timers.ts';
import { TokenStore } from '#simulator/tokens.ts';

const injector = (faults: FaultOptions, seed = 's') =>
  new FaultInjector(seed, faultOptionsSchema.parse(faults));
/** The fate of attempts 0..n-1 of one request: a fault kind or 'ok'. */
const fates = (inj: FaultInjector, identity: string, n: number) =>
  Array.from({ length: n }, () => inj.next(identity)?.kind ?? 'ok');

describe('Rng', () => {
  it('repeats its sequence for the same seed parts and differs for others', () => {
    const draw = (...parts: string[]) => {
      const rng = new Rng(...parts);
      return Array.from({ length: 5 }, () => rng.next());
    };
    expect(draw('a', 'b')).toEqual(draw('a', 'b'));
    expect(draw('a', 'b')).not.toEqual(draw('a b'));
    expect(draw('a', 'b')).not.toEqual(draw('ab'));
  });

  it('draws integers within inclusive bounds and covers them all', () => {
    const rng = new Rng('ints');
    const seen = new Set(Array.from({ length: 500 }, () => rng.int(1, 4)));
    expect([...seen].sort()).toEqual([1, 2, 3, 4]);
  });

  it('spreads hashUnit evenly over [0, 1)', () => {
    const values = Array.from({ length: 4000 }, (_, i) => hashUnit('x', i));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean).toBeGreaterThan(0.47);
    expect(mean).toBeLessThan(0.53);
  });
});

describe('BoundedMap', () => {
  it('forgets the least recently used entry past its bound', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.get('a');
    map.set('c', 3);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(1);
    expect(map.get('c')).toBe(3);
    expect(map.size).toBe(2);
  });
});

describe('FaultInjector', () => {
  it('never faults one request more than maxConsecutiveFaults times in a row', () => {
    expect(fates(injector({ status429Rate: 1 }), 'r', 6)).toEqual([
      'status429',
      'status429',
      'ok',
      'status429',
      'status429',
      'ok',
    ]);
    expect(fates(injector({ status5xxRate: 1, maxConsecutiveFaults: 0 }), 'r', 3)).toEqual([
      'ok',
      'ok',
      'ok',
    ]);
  });

  it('decides each attempt from seed, request and attempt number alone', () => {
    const faults = { status429Rate: 0.2, status5xxRate: 0.2, malformedRate: 0.2, hangRate: 0.1 };
    const a = injector(faults);
    const b = injector(faults);
    const alone = fates(a, 'req-1', 12);
    // Interleave other requests on b: req-1's fates must not change.
    const interleaved = Array.from({ length: 12 }, (_, i) => {
      b.next(`other-${i}`);
      return b.next('req-1')?.kind ?? 'ok';
    });
    expect(interleaved).toEqual(alone);
    const c = injector(faults, 'another seed');
    const other = Array.from({ length: 50 }, (_, i) => fates(c, `r${i}`, 3).join());
    const same = Array.from({ length: 50 }, (_, i) => fates(injector(faults), `r${i}`, 3).join());
    expect(other).not.toEqual(same);
  });

  it('injects each kind at about its configured rate', () => {
    const inj = injector({ status429Rate: 0.1, status5xxRate: 0.2, malformedRate: 0.05, hangRate: 0.05 });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 5000; i++) {
      const kind = inj.next(`first-attempt-${i}`)?.kind ?? 'ok';
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
    expect(counts.status429! / 5000).toBeCloseTo(0.1, 1);
    expect(counts.status5xx! / 5000).toBeCloseTo(0.2, 1);
    expect(counts.malformed! / 5000).toBeCloseTo(0.05, 1);
    expect(counts.hang! / 5000).toBeCloseTo(0.05, 1);
  });

  it('answers normally when the drawn fault is not allowed for the endpoint', () => {
    const inj = injector({ malformedRate: 0.5, hangRate: 0.5 });
    const kinds = Array.from({ length: 100 }, (_, i) => inj.next(`t${i}`, TOKEN_FAULT_KINDS));
    expect(kinds.every((k) => k === undefined)).toBe(true);
  });

  it('rotates server errors over 503, 500 and 502', () => {
    const inj = injector({ status5xxRate: 1 });
    const statuses = new Set(
      Array.from({ length: 60 }, (_, i) => {
        const fault = inj.next(`s${i}`);
        return fault ? serverErrorStatus(fault) : 0;
      }),
    );
    expect([...statuses].sort()).toEqual([500, 502, 503]);
  });

  it('makes every malformed body unparseable', () => {
    const inj = injector({ malformedRate: 1 });
    const body = JSON.stringify({ accounts: [{ _id: 'a' }, { _id: 'b' }] });
    const variants = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const fault = inj.next(`m${i}`)!;
      const broken = malformedBody(body, fault);
      variants.add(broken);
      expect(() => JSON.parse(broken)).toThrow();
    }
    expect(variants.size).toBe(3);
  });

  it('fails listed users and a deterministic share of the rest', () => {
    const inj = injector({ failUsers: ['Zoë Ångström 7'], failUserRate: 0.25 });
    expect(inj.userFails('Zoë Ångström 7')).toBe(true);
    const failing = Array.from({ length: 2000 }, (_, i) => inj.userFails(`user-${i}`)).filter(Boolean).length;
    expect(failing / 2000).toBeCloseTo(0.25, 1);
    expect(injector({ failUserRate: 0.25 }).userFails('user-7')).toBe(inj.userFails('user-7'));
    expect(injector({}).userFails('user-7')).toBe(false);
  });

  it('wraps bodies for all, none or a stable half of users by envelope mode', () => {
    const users = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    expect(users.every((u) => injector({ envelope: 'data' }).dataEnvelope(u))).toBe(true);
    expect(users.some((u) => injector({ envelope: 'top' }).dataEnvelope(u))).toBe(false);
    const mixed = injector({ envelope: 'mixed' });
    const wrapped = users.filter((u) => mixed.dataEnvelope(u)).length;
    expect(wrapped).toBeGreaterThan(150);
    expect(wrapped).toBeLessThan(250);
    expect(users.filter((u) => injector({ envelope: 'mixed' }).dataEnvelope(u)).length).toBe(wrapped);
  });
});

describe('SlidingWindow', () => {
  it('accepts at most S requests in any one-second window, counted as they come', () => {
    let now = 0;
    const window = new SlidingWindow(3, () => now);
    for (const at of [0, 100, 200]) {
      now = at;
      expect(window.take().ok).toBe(true);
    }
    now = 999;
    expect(window.take()).toEqual({ ok: false, retryAfterSeconds: 1 });
    // One second after the first, its slot frees; the next frees at 1100.
    now = 1000;
    expect(window.take().ok).toBe(true);
    expect(window.take().ok).toBe(false);
  });

  it('refuses what a client bunches after a stall, which the token bucket lets pass', () => {
    // S = 4: one request every 250 ms; the client stalls 300 ms and sends its two late ones together.
    let now = 0;
    const window = new SlidingWindow(4, () => now);
    const bucket = new TokenBucket(4, () => now);
    const results = [0, 250, 500, 750, 1000, 1550, 1550, 1750, 2000, 2250].map((at) => {
      now = at;
      return [window.take().ok, bucket.take().ok];
    });
    // 1550, 1550, 1750, 2000 and 2250: five in the second after 1550.
    expect(results.map(([w]) => w)).toEqual([true, true, true, true, true, true, true, true, true, false]);
    expect(results.every(([, b]) => b)).toBe(true);
  });
});

describe('TokenBucket', () => {
  it('allows a second of burst, then refuses with the seconds until the next token', () => {
    let now = 0;
    const bucket = new TokenBucket(2, () => now);
    expect(bucket.take().ok).toBe(true);
    expect(bucket.take().ok).toBe(true);
    expect(bucket.take()).toEqual({ ok: false, retryAfterSeconds: 1 });
    now = 500;
    expect(bucket.take().ok).toBe(true);
    expect(bucket.take().ok).toBe(false);
  });

  it('asks for more than a second when the rate is below one per second', () => {
    let now = 0;
    const bucket = new TokenBucket(0.25, () => now);
    expect(bucket.take().ok).toBe(true);
    expect(bucket.take()).toEqual({ ok: false, retryAfterSeconds: 4 });
    now = 4000;
    expect(bucket.take().ok).toBe(true);
  });
});

describe('TokenStore', () => {
  it('mints distinct uuid-shaped tokens bound to their identifier', () => {
    const store = new TokenStore('s', undefined);
    const a = store.mint('user-1');
    const b = store.mint('user-1');
    expect(a.publicToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.publicToken).not.toBe(b.publicToken);
    expect(a.publicToken).not.toBe(a.token);
    expect(store.use(a.publicToken)).toEqual({ ok: true, identifier: 'user-1' });
    expect(store.use('nope')).toEqual({ ok: false, reason: 'unknown' });
    expect(store.minted).toBe(2);
  });

  it('expires a token after maxUses data calls', () => {
    const store = new TokenStore('s', 2);
    const { publicToken } = store.mint('u');
    expect(store.use(publicToken).ok).toBe(true);
    expect(store.use(publicToken).ok).toBe(true);
    expect(store.use(publicToken)).toEqual({ ok: false, reason: 'expired' });
  });
});

describe('Timers', () => {
  it('resolves a wait true when it elapses and false at once when cancelled', async () => {
    const timers = new Timers();
    expect(await timers.wait(5)).toBe(true);
    const long = timers.wait(60_000);
    const started = performance.now();
    timers.cancelAll();
    expect(await long).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await timers.wait(60_000)).toBe(false);
  });
});
