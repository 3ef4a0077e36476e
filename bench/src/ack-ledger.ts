/**
 * Which batches (by seq) of one device were acknowledged, kept as sorted inclusive ranges: a soak's
 * millions of PUBACKs cost a few numbers per device, since QoS 1 acknowledgements come back in order.
 */
export type SeqRanges = [number, number][];

export interface AckLedger {
  add(seq: number): void;
  ranges(): SeqRanges;
}

export function createAckLedger(): AckLedger {
  const ranges: SeqRanges = [];
  let ordered = true;
  return {
    add(seq) {
      const last = ranges[ranges.length - 1];
      if (last !== undefined && seq === last[1] + 1) last[1] = seq;
      else {
        if (last !== undefined && seq <= last[1]) ordered = false;
        ranges.push([seq, seq]);
      }
    },
    ranges() {
      if (!ordered) {
        ranges.sort((a, b) => a[0] - b[0]);
        const merged: SeqRanges = [];
        for (const r of ranges) {
          const prev = merged[merged.length - 1];
          if (prev !== undefined && r[0] <= prev[1] + 1) prev[1] = Math.max(prev[1], r[1]);
          else merged.push([r[0], r[1]]);
        }
        ranges.splice(0, ranges.length, ...merged);
        ordered = true;
      }
      return ranges.map(([a, b]) => [a, b]);
    },
  };
}

/** Number of seqs the ranges cover. */
export function rangesSize(ranges: SeqRanges): number {
  return ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
}
