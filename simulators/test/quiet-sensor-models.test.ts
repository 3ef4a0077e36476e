import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSeededRandom, isMetric, SENSOR_MODELS } from '@cityops/edge-agent';

/**
 * A quiet city is quiet at every hour: no sensor model, left to itself, may cross a threshold that a
 * shipped alert rule watches, whatever its seed and whatever the time of day or tide. The README's
 * tour and `cityops up --scenario` promise that every alert is one of the scenario's incidents; a
 * sensor whose normal tide reached the flood mark at some hours broke that promise in CI (an extra
 * water_level_flooding_grid alert at 19:37 UTC, never at the 10:30 the city test runs at).
 *
 * Each rule is checked on one sensor alone, the worst case of a grid or district that holds a single
 * sensor of the metric (the indicator aggregates over all of a place's sensors: never more extreme
 * than the most extreme one). Two days from a fixed epoch cover every hour and four tides; the
 * readings' dates do not matter to the models beyond the hour and the tide, so this holds any day.
 */
const rules = JSON.parse(readFileSync(new URL('../../analytics/alerts/city-rules.json', import.meta.url), 'utf8')) as { rules: Rule[] };
const indicators = JSON.parse(readFileSync(new URL('../../analytics/indicators/city-indicators.json', import.meta.url), 'utf8')) as { indicators: Indicator[] };

interface Rule {
  readonly name: string;
  readonly kind: string;
  readonly indicator?: string;
  readonly level?: string;
  readonly severity?: 'warning' | 'critical';
  readonly metric?: string;
  readonly aggregation?: string;
  readonly window?: string;
  readonly direction?: 'rising' | 'falling';
  readonly change?: number;
  readonly over?: string;
}

interface Indicator {
  readonly name: string;
  readonly metric: string;
  readonly aggregation: string;
  readonly window: string;
  readonly direction?: 'above' | 'below';
  readonly thresholds?: Record<string, { warning: number; critical: number }>;
}

const SEEDS = 150;
const SAMPLE_MS = 3_000;
const EVERY_MS = 30_000;
const SPAN_MS = 48 * 3_600_000;
const EPOCH = Date.UTC(2026, 0, 1);

function durationMs(text: string): number {
  const match = /^(\d+)([smh])$/.exec(text);
  if (match === null) throw new Error(`unexpected duration ${text}`);
  return Number(match[1]) * { s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as 's' | 'm' | 'h'];
}

function aggregate(kind: string, window: readonly number[]): number {
  if (kind === 'avg') return window.reduce((a, b) => a + b, 0) / window.length;
  if (kind === 'max') return Math.max(...window);
  if (kind === 'min') return Math.min(...window);
  if (kind === 'p95') {
    const sorted = Float64Array.from(window).sort();
    const at = 0.95 * (sorted.length - 1);
    const low = Math.floor(at);
    return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (at - low);
  }
  throw new Error(`no aggregation ${kind} in this test`);
}

/** Every EVERY_MS, the aggregate of the last `windowMs` of one sensor's readings, for each seed. */
function* windows(metric: string, windowMs: number, kind: string): Generator<{ seed: number; at: number; value: number }> {
  if (!isMetric(metric)) throw new Error(`no model for ${metric}`);
  const size = windowMs / SAMPLE_MS;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const sample = SENSOR_MODELS[metric].createSampler(createSeededRandom(seed * 104_729 + metric.length));
    const ring: number[] = [];
    for (let at = EPOCH; at < EPOCH + SPAN_MS; at += SAMPLE_MS) {
      ring.push(sample(at));
      if (ring.length > size) ring.shift();
      if (ring.length === size && (at - EPOCH) % EVERY_MS === 0) yield { seed, at, value: aggregate(kind, ring) };
    }
  }
}

const thresholdRules = rules.rules.filter((r) => r.kind === 'threshold');
const rateRules = rules.rules.filter((r) => r.kind === 'rate_of_change');

describe('sensor models in a quiet city', () => {
  it('has threshold and rate-of-change rules to check', () => {
    expect(thresholdRules.length).toBeGreaterThanOrEqual(5);
    expect(rateRules.length).toBeGreaterThanOrEqual(1);
  });

  it.each(thresholdRules.map((r) => [r.name, r] as const))('%s: no sensor alone reaches its warning at any hour', (_name, rule) => {
    const def = indicators.indicators.find((i) => i.name === rule.indicator)!;
    const set = def.thresholds?.[rule.level!] ?? def.thresholds!.default!;
    // The lower bar of the two: a quiet sensor stays clear of the warning even where the rule is critical.
    const bar = set.warning;
    let worst: { seed: number; at: number; value: number } | undefined;
    for (const w of windows(def.metric, durationMs(def.window), def.aggregation)) {
      const worse = def.direction === 'below' ? w.value < (worst?.value ?? Infinity) : w.value > (worst?.value ?? -Infinity);
      if (worse) worst = w;
    }
    const where = `${def.aggregation} ${def.metric} over ${def.window}: worst ${worst!.value.toFixed(3)} (seed ${worst!.seed}, ${new Date(worst!.at).toISOString()}) against ${bar}`;
    if (def.direction === 'below') expect(worst!.value, where).toBeGreaterThan(bar);
    else expect(worst!.value, where).toBeLessThan(bar);
  });

  it.each(rateRules.map((r) => [r.name, r] as const))('%s: no sensor alone changes that fast at any hour', (_name, rule) => {
    const lagSteps = durationMs(rule.over!) / EVERY_MS;
    const history: number[] = [];
    let worst = 0;
    let lastSeed = 0;
    for (const w of windows(rule.metric!, durationMs(rule.window!), rule.aggregation ?? 'avg')) {
      if (w.seed !== lastSeed) history.length = 0;
      lastSeed = w.seed;
      history.push(w.value);
      if (history.length > lagSteps) {
        const change = w.value - history.shift()!;
        worst = Math.max(worst, rule.direction === 'falling' ? -change : change);
      }
    }
    expect(worst, `${rule.metric} ${rule.direction} ${worst.toFixed(3)} in ${rule.over}`).toBeLessThan(rule.change!);
  });
});
