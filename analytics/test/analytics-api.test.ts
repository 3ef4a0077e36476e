import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCityopsError, type Place } from '@cityops/protocol';
import { openWarehouse, type StoredBatch, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAnalyticsService, type AnalyticsService } from '../src/index.ts';

let dir: string;
let wh: Warehouse;
let service: AnalyticsService;
let url: string;

const MINUTE = 60_000;
const BASE = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
const NOW = BASE + 20 * MINUTE;

const GRIDS: Place[] = [
  { district: 'pudong', subdistrict: 'pudong-s01', grid: 'g001', building: '' },
  { district: 'pudong', subdistrict: 'pudong-s02', grid: 'g004', building: '' },
  { district: 'xuhui', subdistrict: 'xuhui-s01', grid: 'g001', building: '' },
];

/** PM2.5 of 10·(grid+1) everywhere, every 30 s for 15 minutes, one sensor per grid. */
function readings(): StoredBatch[] {
  return GRIDS.map((place, g) => ({
    device: `gw-${g}`,
    place,
    boot: 1,
    seq: g,
    receivedAt: BASE,
    readings: Array.from({ length: 30 }, (_, i) => ({ sensor: 'pm', metric: 'pm25', ts: BASE + i * 30_000, value: 10 * (g + 1) })),
  }));
}

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`);
  const text = await response.text();
  return { status: response.status, body: response.headers.get('content-type')?.includes('json') === true ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-analytics-api-'));
  wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  await wh.insertBatches(readings());
  service = createAnalyticsService({ http: { port: 0 }, rollup: { intervalMs: 3_600_000 } }, { warehouse: wh, logger: pino({ level: 'silent' }), now: () => NOW });
  ({ httpUrl: url } = await service.start());
});

afterAll(async () => {
  await service.stop();
  await wh.close();
  await rm(dir, { recursive: true, force: true });
});

describe('GET /v1/indicators', () => {
  it('lists the definitions', async () => {
    const { status, body } = await get('/v1/indicators');
    expect(status).toBe(200);
    const indicators = body.indicators as { name: string; source: string }[];
    expect(indicators.find((i) => i.name === 'pm25_avg')).toMatchObject({ source: 'readings', metric: 'pm25', aggregation: 'avg', window: '5m' });
    expect(indicators.length).toBe(service.engine.definitions.length);
  });
});

describe('GET /v1/indicators/{name}', () => {
  it('answers one time per place at a level, with the thresholds of that level', async () => {
    const { status, body } = await get(`/v1/indicators/pm25_avg?level=district&at=${BASE + 10 * MINUTE}`);
    expect(status).toBe(200);
    expect(body).toEqual({
      indicator: { name: 'pm25_avg', title: 'PM2.5, 5-minute average', unit: 'µg/m³', aggregation: 'avg', window: '5m', direction: 'above', thresholds: { warning: 75, critical: 115 } },
      level: 'district',
      place: '',
      windows: [
        {
          from: BASE + 5 * MINUTE,
          to: BASE + 10 * MINUTE,
          places: [
            { place: 'pudong', value: 15, state: 'normal', samples: 20 },
            { place: 'xuhui', value: 30, state: 'normal', samples: 10 },
          ],
        },
      ],
    });
  });

  it('drills down from a district to its grids, as a series, with ISO times', async () => {
    const from = new Date(BASE).toISOString();
    const to = new Date(BASE + 15 * MINUTE).toISOString();
    const { status, body } = await get(`/v1/indicators/pm25_avg?level=grid&place=pudong&from=${from}&to=${to}`);
    expect(status).toBe(200);
    const windows = body.windows as { from: number; places: { place: string; value: number }[] }[];
    expect(windows.map((w) => w.from)).toEqual([BASE, BASE + 5 * MINUTE, BASE + 10 * MINUTE]);
    for (const w of windows) {
      expect(w.places.map((p) => [p.place, p.value])).toEqual([
        ['pudong/pudong-s01/g001', 10],
        ['pudong/pudong-s02/g004', 20],
      ]);
    }
  });

  it('defaults to the indicator’s first level and the last complete window', async () => {
    const { status, body } = await get('/v1/indicators/pm25_avg');
    expect(status).toBe(200);
    expect(body.level).toBe('city');
    expect((body.windows as { to: number }[]).map((w) => w.to)).toEqual([NOW]);
  });

  it('validates parameters with a code, never crashing', async () => {
    const cases: [string, number, string][] = [
      ['/v1/indicators/pm25_avg?level=planet', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      ['/v1/indicators/pm25_avg?level=grid&place=Pudong!', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      ['/v1/indicators/pm25_avg?level=district&place=pudong/pudong-s01', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      ['/v1/indicators/pm25_avg?at=1&from=0', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      [`/v1/indicators/pm25_avg?from=${BASE}&to=${BASE - 1}`, 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      ['/v1/indicators/pm25_avg?from=0', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      ['/v1/indicators/pm25_avg?at=yesterday', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      ['/v1/indicators/pm25_avg?at=2026-13-45T99:00:00Z', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      ['/v1/indicators/pm25_avg?levle=grid', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      ['/v1/indicators/water_pressure_avg?level=grid', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
      ['/v1/indicators/no_such_thing', 404, 'ANALYTICS_ERR_INDICATOR_UNKNOWN'],
      ['/v1/indicators/NOT-A-NAME', 400, 'ANALYTICS_ERR_QUERY_INVALID'],
    ];
    for (const [path, status, code] of cases) {
      const response = await get(path);
      expect(response.status, path).toBe(status);
      expect(response.body.code, path).toBe(code);
      expect(typeof response.body.message).toBe('string');
    }
  });
});

describe('probes and metrics', () => {
  it('serves /healthz, /readyz and a query latency histogram by indicator and level', async () => {
    expect((await get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await get('/readyz')).status).toBe(200);
    await get(`/v1/indicators/pm25_p95?level=grid&at=${BASE + 10 * MINUTE}`);
    const { text } = (await get('/metrics')).body as { text: string };
    expect(text).toMatch(/cityops_analytics_indicator_query_duration_seconds_count\{indicator="pm25_p95",level="grid"\} [1-9]/);
    expect(text).toMatch(/cityops_analytics_indicator_query_errors_total\{code="ANALYTICS_ERR_QUERY_INVALID"\} [1-9]/);
    // The job ran once at start (and waits an hour for the next run).
    await vi.waitFor(async () => {
      const metrics = ((await get('/metrics')).body as { text: string }).text;
      expect(metrics).toMatch(/cityops_analytics_rollup_runs_total\{outcome="rolled_up"\} 1/);
    });
  });
});

describe('the service', () => {
  it('refuses a bad configuration and a bad definitions file at creation, every problem at once', async () => {
    let err: unknown;
    try {
      createAnalyticsService({ http: { port: -1 }, rollup: { intervalMs: 5 }, extra: true } as never, { warehouse: wh });
    } catch (e) {
      err = e;
    }
    expect(isCityopsError(err, 'ANALYTICS_ERR_CONFIG')).toBe(true);
    expect((err as Error).message).toMatch(/\/http\/port.*\/rollup\/intervalMs|\/rollup\/intervalMs.*\/http\/port/);
    expect((err as Error).message).toContain('extra');

    const file = join(dir, 'defs.json');
    await writeFile(file, JSON.stringify({ indicators: [{ name: 'x' }] }));
    let defsErr: unknown;
    try {
      createAnalyticsService({ indicatorsFile: file }, { warehouse: wh });
    } catch (e) {
      defsErr = e;
    }
    expect(isCityopsError(defsErr, 'ANALYTICS_ERR_DEFINITIONS_INVALID')).toBe(true);
    expect((defsErr as Error).message).toContain("must have required property 'title'");
  });

  it('stops idempotently', async () => {
    const other = createAnalyticsService({ http: { port: 0 }, rollup: { enabled: false } }, { warehouse: wh, logger: pino({ level: 'silent' }) });
    const { httpUrl } = await other.start();
    expect((await fetch(`${httpUrl}/healthz`)).status).toBe(200);
    await Promise.all([other.stop(), other.stop()]);
    await other.stop();
    await expect(fetch(`${httpUrl}/healthz`)).rejects.toThrow();
  });
});
