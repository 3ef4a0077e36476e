import type { Counter } from 'prom-client';

/** One key per label set: the values in label-name order (label values are closed sets, never \u0001). */
export function labelKey<L extends string>(labelNames: readonly L[], labels: Readonly<Record<L, string>>): string {
  let key = labels[labelNames[0]!];
  for (let i = 1; i < labelNames.length; i++) key += `\u0001${labels[labelNames[i]!]}`;
  return key;
}

export interface CounterTally<L extends string> {
  /** Counts one (or n) under a label set: a Map lookup, no prom-client call. */
  add(labels: Readonly<Record<L, string>>, n?: number): void;
  /** Hands every label set's count to `counter` (one inc each) and starts again from zero. */
  drainInto(counter: Counter<L>): void;
}

/**
 * Counts of a prom-client counter kept in plain numbers on the hot path and added to the counter
 * when it is read (a scrape calls its collect): prom-client's inc checks and hashes the label set
 * on every call, which per verdict was a measured share of the main thread (issue 20, cut 4).
 * The exposed values are the same at every scrape. Bounded: one entry per label set, and label
 * values come from closed sets.
 */
export function createCounterTally<L extends string>(labelNames: readonly L[]): CounterTally<L> {
  let pending = new Map<string, { labels: Readonly<Record<L, string>>; n: number }>();
  return {
    add(labels, n = 1) {
      const key = labelKey(labelNames, labels);
      const entry = pending.get(key);
      if (entry === undefined) pending.set(key, { labels: { ...labels }, n });
      else entry.n += n;
    },
    drainInto(counter) {
      if (pending.size === 0) return;
      const drained = pending;
      pending = new Map();
      for (const { labels, n } of drained.values()) counter.inc(labels as Partial<Record<L, string>>, n);
    },
  };
}
