import { describe, expect, it } from 'vitest';
import { createWaitMeter } from '#core/wait-meter.ts';

describe('createWaitMeter', () => {
  it('sums concurrent waits, counting the ones still going up to now', () => {
    let now = 0;
    const meter = createWaitMeter(() => now);
    const first = meter.begin();
    now = 10;
    const second = meter.begin();
    now = 30;
    expect(meter.totalMs()).toBe(30 + 20);
    first();
    now = 50;
    expect(meter.totalMs()).toBe(30 + 40);
    second();
    now = 500;
    expect(meter.totalMs()).toBe(70);
  });

  it('counts a wait once however often it is ended', () => {
    let now = 0;
    const meter = createWaitMeter(() => now);
    const end = meter.begin();
    now = 5;
    end();
    now = 9;
    end();
    expect(meter.totalMs()).toBe(5);
  });
});
