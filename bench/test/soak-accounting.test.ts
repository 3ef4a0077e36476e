import { describe, expect, it } from 'vitest';
import { createAckLedger, rangesSize } from '../src/ack-ledger.ts';
import { createLatencyHistogram } from '../src/latency-histogram.ts';
import { leastSquaresSlope } from '../src/least-squares.ts';

// The soak's bookkeeping: what it says was acknowledged, how fast memory grew, and its PUBACK quantiles.
describe('soak accounting', () => {
  it('keeps acknowledged seqs as ranges, merging PUBACKs that came back out of order', () => {
    const ledger = createAckLedger();
    for (const seq of [1, 2, 3, 5, 4, 7, 9, 8]) ledger.add(seq);
    expect(ledger.ranges()).toEqual([
      [1, 5],
      [7, 9],
    ]);
    expect(rangesSize(ledger.ranges())).toBe(8);
  });

  it('fits the slope of a growing saw-tooth, not its first-to-last difference', () => {
    // 10 MiB/hour growth with a 40 MiB garbage-collector saw-tooth every 10 samples.
    const points = Array.from({ length: 100 }, (_, i) => ({ x: i / 100, y: 500 + 10 * (i / 100) + (i % 10) * 4 }));
    const firstToLast = points[99]!.y - points[0]!.y; // 45.9: the saw-tooth's last tooth counted as growth
    expect(firstToLast).toBeGreaterThan(40);
    expect(Math.abs(leastSquaresSlope(points) - 10)).toBeLessThan(5);
    expect(leastSquaresSlope([{ x: 1, y: 2 }])).toBeNaN();
  });

  it('gives nearest-rank quantiles to the millisecond and forgets an interval on reset', () => {
    const h = createLatencyHistogram(1_000);
    for (let ms = 1; ms <= 100; ms++) h.record(ms);
    h.record(5_000); // above the range: counted in the last slot
    expect([h.quantile(0.5), h.quantile(0.99), h.count, h.max]).toEqual([51, 100, 101, 5_000]);
    h.reset();
    expect(h.quantile(0.99)).toBeNaN();
  });

  it('counts in slots finer than a millisecond when asked', () => {
    const h = createLatencyHistogram(1_000, 0.1);
    for (let i = 1; i <= 100; i++) h.record(7 + i / 100); // 7.01 … 8.00 ms
    expect([h.quantile(0.5), h.quantile(0.99)]).toEqual([7.5, 8]);
    h.record(0.04);
    expect(h.quantile(0)).toBe(0);
    h.record(2_000); // above the range: the last slot
    expect(h.quantile(1)).toBe(1_000);
  });
});
