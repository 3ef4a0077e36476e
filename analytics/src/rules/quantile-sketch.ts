/**
 * A log-bucket quantile sketch (DDSketch's mapping, as ClickHouse's `quantileDD`): a positive value
 * v falls in bucket ceil(log_γ v) with γ = (1 + α) / (1 − α), so any value reported for a bucket
 * is within relative error α of every value in it. Negative values mirror into their own buckets,
 * values within ±MIN_MAGNITUDE count as zero. Buckets live in a Map: memory grows with the spread
 * of the values, not their number, and adding to an existing bucket allocates nothing.
 */
export interface QuantileSketch {
  add(value: number): void;
  /** Adds every bucket of another sketch (of the same accuracy). */
  mergeFrom(other: QuantileSketch): void;
  clear(): void;
  /** The q-quantile (0 ≤ q ≤ 1), null when empty. */
  quantile(q: number): number | null;
  readonly count: number;
  /** Internal: bucket index → count; negative values under negative indexes offset by OFFSET. */
  readonly buckets: Map<number, number>;
}

const MIN_MAGNITUDE = 1e-9;
/** Negative values' bucket indexes are shifted below every positive one. */
const NEGATIVE_OFFSET = -1e7;
const ZERO_BUCKET = NEGATIVE_OFFSET / 2;

export function createQuantileSketch(relativeAccuracy = 0.01): QuantileSketch {
  const gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
  const logGamma = Math.log(gamma);
  const buckets = new Map<number, number>();
  let count = 0;

  function indexOf(value: number): number {
    if (value > MIN_MAGNITUDE) return Math.ceil(Math.log(value) / logGamma);
    if (value < -MIN_MAGNITUDE) return NEGATIVE_OFFSET - Math.ceil(Math.log(-value) / logGamma);
    return ZERO_BUCKET;
  }

  /** The value a bucket stands for: the point within α of both its ends. */
  function valueOf(index: number): number {
    if (index === ZERO_BUCKET) return 0;
    if (index < ZERO_BUCKET) return -((2 * gamma ** (NEGATIVE_OFFSET - index)) / (gamma + 1));
    return (2 * gamma ** index) / (gamma + 1);
  }

  return {
    buckets,
    get count() {
      return count;
    },
    add(value) {
      const i = indexOf(value);
      buckets.set(i, (buckets.get(i) ?? 0) + 1);
      count++;
    },
    mergeFrom(other) {
      for (const [i, n] of other.buckets) buckets.set(i, (buckets.get(i) ?? 0) + n);
      count += other.count;
    },
    clear() {
      buckets.clear();
      count = 0;
    },
    quantile(q) {
      if (count === 0) return null;
      // Ascending values: negatives (most negative first), zero, then positives.
      const keys = [...buckets.keys()].sort((a, b) => rank(a) - rank(b));
      const target = q * (count - 1);
      let seen = 0;
      for (const k of keys) {
        seen += buckets.get(k) ?? 0;
        if (seen > target) return valueOf(k);
      }
      return valueOf(keys[keys.length - 1]!);
    },
  };
}

/** Orders bucket indexes by the values they stand for: negatives (larger magnitude first), zero, positives. */
function rank(index: number): number {
  if (index === ZERO_BUCKET) return 0;
  if (index < ZERO_BUCKET) return -(3e7 + (NEGATIVE_OFFSET - index));
  return 3e7 + index;
}
