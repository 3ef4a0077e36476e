/**
 * Latencies in whole milliseconds counted in a fixed array (0 … maxMs, the last slot holding
 * everything above): constant memory however long a soak runs, exact to 1 ms at every quantile.
 */
export interface LatencyHistogram {
  record(ms: number): void;
  /** Nearest-rank quantile in ms (NaN when empty). */
  quantile(q: number): number;
  readonly count: number;
  readonly max: number;
  reset(): void;
}

export function createLatencyHistogram(maxMs = 60_000): LatencyHistogram {
  const counts = new Uint32Array(maxMs + 1);
  let count = 0;
  let max = 0;
  return {
    record(ms) {
      const slot = Math.min(maxMs, Math.max(0, Math.round(ms)));
      counts[slot]!++;
      count++;
      if (ms > max) max = ms;
    },
    quantile(q) {
      if (count === 0) return Number.NaN;
      const rank = Math.max(1, Math.ceil(q * count));
      let seen = 0;
      for (let i = 0; i <= maxMs; i++) {
        seen += counts[i]!;
        if (seen >= rank) return i;
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
