import { describe, expect, it } from 'vitest';
import { displayWidth, padDisplay } from '#cli/text-width.ts';

describe('terminal display width', () => {
  it('counts wide CJK characters and emoji as two columns, combining marks as none', () => {
    expect(displayWidth('Netflix')).toBe(7);
    expect(displayWidth('楽天モバイル')).toBe(12);
    expect(displayWidth('山田 太郎')).toBe(9);
    expect(displayWidth('🦄')).toBe(2);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('Électricité')).toBe(11);
  });

  it('pads by display width so wide names line up with narrow ones', () => {
    expect(padDisplay('楽天', 6)).toBe('楽天  ');
    expect(padDisplay('42', 5, true)).toBe('   42');
  });
});
