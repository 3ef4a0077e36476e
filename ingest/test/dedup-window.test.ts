import { describe, expect, it } from 'vitest';
import { createDedupWindow } from '../src/dedup-window.ts';

describe('dedup window', () => {
  it('remembers a key once, and forgets the oldest when full', () => {
    const w = createDedupWindow(3);
    expect([1, 2, 3].map((seq) => w.remember('gw', 1, seq))).toEqual([true, true, true]);
    expect(w.remember('gw', 1, 2)).toBe(false);
    expect(w.remember('gw', 1, 4)).toBe(true); // 1 is forgotten
    expect([1, 2, 3, 4].map((seq) => w.has('gw', 1, seq))).toEqual([false, true, true, true]);
    expect(w.size()).toBe(3);
    expect(w.remember('gw', 1, 1)).toBe(true); // seen again, long ago: new; 2 goes
    expect(w.has('gw', 1, 2)).toBe(false);
  });

  it('keys device, boot and seq apart', () => {
    const w = createDedupWindow(10);
    expect(w.remember('gw-1', 1, 5)).toBe(true);
    expect([w.remember('gw-2', 1, 5), w.remember('gw-1', 2, 5), w.remember('gw-1', 1, 5)]).toEqual([true, true, false]);
  });

  it('a key forgotten (its batch not made durable) can be remembered again, and then lasts a whole window', () => {
    const w = createDedupWindow(3);
    w.remember('gw', 1, 1);
    w.forget('gw', 1, 1);
    expect(w.has('gw', 1, 1)).toBe(false);
    expect(w.size()).toBe(0);
    w.remember('gw', 1, 2);
    w.remember('gw', 1, 1); // the retry
    w.remember('gw', 1, 3);
    // The first slot (where 1 was) comes round: it is empty, so the retried 1 stays.
    w.remember('gw', 1, 4);
    expect([1, 2, 3, 4].map((seq) => w.has('gw', 1, seq))).toEqual([true, true, true, true].map((_, i) => i !== 1));
    w.forget('gw', 1, 99); // unknown: nothing happens
    expect(w.size()).toBe(3);
  });

  it('stays exact over many windows', () => {
    const w = createDedupWindow(1_000);
    for (let seq = 0; seq < 10_000; seq++) expect(w.remember('gw', 1, seq)).toBe(true);
    expect(w.size()).toBe(1_000);
    expect(w.has('gw', 1, 8_999)).toBe(false);
    expect(w.has('gw', 1, 9_000)).toBe(true);
  });
});
