import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTelemetryCodec, topics, type DeviceErrorReport, type TelemetryBatch } from '@cityops/protocol';
import type { IngestConfigInput } from '../src/index.ts';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

/** vi.waitFor's default (1 s) is short on a loaded 2-core machine; an event that never comes still fails. */
const SETTLED = { timeout: 15_000, interval: 20 };

/**
 * Issue 17: one device cannot flood the city with sensor ids. Real MQTT (port 0) and HTTP against a
 * whole ingest service over an embedded warehouse; the set survives a restart on the same warehouse.
 */
const codec = createTelemetryCodec();
const ADMIN = { authorization: 'Bearer test-admin-token-0123456789' };
const PLACE = 'huangpu/nanjing-east/g001';
const CONFIG: Partial<IngestConfigInput> = {
  telemetry: { maxPayloadBytes: 64 * 1024 },
  registry: { sensors: { defaultMaxPerDevice: 256, maxMetricsPerDevice: 8, flushMs: 50 } },
  wal: { fsync: false },
};

function batch(seq: number, sensors: readonly string[], metric = 'pm25'): TelemetryBatch {
  const ts = Date.now() - 1000;
  return { boot: 1, seq, readings: sensors.map((sensor, i) => ({ sensor, metric, ts: ts + i, value: seq + i })) };
}

const range = (from: number, n: number, prefix = 's') => Array.from({ length: n }, (_, i) => `${prefix}${from + i}`);

function collect(client: MqttClient, topic: string): Buffer[] {
  const got: Buffer[] = [];
  client.on('message', (t, payload) => {
    if (t === topic) got.push(payload);
  });
  return got;
}

async function api(h: Harness, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${h.addresses.httpUrl}${path}`, {
    method,
    ...(body === undefined ? { headers: ADMIN } : { headers: { ...ADMIN, 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

async function deadLetters(h: Harness, device: string) {
  return h.warehouse.query<{ reason: string; detail: string; payload: string }>(
    'SELECT reason, detail, hex(payload) AS payload FROM dead_letters WHERE device = {device:String} ORDER BY received_at',
    { device },
  );
}

async function storedSensors(h: Harness, device: string): Promise<string[]> {
  const rows = await h.warehouse.query<{ sensor: string }>('SELECT DISTINCT sensor FROM readings WHERE device = {device:String} ORDER BY sensor', { device });
  return rows.map((r) => r.sensor);
}

describe('sensor sets at ingest (issue 17)', () => {
  let dir: string;
  let h: Harness;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-sensor-limits-'));
    h = await startHarness(CONFIG, undefined, dir);
    for (const [id, extra] of [['gw-flood', { maxSensors: 50 }], ['gw-calm', {}], ['gw-metrics', {}], ['svc-rules', {}]] as const) {
      const kind = id.startsWith('svc') ? 'service' : 'gateway';
      const { status, body } = await api(h, 'POST', '/v1/devices', { id, kind, ...(kind === 'gateway' ? { place: PLACE } : {}), ...extra });
      expect(status).toBe(201);
      secrets[id] = body.secret as string;
    }
  });
  afterAll(async () => {
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a gateway with cap 50 publishing 5,000 distinct sensors: 50 learned and stored, the rest refused, told and counted', async () => {
    const rules = await h.connect('svc-rules', secrets['svc-rules']!);
    await rules.subscribeAsync(topics.telemetry('+'), { qos: 1 });
    const forwarded = collect(rules, topics.telemetry('gw-flood'));
    const flood = await h.connect('gw-flood', secrets['gw-flood']!);
    await flood.subscribeAsync(topics.errors('gw-flood'), { qos: 0 });
    const notices = collect(flood, topics.errors('gw-flood'));
    const calm = await h.connect('gw-calm', secrets['gw-calm']!);
    const payloads: Buffer[] = [];
    for (let seq = 1; seq <= 50; seq++) {
      const payload = codec.encode(batch(seq, range((seq - 1) * 100, 100)));
      payloads.push(payload);
      await flood.publishAsync(topics.telemetry('gw-flood'), payload, { qos: 1 });
    }
    await calm.publishAsync(topics.telemetry('gw-calm'), codec.encode(batch(1, ['pm-1', 'pm-2', 'pm-3'])), { qos: 1 });

    // The first 50 sensors are learned and their readings stored; not one reading of the others.
    await vi.waitFor(async () => expect((await countByKey(h.warehouse, 'gw-flood')).rows).toBe(50), SETTLED);
    expect(await storedSensors(h, 'gw-flood')).toEqual(range(0, 50).sort());
    // Every refused reading is in a dead letter with the raw bytes: 49 whole batches and the second half of the first.
    await vi.waitFor(async () => expect(await deadLetters(h, 'gw-flood')).toHaveLength(50), SETTLED);
    const letters = await deadLetters(h, 'gw-flood');
    expect(new Set(letters.map((l) => l.reason))).toEqual(new Set(['INGEST_ERR_SENSOR_LIMIT']));
    expect(letters.map((l) => l.payload)).toEqual(payloads.map((p) => p.toString('hex').toUpperCase()));
    expect(letters[0]!.detail).toMatch(/50 of 100 readings refused: 50 sensor_limit \(s50:pm25/);
    // The device hears why on its errors topic, one notice per batch.
    await vi.waitFor(() => expect(notices).toHaveLength(50), SETTLED);
    const first = JSON.parse(notices[0]!.toString()) as DeviceErrorReport;
    expect(first).toMatchObject({ code: 'INGEST_ERR_SENSOR_LIMIT', boot: 1, seq: 1, topic: topics.telemetry('gw-flood') });
    const counted = await h.service.metrics.sensorRefusals.get();
    expect(counted.values.find((v) => v.labels.reason === 'sensor_limit')?.value).toBe(4950);
    // Subscribers (analytics) got the accepted half of the first batch only, never a refused sensor.
    await vi.waitFor(async () => expect((await countByKey(h.warehouse, 'gw-calm')).rows).toBe(3), SETTLED);
    await vi.waitFor(() => expect(forwarded.length).toBeGreaterThanOrEqual(1), SETTLED);
    const seen = forwarded.flatMap((p) => codec.decode(p).readings.map((r) => r.sensor));
    expect(seen.sort()).toEqual(range(0, 50).sort());
    // The calm gateway beside it lost nothing.
    expect(await storedSensors(h, 'gw-calm')).toEqual(['pm-1', 'pm-2', 'pm-3']);
    expect(await deadLetters(h, 'gw-calm')).toHaveLength(0);
    // The learned sensors reached the warehouse in the background, and the API lists them against the cap.
    await vi.waitFor(async () => {
      const [row] = await h.warehouse.query<{ n: number }>("SELECT count() AS n FROM device_sensors FINAL WHERE device = 'gw-flood'");
      expect(Number(row!.n)).toBe(50);
    }, SETTLED);
    const listed = await api(h, 'GET', '/v1/devices/gw-flood/sensors?limit=5');
    expect(listed.body).toMatchObject({ device: 'gw-flood', cap: 50, active: 50, decommissioned: 0, metrics: 1, truncated: true });
    expect(listed.body.sensors).toHaveLength(5);
  });

  it('bounds distinct metric names per device', async () => {
    const gw = await h.connect('gw-metrics', secrets['gw-metrics']!);
    const readings = range(0, 10, 'm').map((sensor, i) => ({ sensor, metric: `metric_${i}`, ts: Date.now() - 1000, value: i }));
    await gw.publishAsync(topics.telemetry('gw-metrics'), codec.encode({ boot: 1, seq: 1, readings }), { qos: 1 });
    await vi.waitFor(async () => expect(await deadLetters(h, 'gw-metrics')).toHaveLength(1), SETTLED);
    expect((await deadLetters(h, 'gw-metrics'))[0]).toMatchObject({ reason: 'INGEST_ERR_METRIC_LIMIT' });
    await vi.waitFor(async () => expect((await countByKey(h.warehouse, 'gw-metrics')).rows).toBe(8), SETTLED);
  });

  it('declares sensors at provisioning and decommissions one: its readings are refused with their own code', async () => {
    const created = await api(h, 'POST', '/v1/devices', {
      id: 'gw-decl',
      kind: 'gateway',
      place: PLACE,
      maxSensors: 2,
      sensors: [{ id: 'lvl-1', metric: 'water_level' }, { id: 'lvl-2', metric: 'water_level' }],
    });
    expect(created.status).toBe(201);
    // Beyond the cap at provisioning: refused before the device exists.
    const tooMany = await api(h, 'POST', '/v1/devices', { id: 'gw-decl-2', kind: 'gateway', place: PLACE, maxSensors: 1, sensors: [{ id: 'a', metric: 'pm25' }, { id: 'b', metric: 'pm25' }] });
    expect(tooMany).toMatchObject({ status: 409, body: { code: 'INGEST_ERR_SENSOR_LIMIT' } });
    expect(await h.service.registry.find('gw-decl-2')).toBeUndefined();
    const listed = await api(h, 'GET', '/v1/devices/gw-decl/sensors');
    expect(listed.body).toMatchObject({ cap: 2, active: 2 });
    expect((listed.body.sensors as { sensor: string; origin: string }[]).map((s) => `${s.sensor}:${s.origin}`)).toEqual(['lvl-1:declared', 'lvl-2:declared']);

    const gone = await api(h, 'DELETE', '/v1/devices/gw-decl/sensors/lvl-1');
    expect(gone).toMatchObject({ status: 200, body: { device: 'gw-decl', sensor: 'lvl-1', state: 'decommissioned' } });
    expect((await api(h, 'DELETE', '/v1/devices/gw-decl/sensors/lvl-9')).body).toMatchObject({ code: 'INGEST_ERR_UNKNOWN_SENSOR' });
    const gw = await h.connect('gw-decl', created.body.secret as string);
    await gw.subscribeAsync(topics.errors('gw-decl'), { qos: 0 });
    const notices = collect(gw, topics.errors('gw-decl'));
    await gw.publishAsync(topics.telemetry('gw-decl'), codec.encode(batch(1, ['lvl-1'], 'water_level')), { qos: 1 });
    await gw.publishAsync(topics.telemetry('gw-decl'), codec.encode(batch(2, ['lvl-2', 'lvl-3'], 'water_level')), { qos: 1 });
    await vi.waitFor(() => expect(notices).toHaveLength(2), SETTLED);
    expect(notices.map((n) => (JSON.parse(n.toString()) as DeviceErrorReport).code)).toEqual(['INGEST_ERR_SENSOR_DECOMMISSIONED', 'INGEST_ERR_SENSOR_LIMIT']);
    await vi.waitFor(async () => expect(await storedSensors(h, 'gw-decl')).toEqual(['lvl-2']), SETTLED);

    // Recommissioned (declared again) with a larger cap in one call: readings flow again.
    const again = await api(h, 'POST', '/v1/devices/gw-decl/sensors', { maxSensors: 3, sensors: [{ id: 'lvl-1', metric: 'water_level' }] });
    expect(again.body).toMatchObject({ cap: 3, active: 2, decommissioned: 0 });
    await gw.publishAsync(topics.telemetry('gw-decl'), codec.encode(batch(3, ['lvl-1', 'lvl-3'], 'water_level')), { qos: 1 });
    await vi.waitFor(async () => expect(await storedSensors(h, 'gw-decl')).toEqual(['lvl-1', 'lvl-2', 'lvl-3']), SETTLED);
  });

  it('refuses over HTTP as over MQTT: a mixed batch is 202 with the refusal, a wholly refused one 400', async () => {
    const auth = `Basic ${Buffer.from(`gw-flood:${secrets['gw-flood']!}`).toString('base64')}`;
    const post = async (b: TelemetryBatch) => {
      const response = await fetch(`${h.addresses.httpUrl}/v1/telemetry`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/msgpack' }, body: codec.encode(b) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const mixed = await post(batch(100, ['s0', 's1', 'http-new']));
    expect(mixed).toMatchObject({ status: 202, body: { outcome: 'accepted', readings: 2, refused: { code: 'INGEST_ERR_SENSOR_LIMIT', readings: 1, storedAs: 'dead_letter' } } });
    expect(mixed.body.payload).toBeUndefined();
    const refused = await post(batch(101, ['http-new']));
    expect(refused).toMatchObject({ status: 400, body: { code: 'INGEST_ERR_SENSOR_LIMIT', storedAs: 'dead_letter' } });
    await vi.waitFor(async () => expect((await countByKey(h.warehouse, 'gw-flood')).rows).toBe(52), SETTLED);
  });

  it('keeps hostile ids off the sensor routes and strangers out', async () => {
    expect((await api(h, 'GET', '/v1/devices/gw%2B/sensors')).status).toBe(400);
    expect((await api(h, 'GET', '/v1/devices/nobody/sensors')).body).toMatchObject({ code: 'INGEST_ERR_NO_SUCH_DEVICE' });
    expect((await api(h, 'DELETE', `/v1/devices/gw-flood/sensors/${'x'.repeat(65)}`)).status).toBe(400);
    expect((await api(h, 'POST', '/v1/devices/gw-flood/sensors', { sensors: [{ id: 's#', metric: 'pm25' }] })).status).toBe(400);
    expect((await api(h, 'POST', '/v1/devices/gw-flood/sensors', { maxSensors: 1e9 })).status).toBe(400);
    const stranger = await fetch(`${h.addresses.httpUrl}/v1/devices/gw-flood/sensors`);
    expect(stranger.status).toBe(401);
  });

  it('keeps the set across a restart on the same warehouse', async () => {
    await h.close();
    h = await startHarness(CONFIG, undefined, dir);
    const flood = await h.connect('gw-flood', secrets['gw-flood']!);
    await flood.publishAsync(topics.telemetry('gw-flood'), codec.encode({ ...batch(1, range(0, 51)), boot: 2 }), { qos: 1 });
    await vi.waitFor(async () => expect((await countByKey(h.warehouse, 'gw-flood')).rows).toBe(102), SETTLED);
    const letters = await deadLetters(h, 'gw-flood');
    expect(letters.at(-1)?.detail).toMatch(/1 of 51 readings refused: 1 sensor_limit \(s50:pm25\)/);
    expect(await storedSensors(h, 'gw-flood')).toEqual(range(0, 50).sort());
  });
});
