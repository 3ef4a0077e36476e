import { createQuantileSketch, type QuantileSketch } from './quantile-sketch.ts';

/** What a window aggregate reports: the value (null without samples) and how many readings it saw. */
export interface WindowValue {
  value: number | null;
  samples: number;
}

export type SeriesAggregation = 'avg' | 'min' | 'max' | 'count' | 'rate' | 'p95';

/**
 * The readings of one metric at one place, in a ring of fixed time buckets (event time). Memory is
 * fixed at creation: `length` buckets of count, sum, min and max, plus a quantile sketch per bucket
 * when a p95 rule needs it. A bucket is reset when the ring comes round to it again; readings older
 * than the ring are refused (the caller counts them). Adding a reading allocates nothing (a p95
 * bucket may grow its map when a value falls in a new log bucket).
 */
export interface WindowSeries {
  readonly place: string;
  /** Adds a reading; false when it is older than the ring reaches (relative to `nowMs`). */
  add(ts: number, value: number, nowMs: number): boolean;
  /** The aggregate over the `windowMs` ending at `endMs` (bucket-aligned: up to one bucket more). */
  aggregate(aggregation: SeriesAggregation, windowMs: number, endMs: number, out: WindowValue): WindowValue;
  /** Newest event time added. */
  readonly newestTs: number;
}

export interface WindowSeriesOptions {
  readonly bucketMs: number;
  /** Buckets in the ring: covers the longest window (plus look-back) any rule asks of the series. */
  readonly length: number;
  readonly quantiles: boolean;
}

export function createWindowSeries(place: string, options: WindowSeriesOptions): WindowSeries {
  const { bucketMs, length } = options;
  const epoch = new Float64Array(length).fill(-1);
  const count = new Float64Array(length);
  const sum = new Float64Array(length);
  const min = new Float64Array(length);
  const max = new Float64Array(length);
  const sketches: QuantileSketch[] | undefined = options.quantiles ? Array.from({ length }, () => createQuantileSketch(0.01)) : undefined;
  const scratch = options.quantiles ? createQuantileSketch(0.01) : undefined;
  let newestTs = 0;

  return {
    place,
    get newestTs() {
      return newestTs;
    },
    add(ts, value, nowMs) {
      const current = Math.floor(nowMs / bucketMs);
      // A device clock ahead of ours counts as now: the window ends now.
      let b = Math.floor(ts / bucketMs);
      if (b > current) b = current;
      if (b <= current - length) return false;
      const slot = b % length;
      if (epoch[slot] !== b) {
        if (epoch[slot]! > b) return false; // the slot holds a newer bucket: this one has left the ring
        epoch[slot] = b;
        count[slot] = 1;
        sum[slot] = value;
        min[slot] = value;
        max[slot] = value;
        if (sketches !== undefined) {
          sketches[slot]!.clear();
          sketches[slot]!.add(value);
        }
      } else {
        count[slot]!++;
        sum[slot]! += value;
        if (value < min[slot]!) min[slot] = value;
        if (value > max[slot]!) max[slot] = value;
        sketches?.[slot]!.add(value);
      }
      if (ts > newestTs) newestTs = ts;
      return true;
    },
    aggregate(aggregation, windowMs, endMs, out) {
      const last = Math.floor(endMs / bucketMs);
      const buckets = Math.min(length, Math.max(1, Math.ceil(windowMs / bucketMs)));
      let n = 0;
      let s = 0;
      let lo = Infinity;
      let hi = -Infinity;
      scratch?.clear();
      for (let b = last - buckets + 1; b <= last; b++) {
        if (b < 0) continue;
        const slot = b % length;
        if (epoch[slot] !== b) continue;
        n += count[slot]!;
        s += sum[slot]!;
        if (min[slot]! < lo) lo = min[slot]!;
        if (max[slot]! > hi) hi = max[slot]!;
        if (aggregation === 'p95') scratch?.mergeFrom(sketches![slot]!);
      }
      out.samples = n;
      if (n === 0) {
        out.value = aggregation === 'count' || aggregation === 'rate' ? 0 : null;
        return out;
      }
      switch (aggregation) {
        case 'avg':
          out.value = s / n;
          break;
        case 'min':
          out.value = lo;
          break;
        case 'max':
          out.value = hi;
          break;
        case 'count':
          out.value = n;
          break;
        case 'rate':
          out.value = s / (windowMs / 1000);
          break;
        case 'p95':
          out.value = scratch?.quantile(0.95) ?? null;
          break;
      }
      return out;
    },
  };
}
