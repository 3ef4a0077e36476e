/** What a Prometheus text exposition offers, read from its `# TYPE` lines and its samples. */
export interface Exposition {
  /** Family name -> type (counter, gauge, histogram, summary, untyped). */
  readonly families: ReadonlyMap<string, string>;
  /** Every series name a query can use: the families and their histogram/summary series. */
  readonly seriesNames: ReadonlySet<string>;
  /** Label name -> the families that use it (histogram `le` and summary `quantile` left out). */
  readonly labels: ReadonlyMap<string, ReadonlySet<string>>;
  /** Label name -> every value seen. */
  readonly labelValues: ReadonlyMap<string, ReadonlySet<string>>;
}

const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

export function readExposition(text: string): Exposition {
  const families = new Map<string, string>();
  const seriesNames = new Set<string>();
  const labels = new Map<string, Set<string>>();
  const labelValues = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (type !== null) {
      const [, name = '', kind = ''] = type;
      families.set(name, kind);
      seriesNames.add(name);
      for (const suffix of SUFFIXES[kind] ?? []) seriesNames.add(name + suffix);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (sample === null) continue;
    const [, series = '', labelText = ''] = sample;
    for (const [, name = '', value = ''] of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (name === 'le' || name === 'quantile') continue;
      setOf(labels, name).add(series.replace(/_(bucket|sum|count)$/, ''));
      setOf(labelValues, name).add(value);
    }
  }
  return { families, seriesNames, labels, labelValues };
}

/** Every `cityops_*` metric name a text (a PromQL expression, a rules file) mentions. */
export function cityopsNames(text: string): Set<string> {
  return new Set(text.match(/\bcityops_[a-z0-9_]+/g) ?? []);
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  return set;
}
