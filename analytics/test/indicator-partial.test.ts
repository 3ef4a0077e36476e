import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Place } from '@cityops/protocol';
import { openWarehouse, type StoredBatch, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityOverview } from '../src/dashboard/city-overview.ts';
import { createAnalyticsService, createIndicatorEngine, parseIndicatorDefinitions, type AnalyticsService, type IndicatorEngine } from '../src/index.ts';

// Issue 19: a city that just started shows values within a minute, from the window still running.
let dir: string;
let wh: Warehouse;
let engine: IndicatorEngine;
let service: AnalyticsService;
let url: string;

const MINUTE = 60_000;
// Whole hours some hours ago: inside the readings' retention whatever the date.
const BASE = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
/** 2.5 minutes into the window [BASE+20m, BASE+25m). */
const NOW = BASE + 22 * MINUTE + 30_000;
const CURRENT = BASE + 20 * MINUTE;

const PUDONG: Place[] = [
  { district: 'pudong', subdistrict: 'pudong-s01', grid: 'g001', building: '' },
  { district: 'pudong', subdistrict: 'pudong-s02', grid: 'g004', building: '' },
];
/** A district whose sensor came up in the current window: no complete window has its data yet. */
const XUHUI: Place = { district: 'xuhui', subdistrict: 'xuhui-s01', grid: 'g001', building: '' };

/** One sensor per place, a reading every 30 s in [from, NOW). */
function batch(place: Place, g: number, from: number, value: number): StoredBatch {
  const readings = [];
  for (let ts = from; ts < NOW; ts += 30_000) readings.push({ sensor: 'pm', metric: 'pm25', ts, value });
  return { device: `gw-${g}`, place, boot: 1, seq: g, receivedAt: from, readings };
}

const DEFINITIONS = parseIndicatorDefinitions({
  indicators: ['avg', 'rate'].map((aggregation) => ({
    name: `pm25_${aggregation}`,
    title: `PM2.5 ${aggregation}`,
    unit: 'µg/m³',
    metric: 'pm25',
    aggregation,
    window: '5m',
    levels: ['city', 'district', 'grid'],
    direction: 'above',
    thresholds: { default: { warning: 75, critical: 115 } },
  })),
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-indicator-partial-'));
  wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  await wh.insertBatches([batch(PUDONG[0]!, 0, BASE, 10), batch(PUDONG[1]!, 1, BASE, 20), batch(XUHUI, 2, CURRENT, 90)]);
  engine = createIndicatorEngine(DEFINITIONS, { warehouse: wh, now: () => NOW });
  service = createAnalyticsService({ http: { port: 0 }, rollup: { intervalMs: 3_600_000 } }, { warehouse: wh, logger: pino({ level: 'silent' }), now: () => NOW });
  ({ httpUrl: url } = await service.start());
});

afterAll(async () => {
  await service.stop();
  await wh.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the current, incomplete window', () => {
  it('comes beside the last complete one, marked partial, with its sample count so far', async () => {
    const result = await engine.evaluate({ name: 'pm25_avg', level: 'district', partial: true });
    expect(result.windows).toEqual([
      {
        from: BASE + 15 * MINUTE,
        to: CURRENT,
        // xuhui's sensor was not known yet: the complete window does not list it.
        places: [{ place: 'pudong', value: 15, state: 'normal', samples: 20 }],
      },
    ]);
    // 0, 30, …, 120 s into the window: 5 readings per sensor by NOW.
    expect(result.current).toEqual({
      from: CURRENT,
      to: CURRENT + 5 * MINUTE,
      partial: true,
      asOf: NOW,
      places: [
        { place: 'pudong', value: 15, state: 'normal', samples: 10 },
        { place: 'xuhui', value: 90, state: 'warning', samples: 5 },
      ],
    });
  });

  it('gives a rate over the part of the window that has passed, not the whole window', async () => {
    const result = await engine.evaluate({ name: 'pm25_rate', level: 'district', place: 'pudong', partial: true });
    // Complete: (10 + 20) · 10 readings over 300 s; so far: (10 + 20) · 5 readings over 150 s.
    expect(result.windows[0]?.places[0]?.value).toBe(1);
    expect(result.current?.places[0]).toEqual({ place: 'pudong', value: 1, state: 'normal', samples: 10 });
  });

  it('is left out when not asked for, for a past time, or for a series that ends before now', async () => {
    expect(await engine.evaluate({ name: 'pm25_avg', level: 'district' })).not.toHaveProperty('current');
    expect(await engine.evaluate({ name: 'pm25_avg', level: 'district', at: NOW, partial: true })).not.toHaveProperty('current');
    const past = await engine.evaluate({ name: 'pm25_avg', level: 'district', from: BASE, to: BASE + 10 * MINUTE, partial: true });
    expect(past.windows.map((w) => w.from)).toEqual([BASE, BASE + 5 * MINUTE]);
    expect(past).not.toHaveProperty('current');
  });

  it('ends a series reaching now, and is all a series that starts inside it gets', async () => {
    const series = await engine.evaluate({ name: 'pm25_avg', level: 'grid', place: 'pudong', from: BASE, partial: true });
    expect(series.windows.map((w) => w.from)).toEqual([BASE, BASE + 5 * MINUTE, BASE + 10 * MINUTE, BASE + 15 * MINUTE]);
    expect(series.current?.places.map((p) => [p.place, p.value, p.samples])).toEqual([
      ['pudong/pudong-s01/g001', 10, 5],
      ['pudong/pudong-s02/g004', 20, 5],
    ]);
    const young = await engine.evaluate({ name: 'pm25_avg', level: 'city', from: CURRENT + MINUTE, partial: true });
    expect(young.windows).toEqual([]);
    expect(young.current).toMatchObject({ from: CURRENT, partial: true, places: [{ place: '', value: 40, samples: 15 }] });
  });
});

describe('GET /v1/indicators/{name}', () => {
  it('answers the current window as `current` unless partial=false, and refuses another value', async () => {
    const body = (await (await fetch(`${url}/v1/indicators/pm25_avg?level=district`)).json()) as Record<string, unknown>;
    expect((body.windows as { to: number }[]).map((w) => w.to)).toEqual([CURRENT]);
    expect(body.current).toMatchObject({ from: CURRENT, partial: true, asOf: NOW, places: [{ place: 'pudong', samples: 10 }, { place: 'xuhui', value: 90, samples: 5 }] });
    const without = (await (await fetch(`${url}/v1/indicators/pm25_avg?level=district&partial=false`)).json()) as Record<string, unknown>;
    expect(without).not.toHaveProperty('current');
    const refused = await fetch(`${url}/v1/indicators/pm25_avg?partial=yes`);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { code: string }).code).toBe('ANALYTICS_ERR_QUERY_INVALID');
  });
});

describe('the city overview', () => {
  it('colours a place whose complete window has no data by the current one, and says so', async () => {
    const overview = await cityOverview(engine, 'district', '', NOW);
    const [pudong, xuhui] = overview.places;
    expect(pudong).toMatchObject({ place: 'pudong', state: 'normal', counts: { normal: 2, no_data: 0 } });
    expect(pudong).not.toHaveProperty('partial');
    expect(xuhui).toMatchObject({ place: 'xuhui', state: 'warning', partial: 2 });
    expect(xuhui?.marks[0]).toEqual({ indicator: 'pm25_avg', title: 'PM2.5 avg', unit: 'µg/m³', state: 'warning', value: 90, partial: true, samples: 5 });
  });
});
