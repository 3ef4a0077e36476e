import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pack } from 'msgpackr';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTelemetryCodec, topics, type TelemetryBatch } from '@cityops/protocol';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

const run = promisify(execFile);
const codec = createTelemetryCodec();

function batch(boot: number, seq: number, n = 3, metric = 'pm25'): TelemetryBatch {
  const ts = Date.now() - 1000;
  return { boot, seq, readings: Array.from({ length: n }, (_, i) => ({ sensor: `s-${i}`, metric, ts: ts + i, value: seq * 10 + i })) };
}

async function mosquittoPub(port: number, args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', ...args], { timeout: 15_000 });
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stderr: e.stderr ?? '' };
  }
}

async function readings(h: Harness, query: string): Promise<{ status: number; body: { readings?: { device: string; value: number; metric: string; district: string; grid: string }[]; code?: string } }> {
  const response = await fetch(`${h.addresses.httpUrl}/v1/readings?${query}`);
  return { status: response.status, body: (await response.json()) as never };
}

function nextMessage(client: MqttClient, topic: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      client.off('message', onMessage);
      resolve(JSON.parse(payload.toString()) as Record<string, unknown>);
    };
    client.on('message', onMessage);
  });
}

describe('ingest service', () => {
  let h: Harness;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    h = await startHarness({ telemetry: { maxPayloadBytes: 64 * 1024 } });
    secrets['gw-a'] = await h.provision('gw-a', 'gateway', 'huangpu/nanjing-east/g001');
    secrets['gw-b'] = await h.provision('gw-b', 'gateway', 'pudong/lujiazui/g002/b07');
    secrets['gw-c'] = await h.provision('gw-c', 'gateway', 'xuhui/tianping/g003');
    secrets['scanner-1'] = await h.provision('scanner-1', 'scanner', 'jingan/nanjing-west/g004');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('stores a JSON reading published by mosquitto_pub, with the place from the registry', async () => {
    const body = JSON.stringify({ boot: 1, seq: 1, readings: [{ sensor: 'pm-1', metric: 'pm25', ts: Date.now() - 500, value: 42.5 }] });
    const result = await mosquittoPub(h.addresses.mqttPort, ['-i', 'gw-a', '-u', 'gw-a', '-P', secrets['gw-a']!, '-t', topics.telemetry('gw-a'), '-m', body]);
    expect(result.code).toBe(0);
    await vi.waitFor(async () => {
      const { body: got } = await readings(h, 'device=gw-a&metric=pm25');
      expect(got.readings?.map((r) => r.value)).toContain(42.5);
    });
    const { body: got } = await readings(h, 'device=gw-a&metric=pm25');
    expect(got.readings?.[0]).toMatchObject({ device: 'gw-a', district: 'huangpu', grid: 'g001' });
  });

  it('refuses a wrong password', async () => {
    const result = await mosquittoPub(h.addresses.mqttPort, ['-i', 'gw-a', '-u', 'gw-a', '-P', 'wrong', '-t', topics.telemetry('gw-a'), '-m', '{}']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/not authori[sz]ed|bad user name or password/i);
    expect(h.service.metrics.authFailures.get()).toBeDefined();
  });

  it("refuses publishing to another device's topic, and stores nothing of it", async () => {
    const body = JSON.stringify({ boot: 9, seq: 9, readings: [{ sensor: 'x', metric: 'pm25', ts: Date.now(), value: 666 }] });
    const result = await mosquittoPub(h.addresses.mqttPort, ['-i', 'gw-a', '-u', 'gw-a', '-P', secrets['gw-a']!, '-t', topics.telemetry('gw-b'), '-m', body]);
    expect(result.code).not.toBe(0);
    await h.service.pipeline.writer().flush();
    const { body: got } = await readings(h, 'device=gw-b');
    expect(got.readings?.some((r) => r.value === 666)).toBe(false);
  });

  it('refuses a client id that is not the device id', async () => {
    const result = await mosquittoPub(h.addresses.mqttPort, ['-i', 'gw-b', '-u', 'gw-a', '-P', secrets['gw-a']!, '-t', topics.telemetry('gw-a'), '-m', '{}']);
    expect(result.code).not.toBe(0);
  });

  it("gives a subscriber nothing of another device's topics", async () => {
    const spy = await h.connect('gw-c', secrets['gw-c']!);
    for (const filter of [topics.telemetry('gw-b'), 'cityops/v1/telemetry/+', '#', topics.status('gw-b')]) {
      // SUBACK return code 0x80: refused (mqtt.js turns it into a rejection).
      await expect(spy.subscribeAsync(filter, { qos: 1 })).rejects.toThrow(/Subscribe error/);
    }
    const granted = await spy.subscribeAsync(topics.errors('gw-c'), { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    const leaked: string[] = [];
    spy.on('message', (topic) => {
      if (topic !== topics.errors('gw-c')) leaked.push(topic);
    });
    const b = await h.connect('gw-b', secrets['gw-b']!);
    await b.publishAsync(topics.telemetry('gw-b'), codec.encode(batch(1, 1)), { qos: 1 });
    // A barrier: gw-c's own error notice is written to its socket after anything forwarded earlier.
    const notice = nextMessage(spy, topics.errors('gw-c'));
    await spy.publishAsync(topics.telemetry('gw-c'), Buffer.from('not a batch'), { qos: 1 });
    expect((await notice).code).toBe('PROTOCOL_ERR_PAYLOAD_DECODE');
    expect(leaked).toEqual([]);
  });

  it('keeps every bad payload in dead_letters with its reason, tells the sender, and leaves other devices alone', async () => {
    const bad = await h.connect('gw-a', secrets['gw-a']!);
    await bad.subscribeAsync(topics.errors('gw-a'), { qos: 0 });
    const good = await h.connect('gw-b', secrets['gw-b']!);
    const valid = codec.encode(batch(7, 1, 50));
    const cases: [string, Buffer][] = [
      ['PROTOCOL_ERR_PAYLOAD_DECODE', Buffer.from([0xc1, 0xff, 0x00, 0x13])],
      ['PROTOCOL_ERR_PAYLOAD_DECODE', valid.subarray(0, valid.length - 7)],
      ['PROTOCOL_ERR_SCHEMA', pack({ boot: 1, seq: 2, readings: [{ sensor: 's', metric: 'pm25', ts: Date.now() }] })],
      ['PROTOCOL_ERR_SCHEMA', Buffer.from(JSON.stringify({ boot: 'one', seq: 2, readings: [] }))],
      ['PROTOCOL_ERR_PAYLOAD_TOO_LARGE', Buffer.alloc(100 * 1024, 0x41)],
      ['INGEST_ERR_TIMESTAMP_OUT_OF_RANGE', codec.encode({ boot: 1, seq: 3, readings: [{ sensor: 's', metric: 'pm25', ts: Date.now() + 86_400_000, value: 1 }] })],
    ];
    const goodSends = Array.from({ length: 10 }, (_, i) => good.publishAsync(topics.telemetry('gw-b'), codec.encode(batch(7, i + 1, 50)), { qos: 1 }));
    for (const [code, payload] of cases) {
      const notice = nextMessage(bad, topics.errors('gw-a'));
      await bad.publishAsync(topics.telemetry('gw-a'), payload, { qos: 1 });
      expect((await notice).code).toBe(code);
    }
    await Promise.all(goodSends);
    await h.service.pipeline.writer().flush();
    const letters = await h.warehouse.query<{ reason: string; payload_hex: string; device: string }>(
      "SELECT reason, hex(payload) AS payload_hex, device FROM dead_letters WHERE device = 'gw-a' AND topic = {topic:String} ORDER BY received_at",
      { topic: topics.telemetry('gw-a') },
    );
    const reasons = letters.map((l) => l.reason);
    for (const [code] of cases) expect(reasons).toContain(code);
    const garbage = letters.find((l) => l.payload_hex === 'C1FF0013');
    expect(garbage?.reason).toBe('PROTOCOL_ERR_PAYLOAD_DECODE');
    // The other device: all 10 batches of 50, exactly once.
    expect(await countByKey(h.warehouse, 'gw-b')).toMatchObject({ keys: expect.any(Number) as number });
    const b = await countByKey(h.warehouse, 'gw-b');
    expect(b.rows).toBe(b.keys);
    expect(b.rows).toBeGreaterThanOrEqual(500);
    // The bad device is still connected and can send a valid batch.
    await bad.publishAsync(topics.telemetry('gw-a'), codec.encode(batch(1, 100)), { qos: 1 });
  });

  it('stores a batch once however often it is sent', async () => {
    const client = await h.connect('gw-c', secrets['gw-c']!);
    const payload = codec.encode(batch(42, 1, 10, 'noise'));
    await Promise.all([1, 2, 3].map(() => client.publishAsync(topics.telemetry('gw-c'), payload, { qos: 1 })));
    await h.service.pipeline.writer().flush();
    const [row] = await h.warehouse.query<{ n: number }>("SELECT toUInt32(count()) AS n FROM readings WHERE device = 'gw-c' AND boot = 42");
    expect(row?.n).toBe(10);
  });

  it('refuses telemetry from a scanner', async () => {
    const result = await mosquittoPub(h.addresses.mqttPort, [
      '-i', 'scanner-1', '-u', 'scanner-1', '-P', secrets['scanner-1']!, '-t', topics.telemetry('scanner-1'), '-m', JSON.stringify(batch(1, 1)),
    ]);
    expect(result.code).not.toBe(0);
  });

  it('lets a scanner ask and a service answer on the verification channels, and no one else', async () => {
    const serviceSecret = await h.provision('svc-verifier', 'service');
    const service = await h.connect('svc-verifier', serviceSecret);
    await service.subscribeAsync('cityops/v1/verify-req/+', { qos: 1 });
    const scanner = await h.connect('scanner-1', secrets['scanner-1']!);
    await scanner.subscribeAsync(topics.verifyResponse('scanner-1'), { qos: 1 });
    await expect(scanner.subscribeAsync(topics.verifyResponse('scanner-2'), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    const request = new Promise<string>((resolve) => service.once('message', (topic, payload) => resolve(`${topic} ${payload.toString()}`)));
    await scanner.publishAsync(topics.verifyRequest('scanner-1'), JSON.stringify({ id: 'r1', qr: 'HC1:...' }), { qos: 1 });
    expect(await request).toBe(`${topics.verifyRequest('scanner-1')} {"id":"r1","qr":"HC1:..."}`);
    const response = new Promise<string>((resolve) => scanner.once('message', (_topic, payload) => resolve(payload.toString())));
    await service.publishAsync(topics.verifyResponse('scanner-1'), JSON.stringify({ id: 'r1', verdict: 'deny' }), { qos: 1 });
    expect(JSON.parse(await response)).toEqual({ id: 'r1', verdict: 'deny' });
    // A gateway may not answer for the verifier.
    const gw = await mosquittoPub(h.addresses.mqttPort, ['-i', 'gw-a', '-u', 'gw-a', '-P', secrets['gw-a']!, '-t', topics.verifyResponse('scanner-1'), '-m', '{}']);
    expect(gw.code).not.toBe(0);
  });

  it('accepts telemetry over HTTP with the device credentials', async () => {
    const auth = `Basic ${Buffer.from(`gw-c:${secrets['gw-c']!}`).toString('base64')}`;
    const post = (body: string | Buffer, type = 'application/json', authorization = auth) =>
      fetch(`${h.addresses.httpUrl}/v1/telemetry`, { method: 'POST', headers: { authorization, 'content-type': type }, body });
    const first = await post(JSON.stringify(batch(77, 1, 4, 'temperature')));
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ outcome: 'accepted', readings: 4 });
    const again = await post(codec.encode(batch(77, 1, 4, 'temperature')), 'application/msgpack');
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ outcome: 'duplicate' });
    const invalid = await post(JSON.stringify({ boot: 77, seq: 2 }));
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ code: 'PROTOCOL_ERR_SCHEMA', storedAs: 'dead_letter' });
    const unauthorized = await post(JSON.stringify(batch(77, 3)), 'application/json', 'Basic Z3ctYzp3cm9uZw==');
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toMatchObject({ code: 'INGEST_ERR_BAD_CREDENTIALS' });
    await vi.waitFor(async () => {
      const { body } = await readings(h, 'device=gw-c&metric=temperature');
      expect(body.readings).toHaveLength(4);
    });
  });

  it('validates readings query parameters, and an injection attempt is only a bad parameter', async () => {
    expect((await readings(h, 'limit=0')).body.code).toBe('INGEST_ERR_QUERY_INVALID');
    expect((await readings(h, `device=${encodeURIComponent("x' OR 1=1 --")}`)).status).toBe(400);
    expect((await readings(h, 'from=yesterday')).status).toBe(400);
    const windowed = await readings(h, `device=gw-a&from=${Date.now() - 3_600_000}&to=${new Date(Date.now() + 60_000).toISOString()}&limit=1`);
    expect(windowed.status).toBe(200);
    expect(windowed.body.readings).toHaveLength(1);
  });

  it('serves metrics, health and readiness', async () => {
    const metrics = await (await fetch(`${h.addresses.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/cityops_ingest_batches_total\{outcome="accepted",transport="mqtt"\} \d+/);
    expect(metrics).toMatch(/cityops_ingest_dead_letters_total\{reason="PROTOCOL_ERR_SCHEMA"\} \d+/);
    // The embedded engine's own memory account: allocations it tracks, and its caches.
    expect(metrics).toMatch(/cityops_warehouse_engine_memory_bytes\{kind="tracked"\} -?\d+/);
    expect(metrics).toMatch(/cityops_warehouse_engine_memory_bytes\{kind="mark_cache"\} \d+/);
    expect((await fetch(`${h.addresses.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${h.addresses.httpUrl}/readyz`)).status).toBe(200);
  });

  it('provisions devices through the admin API only with the admin token', async () => {
    const create = (authorization: string) =>
      fetch(`${h.addresses.httpUrl}/v1/devices`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'gw-new', kind: 'gateway', place: 'yangpu/wujiaochang/g009' }),
      });
    expect((await create('Bearer nope')).status).toBe(401);
    const created = await create('Bearer test-admin-token-0123456789');
    expect(created.status, await created.clone().text()).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    const client = await h.connect('gw-new', secret);
    await client.publishAsync(topics.telemetry('gw-new'), codec.encode(batch(1, 1)), { qos: 1 });
    expect((await create('Bearer test-admin-token-0123456789')).status).toBe(409);
  });
});
