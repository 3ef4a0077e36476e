import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCityopsError } from '@cityops/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadIndicatorDefinitions,
  parseIndicatorDefinitions,
  stateOf,
  thresholdsAt,
  windowsFor,
} from '../src/index.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-analytics-defs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

const valid = {
  name: 'pm25_avg',
  title: 'PM2.5',
  unit: 'µg/m³',
  metric: 'pm25',
  aggregation: 'avg',
  window: '5m',
  levels: ['city', 'district'],
  direction: 'above',
  thresholds: { default: { warning: 75, critical: 115 } },
};

describe('the shipped city indicators', () => {
  it('load, with defaults filled in, and cover the city set', () => {
    const defs = loadIndicatorDefinitions();
    const names = defs.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of [
      'pm25_avg', 'pm25_p95', 'noise_avg', 'water_pressure_min', 'water_level_max', 'traffic_flow_avg',
      'crowd_density_p95', 'temperature_avg', 'air_sensor_coverage', 'verification_deny_rate',
    ]) {
      expect(names).toContain(name);
    }
    const pressure = defs.find((d) => d.name === 'water_pressure_min')!;
    expect(pressure.direction).toBe('below');
    expect(thresholdsAt(pressure, 'district')).toEqual({ warning: 1.5, critical: 1 });
    expect(thresholdsAt(pressure, 'grid')).toEqual({ warning: 1.8, critical: 1.4 });
    expect(defs.find((d) => d.name === 'pm25_avg')?.source).toBe('readings');
    expect(defs.find((d) => d.name === 'verification_deny_rate')).toMatchObject({ source: 'verifications', aggregation: 'share', minSamples: 20 });
    expect(Object.isFrozen(defs[0])).toBe(true);
  });
});

describe('definition errors', () => {
  it('are reported all together, with the code', () => {
    const err = errorOf(() =>
      parseIndicatorDefinitions({
        indicators: [
          valid,
          { ...valid, name: 'Bad Name', extra: 1 },
          { ...valid, name: 'no_metric', metric: undefined },
          { ...valid, name: 'upside_down', thresholds: { default: { warning: 10, critical: 5 } } },
          { ...valid, name: 'pm25_avg' },
          { ...valid, name: 'stray_level', thresholds: { grid: { warning: 1, critical: 2 } } },
          { ...valid, name: 'coverage', aggregation: 'share_of_sensors_reporting', window: '2h', knownWithin: '1h' },
          { ...valid, name: 'verif', source: 'verifications', aggregation: 'avg' },
          { ...valid, name: 'bad_window', window: '90s' },
        ],
      }),
    );
    expect(isCityopsError(err, 'ANALYTICS_ERR_DEFINITIONS_INVALID')).toBe(true);
    for (const fragment of [
      '/indicators/1/name must match pattern',
      '/indicators/1 must NOT have additional properties (extra)',
      '/indicators/2 a readings indicator needs a metric',
      '/indicators/3/thresholds/default warning 10 must be below critical 5 when above is bad',
      '/indicators/4/name pm25_avg is already used by /indicators/0',
      '/indicators/5/thresholds/grid is not one of the indicator\'s levels',
      '/indicators/5/thresholds has no default and nothing for city, district',
      '/indicators/6/knownWithin 1h is shorter than the window 2h',
      '/indicators/7 metric applies to readings only',
      '/indicators/7 aggregation avg is not one of count, rate, share for verifications',
      '/indicators/8/window must match pattern',
    ]) {
      expect(err.message).toContain(fragment);
    }
  });

  it('cover an empty document, a missing file and bad JSON with the same code', async () => {
    expect(errorOf(() => parseIndicatorDefinitions({})).message).toContain("must have required property 'indicators'");
    expect(errorOf(() => loadIndicatorDefinitions(join(dir, 'missing.json'))).code).toBe('ANALYTICS_ERR_DEFINITIONS_INVALID');
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"indicators": [');
    const err = errorOf(() => loadIndicatorDefinitions(bad));
    expect(err.code).toBe('ANALYTICS_ERR_DEFINITIONS_INVALID');
    expect(err.message).toContain('is not JSON');
  });

  it('requires verification shares to say what they count', () => {
    const { metric: _metric, ...noMetric } = valid;
    const err = errorOf(() => parseIndicatorDefinitions({ indicators: [{ ...noMetric, source: 'verifications', aggregation: 'share' }] }));
    expect(err.message).toContain('share needs match');
    const ok = parseIndicatorDefinitions({ indicators: [{ ...noMetric, source: 'verifications', aggregation: 'share', match: { verdict: ['deny'] } }] });
    expect(ok[0]?.match).toEqual({ verdict: ['deny'] });
  });
});

describe('states', () => {
  it('count reaching a threshold, in both directions', () => {
    const t = { warning: 10, critical: 20 };
    expect([9.99, 10, 19.99, 20, 50].map((v) => stateOf(v, t, 'above'))).toEqual(['normal', 'warning', 'warning', 'critical', 'critical']);
    const low = { warning: 2, critical: 1 };
    expect([2.01, 2, 1.01, 1, 0].map((v) => stateOf(v, low, 'below'))).toEqual(['normal', 'warning', 'warning', 'critical', 'critical']);
    expect(stateOf(null, t, 'above')).toBe('no_data');
  });
});

describe('windows', () => {
  const MIN = 60_000;
  it('align to the epoch and refuse contradictory or oversized requests', () => {
    expect(windowsFor({ at: 17 * MIN }, 300, 100 * MIN, 10)).toEqual({ startMs: 10 * MIN, lengthMs: 5 * MIN, count: 1 });
    expect(windowsFor({ from: 12 * MIN, to: 31 * MIN }, 300, 100 * MIN, 10)).toEqual({ startMs: 10 * MIN, lengthMs: 5 * MIN, count: 4 });
    expect(windowsFor({ from: 12 * MIN }, 300, 26 * MIN, 10).count).toBe(3);
    for (const request of [{ at: 1, from: 0 }, { to: 5 }, { from: 10 * MIN, to: 10 * MIN }, { from: 0, to: 100 * MIN }]) {
      expect(errorOf(() => windowsFor(request, 300, 1000 * MIN, 10)).code).toBe('ANALYTICS_ERR_QUERY_INVALID');
    }
  });
});
