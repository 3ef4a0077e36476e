import type { HierarchyLevel } from '@cityops/protocol';
import type { AlertSeverity } from '../alerts/alert-signal.ts';
import type { BaseSignal, ConditionSet } from './condition-set.ts';
import { placeAt, type DeviceEntry } from './device-directory.ts';
import type { ResolvedThresholdRule } from './rule-definitions.ts';
import { ruleDurationMs } from './rule-duration.ts';
import type { RateOfChangeRule } from './rule-schema.ts';
import { createWindowSeries, type SeriesAggregation, type WindowSeries, type WindowValue } from './window-series.ts';

export interface ReadingRulesConfig {
  /** Smallest time bucket; longer windows get coarser buckets so a series has at most maxBuckets. */
  readonly bucketMs: number;
  readonly maxBuckets: number;
  /** Most (metric, level, place) series held; readings for places beyond it are dropped and counted. */
  readonly maxPlaces: number;
}

export interface ReadingRulesDeps {
  readonly conditions: ConditionSet;
  readonly now: () => number;
  readonly onDrop: (reason: 'places' | 'late', n: number) => void;
  readonly onEvaluations: (n: number) => void;
}

/** One rule's view of one series: what it last decided. */
interface RuleState {
  /** Since when (engine clock) the value has been beyond the threshold; NaN when it is not. */
  since: number;
  active: boolean;
}

/** A rule evaluated on a stream's series. */
interface StreamRule {
  readonly name: string;
  readonly severity: AlertSeverity;
  readonly forMs: number;
  /** Whether the value at the series is beyond the rule's line now; `value` and `threshold` for the signal. */
  breach(series: WindowSeries, now: number, out: Breach): boolean;
  signal(place: string, level: HierarchyLevel, breach: Breach, at: number, observedAt: number): BaseSignal;
}

interface Breach {
  value: number;
  threshold: number;
}

interface SeriesState {
  readonly series: WindowSeries;
  readonly stream: Stream;
  readonly states: RuleState[];
  dirty: boolean;
}

interface Stream {
  readonly index: number;
  readonly metric: string;
  readonly level: HierarchyLevel;
  readonly rules: StreamRule[];
  readonly places: Map<string, SeriesState>;
  spanMs: number;
  quantiles: boolean;
  bucketMs: number;
  length: number;
}

export interface ReadingRules {
  /** Adds a batch's readings from a device; marks the series it touched for evaluation. */
  addReadings(entry: DeviceEntry, readings: readonly { readonly metric: string; readonly ts: number; readonly value: number }[]): void;
  /** Evaluates the series touched since the last call. */
  evaluateDirty(): void;
  /** Evaluates every series (time moves windows and `for` even without readings). */
  evaluateAll(): void;
  /** Newest event time seen across every series, 0 before any. */
  newestTs(): number;
  places(): number;
}

function format(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4).replace(/\.?0+$/, '');
}

function thresholdRule(def: ResolvedThresholdRule): StreamRule {
  const { rule, indicator, aggregation, windowMs, direction, threshold, minSamples, forMs } = def;
  const value: WindowValue = { value: null, samples: 0 };
  const op = direction === 'above' ? '≥' : '≤';
  return {
    name: rule.name,
    severity: rule.severity,
    forMs,
    breach(series, now, out) {
      series.aggregate(aggregation, windowMs, now, value);
      if (value.value === null || value.samples < minSamples) return false;
      out.value = value.value;
      out.threshold = threshold;
      return direction === 'above' ? value.value >= threshold : value.value <= threshold;
    },
    signal(place, level, b, at, observedAt) {
      return {
        key: `${rule.name}:${place}`,
        rule: rule.name,
        kind: 'threshold',
        severity: rule.severity,
        place,
        level,
        metric: def.metric,
        value: b.value,
        threshold: b.threshold,
        // `for: 0s` fires at once: "≥ 5 for 0s" read as nonsense (issue 19).
        summary: `${indicator.title} ${format(b.value)} ${indicator.unit} ${op} ${format(b.threshold)}${forMs === 0 ? '' : ` for ${rule.for}`} at ${place || 'city'}`,
        at,
        observedAt,
        verification: { by: 'indicator', indicator: indicator.name, level, place, windows: rule.verifyWindows },
      };
    },
  };
}

function rateOfChangeRule(rule: RateOfChangeRule): StreamRule {
  const windowMs = ruleDurationMs(rule.window);
  const overMs = ruleDurationMs(rule.over);
  const current: WindowValue = { value: null, samples: 0 };
  const before: WindowValue = { value: null, samples: 0 };
  const rising = rule.direction === 'rising';
  const aggregation = rule.aggregation as SeriesAggregation;
  return {
    name: rule.name,
    severity: rule.severity,
    forMs: ruleDurationMs(rule.for),
    breach(series, now, out) {
      series.aggregate(aggregation, windowMs, now, current);
      series.aggregate(aggregation, windowMs, now - overMs, before);
      if (current.value === null || before.value === null) return false;
      const change = current.value - before.value;
      out.value = change;
      out.threshold = rising ? rule.change : -rule.change;
      return rising ? change > rule.change : -change > rule.change;
    },
    signal(place, level, b, at, observedAt) {
      const unit = rule.unit === undefined ? '' : ` ${rule.unit}`;
      return {
        key: `${rule.name}:${place}`,
        rule: rule.name,
        kind: 'rate_of_change',
        severity: rule.severity,
        place,
        level,
        metric: rule.metric,
        value: b.value,
        threshold: b.threshold,
        summary: `${rule.title}: ${rule.metric} ${rule.aggregation} ${b.value >= 0 ? '+' : ''}${format(b.value)}${unit} in ${rule.over} at ${place || 'city'}`,
        at,
        observedAt,
        verification: { by: 'condition', windowMs: overMs, windows: rule.verifyWindows },
      };
    },
  };
}

/**
 * Threshold and rate-of-change rules over the live stream. Readings of a metric go to one stream
 * per (metric, level) that some rule watches; each stream holds a window series per place. Per
 * reading: one map lookup for the metric, then array work on series cached on the device entry.
 */
export function createReadingRules(
  thresholds: readonly ResolvedThresholdRule[],
  rates: readonly RateOfChangeRule[],
  config: ReadingRulesConfig,
  deps: ReadingRulesDeps,
): ReadingRules {
  const { conditions, now } = deps;
  const streams: Stream[] = [];
  const byMetric = new Map<string, Stream[]>();
  const dirty: SeriesState[] = [];
  const breach: Breach = { value: 0, threshold: 0 };
  let places = 0;

  function streamFor(metric: string, level: HierarchyLevel): Stream {
    let stream = streams.find((s) => s.metric === metric && s.level === level);
    if (stream === undefined) {
      stream = { index: streams.length, metric, level, rules: [], places: new Map(), spanMs: 0, quantiles: false, bucketMs: 0, length: 0 };
      streams.push(stream);
      byMetric.set(metric, [...(byMetric.get(metric) ?? []), stream]);
    }
    return stream;
  }
  for (const def of thresholds) {
    const stream = streamFor(def.metric, def.level);
    stream.rules.push(thresholdRule(def));
    stream.spanMs = Math.max(stream.spanMs, def.windowMs);
    stream.quantiles ||= def.aggregation === 'p95';
  }
  for (const rule of rates) {
    const stream = streamFor(rule.metric, rule.level);
    stream.rules.push(rateOfChangeRule(rule));
    stream.spanMs = Math.max(stream.spanMs, ruleDurationMs(rule.over) + ruleDurationMs(rule.window));
  }
  for (const stream of streams) {
    stream.bucketMs = Math.max(config.bucketMs, Math.ceil(stream.spanMs / config.maxBuckets));
    stream.length = Math.ceil(stream.spanMs / stream.bucketMs) + 2;
  }

  function seriesFor(stream: Stream, entry: DeviceEntry): SeriesState | undefined {
    const place = placeAt(entry, stream.level);
    let state = stream.places.get(place);
    if (state === undefined) {
      if (places >= config.maxPlaces) return undefined;
      places++;
      state = {
        series: createWindowSeries(place, { bucketMs: stream.bucketMs, length: stream.length, quantiles: stream.quantiles }),
        stream,
        states: stream.rules.map(() => ({ since: Number.NaN, active: false })),
        dirty: false,
      };
      stream.places.set(place, state);
    }
    return state;
  }

  function evaluate(state: SeriesState, t: number): void {
    const { stream, series } = state;
    for (let i = 0; i < stream.rules.length; i++) {
      const rule = stream.rules[i]!;
      const rs = state.states[i]!;
      if (rule.breach(series, t, breach)) {
        if (Number.isNaN(rs.since)) rs.since = t;
        if (!rs.active && t - rs.since >= rule.forMs) {
          rs.active = true;
          conditions.activate(rule.signal(series.place, stream.level, breach, t, series.newestTs));
        }
      } else {
        rs.since = Number.NaN;
        if (rs.active) {
          rs.active = false;
          conditions.deactivate(`${rule.name}:${series.place}`, t);
        }
      }
    }
    deps.onEvaluations(stream.rules.length);
  }

  let newest = 0;
  return {
    addReadings(entry, readings) {
      const t = now();
      const cache = entry.cache.series as (SeriesState | null | undefined)[];
      let dropped = 0;
      let late = 0;
      for (let r = 0; r < readings.length; r++) {
        const reading = readings[r]!;
        const list = byMetric.get(reading.metric);
        if (list === undefined) continue;
        for (let k = 0; k < list.length; k++) {
          const stream = list[k]!;
          let state = cache[stream.index];
          if (state === undefined || state === null) {
            state = seriesFor(stream, entry);
            if (state === undefined) {
              dropped++;
              continue;
            }
            cache[stream.index] = state;
          }
          if (!state.series.add(reading.ts, reading.value, t)) late++;
          else if (reading.ts > newest) newest = reading.ts;
          if (!state.dirty) {
            state.dirty = true;
            dirty.push(state);
          }
        }
      }
      if (dropped > 0) deps.onDrop('places', dropped);
      if (late > 0) deps.onDrop('late', late);
    },
    evaluateDirty() {
      if (dirty.length === 0) return;
      const t = now();
      for (const state of dirty) {
        state.dirty = false;
        evaluate(state, t);
      }
      dirty.length = 0;
    },
    evaluateAll() {
      const t = now();
      for (const stream of streams) for (const state of stream.places.values()) evaluate(state, t);
      for (const state of dirty) state.dirty = false;
      dirty.length = 0;
    },
    newestTs: () => newest,
    places: () => places,
  };
}
