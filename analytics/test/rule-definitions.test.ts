import { describe, expect, it } from 'vitest';
import { createQuantileSketch, loadIndicatorDefinitions, loadRuleDefinitions, parseRuleDefinitions } from '../src/index.ts';
import { createWindowSeries } from '../src/rules/window-series.ts';

const indicators = loadIndicatorDefinitions();

describe('rule definitions', () => {
  it('loads the shipped city set: every kind, thresholds resolved against their indicators', () => {
    const set = loadRuleDefinitions(indicators);
    expect(new Set(set.rules.map((r) => r.kind))).toEqual(
      new Set(['threshold', 'rate_of_change', 'sensor_silent', 'gateway_offline', 'grid_quiet', 'pipeline_backlog', 'verification_anomaly', 'scanner_flood', 'device_refusals']),
    );
    const pm25 = set.thresholds.find((t) => t.rule.name === 'pm25_high_grid');
    expect(pm25).toMatchObject({ metric: 'pm25', aggregation: 'avg', windowMs: 300_000, forMs: 120_000, threshold: 150, direction: 'above' });
    const pressure = set.thresholds.find((t) => t.rule.name === 'water_pressure_low_grid');
    expect(pressure).toMatchObject({ aggregation: 'min', direction: 'below', threshold: 1.4 });
    expect(Object.isFrozen(set.rules[0])).toBe(true);
  });

  it('reports every problem of a file at once', () => {
    const bad = {
      rules: [
        { name: 'a', title: 'A', kind: 'threshold', indicator: 'nope', level: 'grid', severity: 'critical', for: '2m' },
        { name: 'b', title: 'B', kind: 'threshold', indicator: 'air_sensor_coverage', level: 'grid', severity: 'critical', for: '2m' },
        { name: 'c', title: 'C', kind: 'threshold', indicator: 'pm25_p95', level: 'building', severity: 'warning', for: '1m' },
        { name: 'a', title: 'dup', kind: 'sensor_silent', after: '2x', severity: 'warning' },
        { name: 'd', title: 'D', kind: 'weird' },
        { name: 'e', title: 'E', kind: 'gateway_offline', grace: '30s', severity: 'warning', extra: true },
        { name: 'f', title: 'F', kind: 'verification_anomaly', match: {}, window: '5m', baseline: '1h', minEvents: 3, severity: 'warning' },
        { name: 'g1', title: 'G', kind: 'grid_quiet', after: '3m', severity: 'warning' },
        { name: 'g2', title: 'G', kind: 'grid_quiet', after: '3m', severity: 'warning' },
        { name: 'h', title: 'H', kind: 'scanner_flood', window: '0s', every: '100ms', severity: 'warning' },
      ],
    };
    let message = '';
    try {
      parseRuleDefinitions(bad, indicators);
    } catch (err) {
      expect((err as { code?: string }).code).toBe('ANALYTICS_ERR_DEFINITIONS_INVALID');
      message = (err as Error).message;
    }
    for (const expected of [
      '/rules/0/indicator nope is not a known indicator',
      '/rules/1/indicator air_sensor_coverage aggregates by share_of_sensors_reporting',
      "/rules/2/level building is not one of pm25_p95's levels",
      '/rules/3/after must match pattern',
      '/rules/4/kind must be one of',
      '/rules/5 must NOT have additional properties (extra)',
      '/rules/6/match must NOT have fewer than 1 properties',
      'at most one grid_quiet rule (found 2)',
      '/rules/9/window must be longer than 0',
      '/rules/9/every 100ms is under 1s',
    ]) {
      expect(message).toContain(expected);
    }
  });
});

describe('window series and quantile sketch', () => {
  it('p95 is within 1% of the exact value, over values spanning six orders of magnitude', () => {
    const sketch = createQuantileSketch(0.01);
    const values: number[] = [];
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const v = 10 ** ((x / 2 ** 31) * 6 - 2);
      values.push(v);
      sketch.add(v);
    }
    values.sort((a, b) => a - b);
    const exact = values[Math.floor(0.95 * (values.length - 1))]!;
    expect(Math.abs(sketch.quantile(0.95)! - exact) / exact).toBeLessThanOrEqual(0.01);
    const withNegatives = createQuantileSketch(0.01);
    for (const v of [-5, -1, 0, 2, 3]) withNegatives.add(v);
    expect(withNegatives.quantile(0)).toBeCloseTo(-5, 1);
    expect(withNegatives.quantile(0.5)).toBe(0);
  });

  it('slides: readings leave the window as time passes, late ones are refused', () => {
    const series = createWindowSeries('p', { bucketMs: 1000, length: 12, quantiles: true });
    const out = { value: null as number | null, samples: 0 };
    const t0 = 1_000_000;
    expect(series.add(t0, 10, t0)).toBe(true);
    expect(series.add(t0 + 5000, 20, t0 + 5000)).toBe(true);
    expect(series.aggregate('avg', 10_000, t0 + 5000, out)).toEqual({ value: 15, samples: 2 });
    expect(series.aggregate('max', 10_000, t0 + 12_000, out)).toEqual({ value: 20, samples: 1 });
    expect(series.aggregate('count', 10_000, t0 + 30_000, out)).toEqual({ value: 0, samples: 0 });
    expect(series.aggregate('avg', 10_000, t0 + 30_000, out).value).toBeNull();
    // Older than the ring reaches at t0 + 30 s: refused (counted as late by the engine).
    expect(series.add(t0, 99, t0 + 30_000)).toBe(false);
    // A device clock ahead of ours counts as now.
    expect(series.add(t0 + 90_000, 7, t0 + 30_000)).toBe(true);
    expect(series.aggregate('p95', 1000, t0 + 30_000, out).value).toBeCloseTo(7, 1);
  });
});
