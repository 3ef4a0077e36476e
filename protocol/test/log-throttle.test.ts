import { describe, expect, it } from 'vitest';
import { createLogThrottle } from '../src/log-throttle.ts';

describe('log throttle', () => {
  it('lets a key through once per interval, keys apart, and bounds what it remembers', () => {
    let t = 1_000;
    const allow = createLogThrottle({ intervalMs: 10_000, maxKeys: 3, now: () => t });
    expect([1, 2, 3, 4, 5].map(() => allow('scn-1'))).toEqual([true, false, false, false, false]);
    expect(allow('scn-2')).toBe(true);
    t += 9_999;
    expect(allow('scn-1')).toBe(false);
    t += 1;
    expect(allow('scn-1')).toBe(true);
    // A fourth key clears the memory: a flood of new keys costs at most maxKeys entries.
    expect(allow('scn-3')).toBe(true);
    expect(allow('scn-4')).toBe(true);
    expect(allow('scn-2')).toBe(true);
  });
});
