import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTelemetryCodec, topics, type DeviceKind, type TelemetryBatch } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import { startRedisServer, type RedisServer } from '../../test-peers/redis-server.ts';
import { createIngestService } from '../src/index.ts';
import { counter, failingInserts, nextEvent, openClusterHarness, type ClusterHarness, type ClusterInstance, type InstanceOptions } from './cluster-harness.ts';
import { countByKey } from './ingest-harness.ts';

const codec = createTelemetryCodec();
const batch = (seq: number, n = 10): TelemetryBatch => ({
  boot: 1,
  seq,
  readings: Array.from({ length: n }, (_, i) => ({ sensor: `s-${i}`, metric: 'pm25', ts: Date.now() - 1000 + i, value: seq + i / 100 })),
});

type Instance = ClusterInstance;

let h: ClusterHarness;
let warehouse: Warehouse;
let redis: RedisServer;
let root: string;

beforeAll(async () => {
  h = await openClusterHarness('cityops-cluster-');
  ({ warehouse, redis, root } = h);
});
afterEach(() => h.reset());
afterAll(() => h?.close());

const startInstance = (name: string, options?: InstanceOptions) => h.start(name, options);
const stopInstance = (instance: Instance) => h.stop(instance);
const provision = (on: Instance, id: string, kind?: DeviceKind) => h.provision(on, id, kind);
const connect = (to: Instance, id: string, secret: string, options?: IClientOptions) => h.connect(to, id, secret, options);
const next = nextEvent;

function telemetrySeqs(client: MqttClient, device: string): number[] {
  const seqs: number[] = [];
  client.on('message', (topic, payload) => {
    if (topic === topics.telemetry(device)) seqs.push(codec.decode(payload).seq);
  });
  return seqs;
}

describe('two ingest instances sharing routing through Redis', () => {
  it("delivers a device's telemetry published to A once to subscribers on B and on A; duplicates and dead letters to none", async () => {
    const a = await startInstance('a1');
    const b = await startInstance('b1');
    const gwSecret = await provision(a, 'gw-c1');
    const svcSecret = await provision(a, 'svc-c1', 'service');
    const onB = await connect(b, 'svc-c1', svcSecret);
    const onA = await connect(a, 'svc-c1:a', svcSecret);
    const seenOnB = telemetrySeqs(onB, 'gw-c1');
    const seenOnA = telemetrySeqs(onA, 'gw-c1');
    await onB.subscribeAsync(topics.allOf('telemetry'), { qos: 1 });
    await onA.subscribeAsync(topics.telemetry('gw-c1'), { qos: 1 });

    const gw = await connect(a, 'gw-c1', gwSecret);
    await gw.publishAsync(topics.telemetry('gw-c1'), codec.encode(batch(1)), { qos: 1 });
    await gw.publishAsync(topics.telemetry('gw-c1'), codec.encode(batch(2)), { qos: 1 });
    await gw.publishAsync(topics.telemetry('gw-c1'), codec.encode(batch(1)), { qos: 1 }); // a resend: duplicate
    await gw.publishAsync(topics.telemetry('gw-c1'), Buffer.from('not msgpack'), { qos: 1 }); // dead letter
    await gw.publishAsync(topics.telemetry('gw-c1'), codec.encode(batch(3)), { qos: 1 });
    // Batch 3 left after everything else over the same Redis connection: once it has arrived, a
    // second copy of 1 or 2, or the withheld ones, would have arrived before it.
    await vi.waitFor(() => expect(seenOnB).toContain(3));
    await vi.waitFor(() => expect(seenOnA).toContain(3));
    expect(seenOnB).toEqual([1, 2, 3]);
    expect(seenOnA).toEqual([1, 2, 3]);
    expect(await counter(a.service.metrics.batches, { outcome: 'duplicate' })).toBe(1);
    await a.service.pipeline.writer().flush();
    expect(await countByKey(warehouse, 'gw-c1')).toEqual({ rows: 30, keys: 30 });
  });

  it('shows retained messages stored through one instance to subscribers of the other, and each pipeline status apart', async () => {
    const a = await startInstance('a2');
    const b = await startInstance('b2');
    const gwSecret = await provision(a, 'gw-c2');
    const svcSecret = await provision(a, 'svc-c2', 'service');
    const gw = await connect(a, 'gw-c2', gwSecret);
    await gw.publishAsync(topics.status('gw-c2'), JSON.stringify({ online: true, at: 1 }), { qos: 1, retain: true });

    const late = await connect(b, 'svc-c2', svcSecret);
    const retained = new Map<string, string>();
    late.on('message', (topic, payload, packet) => {
      if (packet.retain) retained.set(topic, payload.toString());
    });
    await late.subscribeAsync([topics.status('gw-c2'), topics.pipeline('a2'), topics.pipeline('b2')], { qos: 1 });
    await vi.waitFor(() => expect(retained.size).toBe(3));
    expect(JSON.parse(retained.get(topics.status('gw-c2'))!)).toEqual({ online: true, at: 1 });
    expect(JSON.parse(retained.get(topics.pipeline('a2'))!)).toMatchObject({ instance: 'a2', online: true });
    expect(JSON.parse(retained.get(topics.pipeline('b2'))!)).toMatchObject({ instance: 'b2', online: true });
  });

  it('refuses a second live instance with the same pipeline instance name', async () => {
    await startInstance('a3');
    const clash = createIngestService(
      {
        dataDir: join(root, 'a3-elsewhere'),
        mqtt: { port: 0 },
        http: { port: 0 },
        pipelineStatus: { instance: 'a3' },
        cluster: { redisUrl: redis.url },
      },
      { warehouse, logger: pino({ level: 'silent' }) },
    );
    await expect(clash.start()).rejects.toMatchObject({ code: 'INGEST_ERR_INSTANCE_TAKEN' });
    await clash.stop();
  });

  it("delivers a persistent subscriber's QoS 1 messages, queued while it was offline, after its instance restarted", async () => {
    const a = await startInstance('a4');
    let b = await startInstance('b4');
    const gwSecret = await provision(a, 'gw-c4');
    const svcSecret = await provision(a, 'svc-c4', 'service');
    const first = await connect(b, 'svc-c4', svcSecret, { clean: false });
    await first.subscribeAsync(topics.telemetry('gw-c4'), { qos: 1 });
    await first.endAsync();

    await stopInstance(b);
    const gw = await connect(a, 'gw-c4', gwSecret);
    for (let seq = 1; seq <= 5; seq++) await gw.publishAsync(topics.telemetry('gw-c4'), codec.encode(batch(seq)), { qos: 1 });

    b = await startInstance('b4'); // same name, same data directory: its own lease back at once
    const again = mqtt.connect(b.addresses.mqttUrl, { clientId: 'svc-c4', username: 'svc-c4', password: svcSecret, protocolVersion: 4, reconnectPeriod: 0, clean: false });
    h.track(again);
    const seen = telemetrySeqs(again, 'gw-c4');
    const [connack] = await next<[{ sessionPresent: boolean }]>(again, 'connect');
    expect(connack.sessionPresent).toBe(true);
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 3, 4, 5]));
    // The subscription itself survived too: live messages keep coming, once.
    await gw.publishAsync(topics.telemetry('gw-c4'), codec.encode(batch(6)), { qos: 1 });
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 3, 4, 5, 6]));
  });

  it('loses nothing acknowledged when an instance restarts: its WAL replays, the device carries on through the other instance', async () => {
    const state = { failing: true };
    let a = await startInstance('a5', { wrap: (w) => failingInserts(w, state) });
    const b = await startInstance('b5');
    const gwSecret = await provision(a, 'gw-c5');
    const svcSecret = await provision(a, 'svc-c5', 'service');
    const watcher = await connect(b, 'svc-c5', svcSecret);
    const seen = telemetrySeqs(watcher, 'gw-c5');
    await watcher.subscribeAsync(topics.telemetry('gw-c5'), { qos: 1 });

    const gw = await connect(a, 'gw-c5', gwSecret);
    await gw.publishAsync(topics.status('gw-c5'), JSON.stringify({ online: true, at: 5 }), { qos: 1, retain: true });
    await Promise.all(Array.from({ length: 10 }, (_, i) => gw.publishAsync(topics.telemetry('gw-c5'), codec.encode(batch(i + 1)), { qos: 1 })));
    // All ten acknowledged, none in the warehouse yet (inserts fail): only A's WAL has them.
    expect(await countByKey(warehouse, 'gw-c5')).toEqual({ rows: 0, keys: 0 });
    await stopInstance(a);

    // Meanwhile the device moves to B and goes on.
    const moved = await connect(b, 'gw-c5', gwSecret);
    await Promise.all(Array.from({ length: 10 }, (_, i) => moved.publishAsync(topics.telemetry('gw-c5'), codec.encode(batch(i + 11)), { qos: 1 })));

    state.failing = false;
    a = await startInstance('a5');
    await a.service.pipeline.writer().flush();
    await b.service.pipeline.writer().flush();
    expect(await countByKey(warehouse, 'gw-c5')).toEqual({ rows: 200, keys: 200 });
    await vi.waitFor(() => expect(seen.length).toBe(20));
    expect(new Set(seen).size).toBe(20);
    // The retained status stored through A outlived A.
    const late = await connect(a, 'svc-c5:late', svcSecret);
    const retained: string[] = [];
    late.on('message', (topic, payload, packet) => {
      if (topic === topics.status('gw-c5') && packet.retain) retained.push(payload.toString());
    });
    await late.subscribeAsync(topics.status('gw-c5'), { qos: 1 });
    await vi.waitFor(() => expect(retained).toEqual([JSON.stringify({ online: true, at: 5 })]));
  });
});

describe('when Redis is unavailable', () => {
  it('refuses to start', async () => {
    const stopped = await startRedisServer();
    await stopped.stop();
    const service = createIngestService(
      { dataDir: join(root, 'no-redis'), mqtt: { port: 0 }, http: { port: 0 }, cluster: { redisUrl: stopped.url, connectTimeoutMs: 500 } },
      { warehouse, logger: pino({ level: 'silent' }) },
    );
    await expect(service.start()).rejects.toMatchObject({ code: 'INGEST_ERR_CLUSTER_UNAVAILABLE' });
    await service.stop();
  });

  it('fails closed (no PUBACK, CONNACK 3, HTTP 503, not ready, counted), resumes when Redis is back, and still stops', async () => {
    let own = await startRedisServer();
    try {
      const c = await startInstance('c6', { redisUrl: own.url });
      const gwSecret = await provision(c, 'gw-c6');
      const gw = await connect(c, 'gw-c6', gwSecret);
      await gw.publishAsync(topics.telemetry('gw-c6'), codec.encode(batch(1)), { qos: 1 });
      expect(await counter(c.service.metrics.clusterUp)).toBe(1);

      await own.stop();
      await vi.waitFor(async () => expect(await counter(c.service.metrics.clusterUp)).toBe(0));
      const acked = vi.fn();
      gw.publish(topics.telemetry('gw-c6'), codec.encode(batch(2)), { qos: 1 }, acked);
      await next(gw, 'close');
      // No PUBACK: mqtt.js calls back only with an error (the connection closed), if at all.
      for (const [err] of acked.mock.calls as unknown[][]) expect(err).toBeInstanceOf(Error);
      expect(await counter(c.service.metrics.clusterRefused, { operation: 'publish' })).toBe(1);
      await expect(connect(c, 'gw-c6', gwSecret)).rejects.toMatchObject({ code: 3 });
      const post = await fetch(`${c.addresses.httpUrl}/v1/telemetry`, {
        method: 'POST',
        headers: { 'content-type': 'application/msgpack', authorization: `Basic ${Buffer.from(`gw-c6:${gwSecret}`).toString('base64')}` },
        body: codec.encode(batch(3)),
      });
      expect(post.status).toBe(503);
      expect(((await post.json()) as { code: string }).code).toBe('INGEST_ERR_CLUSTER_UNAVAILABLE');
      expect((await fetch(`${c.addresses.httpUrl}/readyz`)).status).toBe(503);
      await c.service.pipeline.writer().flush();
      expect(await countByKey(warehouse, 'gw-c6')).toEqual({ rows: 10, keys: 10 });

      own = await startRedisServer({ port: own.port });
      await vi.waitFor(async () => expect(await counter(c.service.metrics.clusterUp)).toBe(1), { timeout: 10_000 });
      const back = await connect(c, 'gw-c6', gwSecret);
      await back.publishAsync(topics.telemetry('gw-c6'), codec.encode(batch(2)), { qos: 1 });
      await c.service.pipeline.writer().flush();
      expect(await countByKey(warehouse, 'gw-c6')).toEqual({ rows: 20, keys: 20 });

      // Stopping is bounded even with Redis gone again.
      await own.stop();
      await vi.waitFor(async () => expect(await counter(c.service.metrics.clusterUp)).toBe(0));
      await stopInstance(c);
    } finally {
      await own.stop();
    }
  });
});
