import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '@cityops/protocol';
import { createSensorSets, openWarehouse, type SensorSets, type SensorSetsConfig, type Warehouse } from '../src/index.ts';

const BASE: SensorSetsConfig = { defaultMaxPerDevice: 256, maxMetricsPerDevice: 32, flushMs: 3_600_000, flushBatchRows: 5000, refreshMs: 3_600_000 };
const T0 = Date.now();

function readings(device: string, sensors: number, metric = 'pm25', from = 0): Reading[] {
  return Array.from({ length: sensors }, (_, i) => ({ sensor: `${device}-s${from + i}`, metric, ts: T0, value: i }));
}

describe('sensor sets (issue 17): caps, learning written in batches, shared through the warehouse', () => {
  let dir: string;
  let warehouse: Warehouse;
  const started: SensorSets[] = [];
  /** Rows of each insert into device_sensors, as the sets wrote them. */
  const inserts: number[] = [];
  let counting: Warehouse;
  let clock = T0;

  async function sets(config: Partial<SensorSetsConfig> = {}, caps: Record<string, number> = {}): Promise<SensorSets> {
    const s = createSensorSets({ ...BASE, ...config }, { warehouse: counting, now: () => clock, capOf: (d) => caps[d] });
    await s.start();
    started.push(s);
    return s;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-sensor-sets-'));
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    counting = Object.create(warehouse, {
      insertRows: {
        value: (table: string, rows: readonly Record<string, unknown>[]) => {
          if (table === 'device_sensors') inserts.push(rows.length);
          return warehouse.insertRows(table, rows);
        },
      },
    }) as Warehouse;
  });
  afterAll(async () => {
    for (const s of started) await s.stop();
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('learns sensors up to the cap and refuses the rest; a known sensor costs nothing more', async () => {
    const s = await sets({}, { 'gw-cap': 50 });
    const batch = readings('gw-cap', 5000);
    const screened = s.screen('gw-cap', batch);
    expect(screened?.kept).toHaveLength(50);
    expect(screened?.kept.map((r) => r.sensor)).toEqual(batch.slice(0, 50).map((r) => r.sensor));
    expect(screened?.refused).toHaveLength(4950);
    expect(new Set(screened?.refused.map((r) => r.reason))).toEqual(new Set(['sensor_limit']));
    // The 50 learned are known now: admitted without a refusal, the 51st still refused.
    expect(s.screen('gw-cap', batch.slice(0, 50))).toBeUndefined();
    expect(s.screen('gw-cap', batch.slice(50, 51))?.refused[0]?.reason).toBe('sensor_limit');
    // Another device has its own room (the default cap).
    expect(s.screen('gw-other', readings('gw-other', 256))).toBeUndefined();
    expect(s.list('gw-cap')).toMatchObject({ cap: 50, active: 50, decommissioned: 0, metrics: 1 });
  });

  it('bounds distinct metric names per device, also on a known sensor', async () => {
    const s = await sets({ maxMetricsPerDevice: 2 });
    const mixed: Reading[] = [
      { sensor: 'a', metric: 'pm25', ts: T0, value: 1 },
      { sensor: 'b', metric: 'no2', ts: T0, value: 1 },
      { sensor: 'c', metric: 'o3', ts: T0, value: 1 },
      { sensor: 'd', metric: 'pm25', ts: T0, value: 1 },
      { sensor: 'a', metric: 'so2', ts: T0, value: 1 },
      { sensor: 'a', metric: 'no2', ts: T0, value: 1 },
    ];
    const screened = s.screen('gw-metrics', mixed);
    expect(screened?.refused.map((r) => `${r.reading.sensor}:${r.reason}`)).toEqual(['c:metric_limit', 'a:metric_limit']);
    expect(screened?.kept.map((r) => `${r.sensor}:${r.metric}`)).toEqual(['a:pm25', 'b:no2', 'd:pm25', 'a:no2']);
    expect(s.list('gw-metrics').metrics).toBe(2);
  });

  it('writes what it learned in bounded batches, off the screening path, and reads it back after a restart', async () => {
    const s = await sets({ flushBatchRows: 4 });
    inserts.length = 0;
    // Screening is synchronous: the 10 learned rows wait in memory; every 4 start a write.
    expect(s.screen('gw-batch', readings('gw-batch', 10))).toBeUndefined();
    expect(s.stats().pending).toBeGreaterThan(0);
    await s.flush();
    expect(inserts).toEqual([4, 4, 2]);
    expect(s.stats().pending).toBe(0);
    const stored = await warehouse.query<{ n: number }>("SELECT count() AS n FROM device_sensors FINAL WHERE device = 'gw-batch' AND origin = 'learned'");
    expect(Number(stored[0]!.n)).toBe(10);
    // A new instance on the same warehouse (a restart) starts with the set, so its cap still holds.
    const restarted = await sets({}, { 'gw-batch': 10 });
    expect(restarted.list('gw-batch')).toMatchObject({ active: 10, cap: 10 });
    expect(restarted.screen('gw-batch', readings('gw-batch', 10))).toBeUndefined();
    expect(restarted.screen('gw-batch', readings('gw-batch', 1, 'pm25', 10))?.refused[0]?.reason).toBe('sensor_limit');
  });

  it('shares declarations and decommissions between two instances; a learned row never undoes a decommission', async () => {
    const a = await sets();
    const b = await sets();
    await a.declare('gw-shared', [{ id: 'x', metric: 'water_level' }, { id: 'y', metric: 'water_level' }]);
    clock += 10;
    await a.decommission('gw-shared', 'x');
    // b has not re-read yet: it learns x on first sight (version 0) and writes it.
    expect(b.screen('gw-shared', [{ sensor: 'x', metric: 'water_level', ts: T0, value: 1 }])).toBeUndefined();
    await b.flush();
    await Promise.all([a.refresh(), b.refresh()]);
    for (const s of [a, b]) {
      expect(s.screen('gw-shared', [{ sensor: 'x', metric: 'water_level', ts: T0, value: 1 }])?.refused[0]?.reason).toBe('decommissioned');
      expect(s.list('gw-shared').sensors.map((r) => `${r.sensor}:${r.origin}:${r.state}`)).toEqual(['x:declared:decommissioned', 'y:declared:active']);
    }
    // The table agrees (ReplacingMergeTree by version), whatever order the rows were written in.
    const final = await warehouse.query<{ state: string }>("SELECT state FROM device_sensors FINAL WHERE device = 'gw-shared' AND sensor = 'x'");
    expect(final.map((r) => r.state)).toEqual(['decommissioned']);
    // Recommissioning is declaring it again; b sees it at its next refresh.
    clock += 10;
    await a.declare('gw-shared', [{ id: 'x', metric: 'water_level' }]);
    await b.refresh();
    expect(b.screen('gw-shared', [{ sensor: 'x', metric: 'water_level', ts: T0, value: 1 }])).toBeUndefined();
  });

  it('refuses a declaration beyond the caps and a decommission of an unknown sensor', async () => {
    const s = await sets({ maxMetricsPerDevice: 2 }, { 'gw-declare': 2 });
    await expect(s.declare('gw-declare', [{ id: 'a', metric: 'pm25' }, { id: 'b', metric: 'pm25' }, { id: 'c', metric: 'pm25' }])).rejects.toMatchObject({ code: 'INGEST_ERR_SENSOR_LIMIT', statusCode: 409 });
    expect(() => s.checkRoom('gw-declare', [{ id: 'a', metric: 'pm25' }, { id: 'b', metric: 'pm25' }, { id: 'c', metric: 'pm25' }], 3)).not.toThrow();
    expect(() => s.checkRoom('gw-declare', [{ id: 'a', metric: 'pm25' }, { id: 'b', metric: 'no2' }, { id: 'c', metric: 'o3' }], 3)).toThrow(expect.objectContaining({ code: 'INGEST_ERR_METRIC_LIMIT' }));
    await expect(s.decommission('gw-declare', 'nope')).rejects.toMatchObject({ code: 'INGEST_ERR_UNKNOWN_SENSOR', statusCode: 404 });
    expect(s.list('gw-declare').active).toBe(0);
  });
});
