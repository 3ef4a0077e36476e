import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HIERARCHY_LEVELS, isCityopsError, type HierarchyLevel, type Place } from '@cityops/protocol';
import { openWarehouse, type StoredBatch, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createAnalyticsMetrics,
  createIndicatorEngine,
  createRollupJob,
  levelColumns,
  parseIndicatorDefinitions,
  type IndicatorEngine,
  type IndicatorEvaluation,
  type RollupJob,
} from '../src/index.ts';

// One chDB store for the file (libchdb binds one data directory per process; vitest forks per file).
let dir: string;
let wh: Warehouse;
let job: RollupJob;
let engine: IndicatorEngine;

const MINUTE = 60_000;
const WINDOW = 5 * MINUTE;
// Whole hours some hours ago: inside the readings' retention whatever the date.
const BASE = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 6 * 3_600_000;
const NOW = BASE + 30 * MINUTE;

const PLACES: Record<string, Place> = {
  a: { district: 'pudong', subdistrict: 'pudong-s01', grid: 'g001', building: '' },
  b: { district: 'pudong', subdistrict: 'pudong-s01', grid: 'g002', building: 'b01' },
  c: { district: 'pudong', subdistrict: 'pudong-s01', grid: 'g002', building: 'b02' },
  d: { district: 'pudong', subdistrict: 'pudong-s02', grid: 'g001', building: '' },
  e: { district: 'xuhui', subdistrict: 'xuhui-s01', grid: 'g001', building: 'b01' },
  // Goes quiet after 8 minutes: known, not reporting.
  f: { district: 'xuhui', subdistrict: 'xuhui-s01', grid: 'g003', building: '' },
};

let seq = 0;
/** Readings every 20 s per sensor in [fromMin, toMin) minutes after BASE; values are multiples of 1/4 so sums are exact. */
function batches(fromMin: number, toMin: number, boot = 1): StoredBatch[] {
  const out: StoredBatch[] = [];
  Object.entries(PLACES).forEach(([key, place], g) => {
    const end = key === 'f' ? Math.min(toMin, 8) : toMin;
    if (end <= fromMin) return;
    const readings = [];
    for (let t = BASE + fromMin * MINUTE; t < BASE + end * MINUTE; t += 20_000) {
      const i = (t - BASE) / 20_000;
      for (const [k, sensor] of ['pm-1', 'pm-2'].entries()) {
        readings.push({ sensor, metric: 'pm25', ts: t + k * 1000, value: ((i * 7 + k * 13 + g * 5) % 40) / 4 + g });
      }
      readings.push({ sensor: 'wp-1', metric: 'water_pressure', ts: t + 500, value: 2 + ((i + g) % 8) / 4 });
    }
    out.push({ device: `gw-${key}`, place, boot, seq: seq++, receivedAt: t0Received(), readings });
  });
  return out;
}
function t0Received(): number {
  return BASE + 20 * MINUTE;
}

const AGGREGATIONS = ['avg', 'min', 'max', 'count', 'rate', 'p95', 'share_of_sensors_reporting'] as const;
const DEFINITIONS = parseIndicatorDefinitions({
  indicators: [
    ...AGGREGATIONS.map((aggregation) => ({
      name: `pm25_${aggregation}`,
      title: `PM2.5 ${aggregation}`,
      unit: 'µg/m³',
      metric: 'pm25',
      aggregation,
      window: '5m',
      knownWithin: '1h',
      levels: [...HIERARCHY_LEVELS],
      direction: aggregation === 'share_of_sensors_reporting' ? 'below' : 'above',
      thresholds: { default: aggregation === 'share_of_sensors_reporting' ? { warning: 0.9, critical: 0.5 } : { warning: 1e6, critical: 2e6 } },
    })),
    {
      name: 'pm25_states',
      title: 'PM2.5 average with thresholds that differ per level',
      unit: 'µg/m³',
      metric: 'pm25',
      aggregation: 'avg',
      window: '5m',
      levels: ['city', 'district', 'grid'],
      direction: 'above',
      thresholds: { default: { warning: 6.4, critical: 9 }, grid: { warning: 7, critical: 9.5 } },
    },
    {
      name: 'pressure_low',
      title: 'Water pressure, lowest',
      unit: 'bar',
      metric: 'water_pressure',
      aggregation: 'min',
      window: '5m',
      levels: ['district', 'grid'],
      direction: 'below',
      thresholds: { default: { warning: 2.5, critical: 2.25 }, grid: { warning: 2.25, critical: 2 } },
    },
    {
      name: 'deny_rate',
      title: 'Denied checks',
      unit: 'share',
      source: 'verifications',
      aggregation: 'share',
      match: { verdict: ['deny'] },
      window: '5m',
      minSamples: 3,
      levels: ['city', 'district', 'grid'],
      direction: 'above',
      thresholds: { default: { warning: 0.2, critical: 0.5 } },
    },
  ],
});

interface RawRow {
  district?: string;
  subdistrict?: string;
  grid?: string;
  building?: string;
  c: number;
  s: number;
  mn: number;
  mx: number;
  p95: number;
  u: number;
}

/** The same aggregates straight from `readings`, per place at the level, in [from, to). */
async function raw(metric: string, level: HierarchyLevel, from: number, to: number): Promise<Map<string, RawRow>> {
  const cols = levelColumns(level);
  const rows = await wh.query<RawRow>(
    `SELECT ${[...cols, 'count() AS c', 'sum(value) AS s', 'min(value) AS mn', 'max(value) AS mx', 'quantileDD(0.01, 0.95)(value) AS p95', 'uniqExact(device, sensor) AS u'].join(', ')} ` +
      'FROM readings WHERE metric = {metric:String} AND ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64})' +
      (level === 'building' ? " AND building != ''" : '') +
      (cols.length === 0 ? '' : ` GROUP BY ${cols.join(', ')}`),
    { metric, from, to },
  );
  return new Map(rows.filter((r) => r.c > 0).map((r) => [cols.map((c) => r[c]).join('/'), r]));
}

/** Sensors first seen before `end` and last seen within `withinMs` of it, per place at the level. */
async function rawKnown(metric: string, level: HierarchyLevel, end: number, withinMs: number): Promise<Map<string, number>> {
  const cols = levelColumns(level);
  const rows = await wh.query<Record<string, string | number>>(
    `SELECT ${[...cols, 'count() AS k'].join(', ')} FROM (` +
      'SELECT district, subdistrict, grid, building, device, sensor, min(ts) AS f, max(ts) AS l FROM readings ' +
      'WHERE metric = {metric:String} GROUP BY district, subdistrict, grid, building, device, sensor) ' +
      'WHERE f < fromUnixTimestamp64Milli({end:Int64}) AND l >= fromUnixTimestamp64Milli({since:Int64})' +
      (level === 'building' ? " AND building != ''" : '') +
      (cols.length === 0 ? '' : ` GROUP BY ${cols.join(', ')}`),
    { metric, end, since: end - withinMs },
  );
  return new Map(rows.map((r) => [cols.map((c) => r[c]).join('/'), Number(r.k)]));
}

function expectedValue(aggregation: (typeof AGGREGATIONS)[number], r: RawRow | undefined, known: number | undefined): number | null {
  if (aggregation === 'share_of_sensors_reporting') return known === undefined ? null : (r?.u ?? 0) / known;
  if (r === undefined) return null;
  switch (aggregation) {
    case 'avg':
      return r.s / r.c;
    case 'min':
      return r.mn;
    case 'max':
      return r.mx;
    case 'count':
      return r.c;
    case 'rate':
      return r.s / (WINDOW / 1000);
    case 'p95':
      return r.p95;
  }
}

/** Every window and place of an evaluation against the raw aggregates, per aggregation. */
async function expectEqualsRaw(result: IndicatorEvaluation, aggregation: (typeof AGGREGATIONS)[number], level: HierarchyLevel): Promise<void> {
  expect(result.windows.length).toBeGreaterThan(0);
  for (const window of result.windows) {
    const rows = await raw('pm25', level, window.from, window.to);
    const known = await rawKnown('pm25', level, window.to, 3_600_000);
    // Places listed: those with known sensors (for every aggregation), with data or not.
    expect(window.places.map((p) => p.place)).toEqual([...known.keys()].sort());
    for (const p of window.places) {
      const expected = expectedValue(aggregation, rows.get(p.place), known.get(p.place));
      expect(p.samples, `${aggregation} ${level} ${p.place} samples`).toBe(rows.get(p.place)?.c ?? 0);
      if (expected === null || p.value === null) {
        expect(p.value, `${aggregation} ${level} ${p.place}`).toBe(expected);
      } else if (aggregation === 'p95') {
        // DDSketch states merge exactly: the same function over raw rows gives the same value.
        expect(Math.abs(p.value - expected) / Math.abs(expected)).toBeLessThan(1e-9);
        const r = rows.get(p.place)!;
        expect(p.value).toBeGreaterThanOrEqual(r.mn * 0.99);
        expect(p.value).toBeLessThanOrEqual(r.mx * 1.01);
      } else {
        expect(p.value, `${aggregation} ${level} ${p.place}`).toBe(expected);
      }
    }
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-analytics-engine-'));
  wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  job = createRollupJob({ intervalMs: 60_000 }, { warehouse: wh, logger: pino({ level: 'silent' }), now: () => NOW, metrics: createAnalyticsMetrics() });
  engine = createIndicatorEngine(DEFINITIONS, { warehouse: wh, now: () => NOW });
  // Minutes 0-12 rolled up; minutes 12-20 and a late replay of minutes 2-4 only in raw readings.
  await wh.insertBatches(batches(0, 6));
  await wh.insertBatches(batches(6, 12));
  await job.runOnce();
  await wh.insertBatches(batches(12, 20));
  await wh.insertBatches(batches(2, 4, 2));
});

afterAll(async () => {
  await job.stop();
  await wh.close();
  await rm(dir, { recursive: true, force: true });
});

describe('indicator values equal the same aggregates over raw readings', () => {
  it('at every level, for every aggregation, over a series spanning rolled-up and raw-only readings', async () => {
    const [progress] = await wh.query<{ n: number }>("SELECT count() AS n FROM readings_1m WHERE minute >= fromUnixTimestamp64Milli({t:Int64})", { t: BASE + 12 * MINUTE });
    expect(progress?.n).toBe(0); // minutes 12-20 are not rolled up yet: they come from the raw tail
    for (const aggregation of AGGREGATIONS) {
      for (const level of HIERARCHY_LEVELS) {
        const result = await engine.evaluate({ name: `pm25_${aggregation}`, level, from: BASE, to: BASE + 20 * MINUTE });
        expect(result.windows.map((w) => w.from)).toEqual([0, 1, 2, 3].map((k) => BASE + k * WINDOW));
        await expectEqualsRaw(result, aggregation, level);
      }
    }
  });

  it('gives the same values once the job has rolled everything up, late readings included', async () => {
    const before = await engine.evaluate({ name: 'pm25_p95', level: 'grid', from: BASE, to: BASE + 20 * MINUTE });
    const run = await job.runOnce();
    expect(run?.toBlock).toBeGreaterThan(run?.fromBlock ?? Infinity);
    const [raw1m] = await wh.query<{ samples: number; rows: number }>(
      "SELECT sum(samples) AS samples, (SELECT count() FROM readings WHERE metric = 'pm25') AS rows FROM readings_1m WHERE metric = 'pm25'",
    );
    expect(raw1m?.samples).toBe(raw1m?.rows);
    expect(await engine.evaluate({ name: 'pm25_p95', level: 'grid', from: BASE, to: BASE + 20 * MINUTE })).toEqual(before);
    for (const aggregation of AGGREGATIONS) {
      for (const level of HIERARCHY_LEVELS) {
        await expectEqualsRaw(await engine.evaluate({ name: `pm25_${aggregation}`, level, at: BASE + 10 * MINUTE }), aggregation, level);
      }
    }
  });

  it('reports a quiet grid as known and not reporting: share 0, critical', async () => {
    const result = await engine.evaluate({ name: 'pm25_share_of_sensors_reporting', level: 'grid', place: 'xuhui', at: BASE + 15 * MINUTE });
    const quiet = result.windows[0]!.places.find((p) => p.place === 'xuhui/xuhui-s01/g003');
    expect(quiet).toEqual({ place: 'xuhui/xuhui-s01/g003', value: 0, state: 'critical', samples: 0, sensorsKnown: 2 });
    const avg = await engine.evaluate({ name: 'pm25_avg', level: 'grid', place: 'xuhui', at: BASE + 15 * MINUTE });
    expect(avg.windows[0]!.places.find((p) => p.place === 'xuhui/xuhui-s01/g003')).toEqual({
      place: 'xuhui/xuhui-s01/g003',
      value: null,
      state: 'no_data',
      samples: 0,
    });
  });
});

describe('windows', () => {
  it('answers `at` with the last complete window and a series with complete windows only', async () => {
    const at = await engine.evaluate({ name: 'pm25_count', level: 'city', at: BASE + 12 * MINUTE + 1 });
    expect(at.windows.map((w) => [w.from, w.to])).toEqual([[BASE + 5 * MINUTE, BASE + 10 * MINUTE]]);
    const dflt = await engine.evaluate({ name: 'pm25_count', level: 'city' });
    expect(dflt.windows.map((w) => w.to)).toEqual([NOW]);
    // NOW is BASE + 30 min: a series asked up to an hour later stops at the last complete window.
    const series = await engine.evaluate({ name: 'pm25_count', level: 'city', from: BASE + 22 * MINUTE, to: BASE + 90 * MINUTE });
    expect(series.windows.map((w) => w.from)).toEqual([BASE + 20 * MINUTE, BASE + 25 * MINUTE]);
    expect(series.windows.map((w) => w.places[0]?.value)).toEqual([null, null]);
  });
});

describe('drill-down', () => {
  it('returns exactly the children of the place at the level asked', async () => {
    const grids = await engine.evaluate({ name: 'pm25_avg', level: 'grid', place: 'pudong', at: BASE + 10 * MINUTE });
    const rawGrids = await wh.query<{ path: string }>(
      "SELECT DISTINCT concat(district, '/', subdistrict, '/', grid) AS path FROM readings WHERE district = 'pudong' AND metric = 'pm25' ORDER BY path",
    );
    expect(grids.windows[0]!.places.map((p) => p.place)).toEqual(rawGrids.map((r) => r.path));
    expect(rawGrids.map((r) => r.path)).toEqual(['pudong/pudong-s01/g001', 'pudong/pudong-s01/g002', 'pudong/pudong-s02/g001']);

    const buildings = await engine.evaluate({ name: 'pm25_max', level: 'building', place: 'pudong/pudong-s01/g002', at: BASE + 10 * MINUTE });
    expect(buildings.windows[0]!.places.map((p) => p.place)).toEqual(['pudong/pudong-s01/g002/b01', 'pudong/pudong-s01/g002/b02']);
    const subdistricts = await engine.evaluate({ name: 'pm25_min', level: 'subdistrict', place: 'xuhui', at: BASE + 10 * MINUTE });
    expect(subdistricts.windows[0]!.places.map((p) => p.place)).toEqual(['xuhui/xuhui-s01']);
    const one = await engine.evaluate({ name: 'pm25_min', level: 'district', place: 'xuhui', at: BASE + 10 * MINUTE });
    expect(one.windows[0]!.places.map((p) => p.place)).toEqual(['xuhui']);
    const none = await engine.evaluate({ name: 'pm25_min', level: 'grid', place: 'jingan', at: BASE + 10 * MINUTE });
    expect(none.windows[0]!.places).toEqual([]);
  });

  it('refuses a place below the level and a level the indicator does not have', async () => {
    await expect(engine.evaluate({ name: 'pm25_avg', level: 'district', place: 'pudong/pudong-s01' })).rejects.toMatchObject({
      code: 'ANALYTICS_ERR_QUERY_INVALID',
    });
    await expect(engine.evaluate({ name: 'pm25_states', level: 'building' })).rejects.toMatchObject({ code: 'ANALYTICS_ERR_QUERY_INVALID' });
    await expect(engine.evaluate({ name: 'nope', level: 'city' })).rejects.toMatchObject({ code: 'ANALYTICS_ERR_INDICATOR_UNKNOWN' });
  });
});

describe('thresholds map values to states per level', () => {
  function stateFor(value: number, warning: number, critical: number, above: boolean): string {
    if (above ? value >= critical : value <= critical) return 'critical';
    if (above ? value >= warning : value <= warning) return 'warning';
    return 'normal';
  }

  it('uses the level’s own thresholds where it has them, the default elsewhere, in both directions', async () => {
    const seen = new Set<string>();
    for (const [level, warning, critical] of [['district', 6.4, 9], ['grid', 7, 9.5]] as const) {
      const result = await engine.evaluate({ name: 'pm25_states', level, from: BASE, to: BASE + 20 * MINUTE });
      for (const w of result.windows) {
        const rows = await raw('pm25', level, w.from, w.to);
        for (const p of w.places) {
          const r = rows.get(p.place);
          if (r === undefined) {
            expect(p.state).toBe('no_data');
            continue;
          }
          expect(p.state, `${level} ${p.place}`).toBe(stateFor(r.s / r.c, warning, critical, true));
          seen.add(`${level}:${p.state}`);
        }
      }
    }
    // The data reaches every state at district level; the grid's higher thresholds change some.
    expect(seen).toEqual(new Set(['district:normal', 'district:warning', 'district:critical', 'grid:normal', 'grid:warning', 'grid:critical']));

    for (const [level, warning, critical] of [['district', 2.5, 2.25], ['grid', 2.25, 2]] as const) {
      const result = await engine.evaluate({ name: 'pressure_low', level, at: BASE + 10 * MINUTE });
      const rows = await wh.query<{ p: string; mn: number }>(
        `SELECT ${level === 'district' ? 'district' : "concat(district, '/', subdistrict, '/', grid)"} AS p, min(value) AS mn FROM readings ` +
          "WHERE metric = 'water_pressure' AND ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64}) GROUP BY p",
        { from: BASE + 5 * MINUTE, to: BASE + 10 * MINUTE },
      );
      expect(result.windows[0]!.places.filter((p) => p.value !== null).map((p) => [p.place, p.value, p.state])).toEqual(
        rows.sort((a, b) => (a.p < b.p ? -1 : 1)).map((r) => [r.p, r.mn, stateFor(r.mn, warning, critical, false)]),
      );
    }
  });
});

describe('verification indicators', () => {
  const at = (min: number) => new Date(BASE + min * MINUTE).toISOString().replace('T', ' ').replace('Z', '');
  const event = (scanner: string, minute: number, verdict: 'allow' | 'deny', reason: string) => ({
    at: at(minute), venue: `venue-${scanner}`, kind: 'health', verdict, reason, issuer: 'sh', pseudonym: 'p', scanner,
    transport: 'http', offline: false, stale: false,
  });
  const scanners = () =>
    wh.insertRows('devices', [
      { id: 'sc-1', kind: 'scanner', ...PLACES.a, secret_hash: '', revoked: false, updated_at: at(0) },
      { id: 'sc-2', kind: 'scanner', ...PLACES.b, secret_hash: '', revoked: false, updated_at: at(0) },
      { id: 'sc-3', kind: 'scanner', ...PLACES.e, secret_hash: '', revoked: false, updated_at: at(0) },
    ]);

  // Each test sees only its own events.
  beforeEach(async () => {
    for (const table of ['verification_events', 'verification_events_1m']) await wh.command(`TRUNCATE TABLE ${table}`);
  });

  it('places verdicts by their scanner and equals the share computed from the raw events', async () => {
    // Cells of any size: this test is about the arithmetic; privacy is the next one's.
    const engine = createIndicatorEngine(DEFINITIONS, { warehouse: wh, now: () => NOW, minCell: 1 });
    await scanners();
    const events = [
      ...Array.from({ length: 8 }, (_, i) => event('sc-1', 6 + (i % 3), i < 2 ? 'deny' : 'allow', i < 2 ? 'EXPIRED' : 'OK')),
      ...Array.from({ length: 4 }, (_, i) => event('sc-2', 7, i < 3 ? 'deny' : 'allow', i < 3 ? 'BAD_SIGNATURE' : 'OK')),
      ...Array.from({ length: 2 }, () => event('sc-3', 8, 'deny', 'REVOKED')),
      // A scanner the registry does not know: counted for the city only.
      ...Array.from({ length: 5 }, () => event('sc-unknown', 8, 'deny', 'EXPIRED')),
    ];
    await wh.insertRows('verification_events', events);
    const city = await engine.evaluate({ name: 'deny_rate', level: 'city', at: BASE + 10 * MINUTE });
    expect(city.windows[0]!.places).toEqual([{ place: '', value: 12 / 19, state: 'critical', samples: 19 }]);
    const districts = await engine.evaluate({ name: 'deny_rate', level: 'district', at: BASE + 10 * MINUTE });
    const rawDistricts = await wh.query<{ district: string; n: number; denied: number }>(
      'SELECT d.district AS district, count() AS n, countIf(v.verdict = \'deny\') AS denied FROM verification_events AS v ' +
        "INNER JOIN (SELECT id, district FROM devices FINAL WHERE kind = 'scanner') AS d ON v.scanner = d.id GROUP BY district ORDER BY district",
    );
    expect(districts.windows[0]!.places.map((p) => [p.place, p.value, p.samples])).toEqual(rawDistricts.map((r) => [r.district, r.denied / r.n, r.n]));
    const grids = await engine.evaluate({ name: 'deny_rate', level: 'grid', place: 'xuhui', at: BASE + 10 * MINUTE });
    // Two events are below minSamples: a value, but no state.
    expect(grids.windows[0]!.places).toEqual([{ place: 'xuhui/xuhui-s01/g001', value: 1, state: 'no_data', samples: 2 }]);
    const earlier = await engine.evaluate({ name: 'deny_rate', level: 'district', at: BASE + 5 * MINUTE });
    expect(earlier.windows[0]!.places).toEqual([
      { place: 'pudong', value: null, state: 'no_data', samples: 0 },
      { place: 'xuhui', value: null, state: 'no_data', samples: 0 },
    ]);
  });

  it('suppresses cells smaller than the privacy minimum, value and count', async () => {
    await scanners();
    await wh.insertRows('verification_events', [
      ...Array.from({ length: 8 }, (_, i) => event('sc-1', 6, i < 2 ? 'deny' : 'allow', i < 2 ? 'EXPIRED' : 'OK')),
      ...Array.from({ length: 4 }, () => event('sc-3', 7, 'deny', 'BAD_SIGNATURE')),
    ]);
    const grids = await engine.evaluate({ name: 'deny_rate', level: 'grid', at: BASE + 10 * MINUTE });
    const byPlace = new Map(grids.windows[0]!.places.map((p) => [p.place, p]));
    // 8 events at sc-1's grid: shown. 4 at sc-3's: fewer than 5, withheld.
    expect(byPlace.get('pudong/pudong-s01/g001')).toEqual({ place: 'pudong/pudong-s01/g001', value: 2 / 8, state: 'warning', samples: 8 });
    expect(byPlace.get('xuhui/xuhui-s01/g001')).toEqual({ place: 'xuhui/xuhui-s01/g001', value: null, state: 'suppressed', samples: null });
    // A scanner's grid with no events at all has nothing to hide: no_data with 0 samples.
    expect(byPlace.get('pudong/pudong-s01/g002')).toEqual({ place: 'pudong/pudong-s01/g002', value: null, state: 'no_data', samples: 0 });
    const city = await engine.evaluate({ name: 'deny_rate', level: 'city', at: BASE + 10 * MINUTE });
    expect(city.windows[0]!.places).toEqual([{ place: '', value: 6 / 12, state: 'critical', samples: 12 }]);
  });
});

describe('the rollup job', () => {
  it('redoes a range a failed run left started, without counting anything twice', async () => {
    await wh.insertBatches(batches(20, 24));
    let failed = false;
    const flaky: Warehouse = {
      ...wh,
      command: (sql, params) => {
        if (!failed && sql.startsWith('INSERT INTO sensor_presence')) {
          failed = true;
          return Promise.reject(new Error('simulated crash after the rollup part was committed'));
        }
        return wh.command(sql, params);
      },
    };
    const flakyJob = createRollupJob({ intervalMs: 60_000 }, { warehouse: flaky, logger: pino({ level: 'silent' }), now: () => NOW, metrics: createAnalyticsMetrics() });
    const error = await flakyJob.runOnce().catch((e: unknown) => e);
    expect(isCityopsError(error, 'ANALYTICS_ERR_ROLLUP_FAILED')).toBe(true);
    expect(flakyJob.healthy()).toBe(false);
    const [progress] = await wh.query<{ state: string }>("SELECT toString(state) AS state FROM rollup_progress ORDER BY version DESC LIMIT 1");
    expect(progress?.state).toBe('started');
    // Meanwhile a query counts the committed part once: the tail starts above it on its day.
    await expectEqualsRaw(await engine.evaluate({ name: 'pm25_count', level: 'grid', at: BASE + 25 * MINUTE }), 'count', 'grid');

    const redo = await flakyJob.runOnce();
    expect(redo?.redo).toBe(true);
    expect(flakyJob.healthy()).toBe(true);
    const [sums] = await wh.query<{ samples: number; rows: number }>(
      'SELECT sum(samples) AS samples, (SELECT count() FROM readings) AS rows FROM readings_1m',
    );
    expect(sums?.samples).toBe(sums?.rows);
    await flakyJob.stop();
  });

  it('rolls late readings of another day into that day, in the same run as today’s', async () => {
    const yesterday = BASE - 86_400_000;
    const late: StoredBatch[] = [
      {
        device: 'gw-a', place: PLACES.a!, boot: 3, seq: seq++, receivedAt: NOW,
        readings: Array.from({ length: 40 }, (_, i) => ({ sensor: 'pm-1', metric: 'pm25', ts: yesterday + i * 15_000, value: i / 4 })),
      },
      ...batches(24, 25, 3),
    ];
    await wh.insertBatches(late);
    const run = await job.runOnce();
    expect(run?.partitions).toBeGreaterThanOrEqual(2);
    const [days] = await wh.query<{ days: number }>('SELECT uniqExact(toYYYYMMDD(minute)) AS days FROM readings_1m');
    expect(days?.days).toBeGreaterThanOrEqual(2);
    await expectEqualsRaw(await engine.evaluate({ name: 'pm25_count', level: 'grid', at: yesterday + 10 * MINUTE }), 'count', 'grid');
    await expectEqualsRaw(await engine.evaluate({ name: 'pm25_avg', level: 'district', from: yesterday, to: yesterday + 10 * MINUTE }), 'avg', 'district');
  });

  it('reads again, with per-day bounds, when the rollup holds more than the watermark says', async () => {
    // A started range reaching below rows already rolled up: what a reader sees while a run commits.
    const [{ top = 0 } = {}] = await wh.query<{ top: number }>('SELECT max(hi_block) AS top FROM readings_1m');
    expect(top).toBeGreaterThan(0);
    await wh.insertRows('rollup_progress', [{ job: 'readings_1m', from_block: 0, to_block: top + 1_000_000, state: 'started', at: '2026-01-01 00:00:00.000' }]);
    let retries = 0;
    const watched = createIndicatorEngine(DEFINITIONS, { warehouse: wh, now: () => NOW, onRetry: () => retries++ });
    await expectEqualsRaw(await watched.evaluate({ name: 'pm25_avg', level: 'district', from: BASE, to: BASE + 25 * MINUTE }), 'avg', 'district');
    expect(retries).toBe(1);
    // Put the rollups back (that range is not a real run): rebuilt from block 0, they equal the raw readings.
    for (const table of ['readings_1m', 'sensor_presence', 'rollup_progress']) await wh.command(`TRUNCATE TABLE ${table}`);
    await job.runOnce();
    retries = 0;
    await expectEqualsRaw(await watched.evaluate({ name: 'pm25_p95', level: 'grid', from: BASE, to: BASE + 25 * MINUTE }), 'p95', 'grid');
    expect(retries).toBe(0);
  });
});
