/**
 * Latencies counted in a fixed array of `slotMs`-wide slots (0 … maxMs, the last slot holding
 * everything above): constant memory however long a soak runs, exact to one slot at every quantile.
 */
export interface LatencyHistogram {
  record(ms: number): void;
  /** Nearest-rank quantile in ms (NaN when empty). */
  quantile(q: number): number;
  readonly count: number;
  readonly max: number;
  reset(): void;
}

export function createLatencyHistogram(maxMs = 60_000, slotMs = 1): LatencyHistogram {
  const slots = Math.ceil(maxMs / slotMs);
  const counts = new Uint32Array(slots + 1);
  let count = 0;
  let max = 0;
  return {
    record(ms) {
      const slot = Math.min(slots, Math.max(0, Math.round(ms / slotMs)));
      counts[slot]!++;
      count++;
      if (ms > max) max = ms;
    },
    quantile(q) {
      if (count === 0) return Number.NaN;
      const rank = Math.max(1, Math.ceil(q * count));
      let seen = 0;
      for (let i = 0; i <= slots; i++) {
        seen += counts[i]!;
        // i * slotMs, without the binary fraction's tail (0.30000000000000004).
        if (seen >= rank) return Number((i * slotMs).toPrecision(12));
      }
      return maxMs;
    },
    get count() {
      return count;
    },
    get max() {
      return max;
    },
    reset() {
      counts.fill(0);
      count = 0;
      max = 0;
    },
  };
}
