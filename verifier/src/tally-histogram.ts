import type { Registry } from 'prom-client';
import { labelKey } from './counter-tally.ts';

export interface TallyHistogramConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  /** Upper bounds, ascending. */
  readonly buckets: readonly number[];
  readonly registers: readonly Registry[];
}

interface Series<L extends string> {
  readonly labels: Readonly<Record<L, string>>;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

type Labels = Record<string, string | number>;
interface Value {
  readonly value: number;
  readonly labels: Labels;
  readonly metricName: string;
  readonly exemplar?: null;
}

/**
 * A Prometheus histogram whose observe is a Map lookup and two additions: prom-client's Histogram
 * checks the labels, hashes them and builds a closure on every observation, a measured share of
 * the verifier's main thread at one observation per verdict (issue 20, cut 4). It registers as a
 * prom-client metric and exposes exactly what a prom-client Histogram fed the same values would
 * (the same text, `_bucket` cumulative with `le` first, `_sum`, `_count`; the test compares them).
 */
export function createTallyHistogram<L extends string>(config: TallyHistogramConfig<L>) {
  const { name, help, labelNames, buckets } = config;
  const series = new Map<string, Series<L>>();

  function values(splay: boolean): (Value & { sharedLabels?: Labels })[] {
    const out: (Value & { sharedLabels?: Labels })[] = [];
    // Buckets carry `exemplar: null` as prom-client's do (exemplars are off), so JSON reads match too.
    const point = (metricName: string, own: Labels, shared: Labels, value: number, exemplar?: null) => {
      const p = splay ? { value, labels: { ...own, ...shared }, metricName } : { value, labels: own, sharedLabels: shared, metricName };
      out.push(exemplar === null ? { ...p, exemplar } : p);
    };
    for (const s of series.values()) {
      let acc = 0;
      for (let i = 0; i < buckets.length; i++) {
        acc += s.counts[i]!;
        point(`${name}_bucket`, { le: buckets[i]! }, s.labels, acc, null);
      }
      point(`${name}_bucket`, { le: '+Inf' }, s.labels, s.count, null);
      point(`${name}_sum`, {}, s.labels, s.sum);
      point(`${name}_count`, {}, s.labels, s.count);
    }
    return out;
  }

  const metric = {
    name,
    help,
    type: 'histogram' as const,
    aggregator: 'sum' as const,
    observe(labels: Readonly<Record<L, string>>, value: number): void {
      if (!Number.isFinite(value)) throw new TypeError(`${name}: value is not a finite number: ${value}`);
      const key = labelKey(labelNames, labels);
      let s = series.get(key);
      if (s === undefined) {
        s = { labels: { ...labels }, counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 };
        series.set(key, s);
      }
      let i = 0;
      while (i < buckets.length && value > buckets[i]!) i++;
      s.counts[i]!++;
      s.sum += value;
      s.count++;
    },
    /** As prom-client's Registry reads it: bucket labels apart from the series' own. */
    getForPromString() {
      return Promise.resolve({ name, help, type: metric.type, aggregator: metric.aggregator, values: values(false) });
    },
    get() {
      return Promise.resolve({ name, help, type: metric.type, aggregator: metric.aggregator, values: values(true) });
    },
    reset(): void {
      series.clear();
    },
  };
  // A prom-client Registry takes any object with name, help, type and get() (registerMetric is typed for its own classes).
  for (const registry of config.registers) registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  return metric;
}

export type TallyHistogram<L extends string> = ReturnType<typeof createTallyHistogram<L>>;
