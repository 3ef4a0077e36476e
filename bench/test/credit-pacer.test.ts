import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCreditPacer } from '../src/credit-pacer.ts';

describe('credit pacer', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['performance'] }));
  afterEach(() => vi.useRealTimers());

  it('spends what the rate earned, round-robin, never past a client\'s window, and caps the burst', () => {
    const sent: number[] = [];
    const pacer = createCreditPacer({ clients: 3, inflight: 2, burstSeconds: 0.5 }, (i) => sent.push(i));
    pacer.setRate(10);
    vi.advanceTimersByTime(300); // 3 earned
    pacer.tick();
    expect(sent).toEqual([0, 1, 2]);
    vi.advanceTimersByTime(10_000); // capped at half a second: 5, of which the windows take 3
    pacer.tick();
    expect(sent).toEqual([0, 1, 2, 0, 1, 2]);
    expect(pacer.inflight()).toBe(6);
    pacer.done(1);
    pacer.tick(); // 2 left in credit: only client 1 has room
    expect(sent.slice(6)).toEqual([1]);
    pacer.done(0);
    pacer.done(2);
    pacer.tick(); // the last 1: the next in turn after client 1
    expect(sent.slice(7)).toEqual([2]);
    expect(pacer.inflight()).toBe(5); // client 0's second slot is free: no credit left for it
  });

  it('pauses at rate 0 and forgets the old rate\'s credit at a new one', () => {
    const sent: number[] = [];
    const pacer = createCreditPacer({ clients: 1, inflight: 100, burstSeconds: 1 }, (i) => sent.push(i));
    pacer.setRate(50);
    vi.advanceTimersByTime(100);
    pacer.setRate(0);
    vi.advanceTimersByTime(1000);
    pacer.tick();
    expect(sent).toHaveLength(0);
    pacer.setRate(10);
    vi.advanceTimersByTime(200);
    pacer.tick();
    expect(sent).toHaveLength(2);
  });
});
