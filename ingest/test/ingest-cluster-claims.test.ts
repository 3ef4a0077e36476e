import { Redis } from 'ioredis';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTelemetryCodec, topics, type TelemetryBatch } from '@cityops/protocol';
import { startRedisServer } from '../../test-peers/redis-server.ts';
import { createBatchClaims } from '../src/batch-claims.ts';
import { createIngestMetrics } from '../src/ingest-metrics.ts';
import { counter, failingInserts, nextEvent, openClusterHarness, type ClusterHarness, type ClusterInstance } from './cluster-harness.ts';
import { countByKey } from './ingest-harness.ts';

// Issue 22: one deduplication key per batch for every instance, claimed in Redis before the WAL
// append. Kills as processes are in ingest-cluster-kill-rounds.test.ts; here the claim's states
// are set up exactly (a kill between append and mark is a claim left pending in Redis).
const codec = createTelemetryCodec();
const batch = (seq: number): TelemetryBatch => ({
  boot: 1,
  seq,
  readings: Array.from({ length: 10 }, (_, i) => ({ sensor: `s-${i}`, metric: 'pm25', ts: Date.now() - 1000 + i, value: seq + i / 100 })),
});
const claimKey = (device: string, seq: number) => `cityops:ingest:claim:${device}:1:${seq}`;

let h: ClusterHarness;
let redis: Redis;

beforeAll(async () => {
  h = await openClusterHarness('cityops-claims-');
  redis = new Redis(h.redis.url);
});
afterEach(() => h.reset());
afterAll(async () => {
  redis?.disconnect();
  await h?.close();
});

async function publishAll(client: MqttClient, device: string, seqs: readonly number[]): Promise<void> {
  await Promise.all(seqs.map((seq) => client.publishAsync(topics.telemetry(device), codec.encode(batch(seq)), { qos: 1 })));
}

/** A publish that must not be acknowledged: the instance closes the connection instead. */
async function refused(client: MqttClient, device: string, seq: number): Promise<void> {
  const acked = vi.fn();
  const closed = nextEvent(client, 'close');
  client.publish(topics.telemetry(device), codec.encode(batch(seq)), { qos: 1 }, acked);
  await closed;
  for (const [err] of acked.mock.calls as unknown[][]) expect(err).toBeInstanceOf(Error);
}

/** What a kill between the WAL append and the "stored" mark leaves: the claims pending, in the instance's set. */
async function leavePending(instance: string, device: string, seqs: readonly number[]): Promise<void> {
  for (const seq of seqs) {
    await redis.set(claimKey(device, seq), `p:${instance}`, 'PX', 3_600_000);
    await redis.sadd(`cityops:ingest:claims-pending:${instance}`, claimKey(device, seq));
  }
}

async function settled(...instances: ClusterInstance[]): Promise<void> {
  for (const i of instances) await i.service.pipeline.writer().flush();
}

describe('one claim per batch across ingest instances', () => {
  it('a batch acknowledged by A and resent to B is a duplicate there; one A holds pending is refused by B, not stored', async () => {
    const a = await h.start('ca1');
    const b = await h.start('cb1');
    const secret = await h.provision(a, 'gw-k1');
    await publishAll(await h.connect(a, 'gw-k1', secret), 'gw-k1', [1, 2, 3]);
    // The "stored" mark follows the PUBACK (off its path): a resend before it is refused, after it recognised.
    await vi.waitFor(async () => expect(await redis.mget([1, 2, 3].map((s) => claimKey('gw-k1', s)))).toEqual(['d:ca1', 'd:ca1', 'd:ca1']));
    const ttl = await redis.pttl(claimKey('gw-k1', 1));
    expect(ttl).toBeGreaterThan(86_400_000 - 60_000);
    expect(ttl).toBeLessThanOrEqual(86_400_000);

    const onB = await h.connect(b, 'gw-k1:b', secret);
    await publishAll(onB, 'gw-k1', [1, 2, 3]);
    expect(await counter(b.service.metrics.batches, { outcome: 'duplicate' })).toBe(3);

    await leavePending('ca1', 'gw-k1', [4]); // A alive, its append of 4 not yet known to be durable
    await refused(onB, 'gw-k1', 4);
    const post = await fetch(`${b.addresses.httpUrl}/v1/telemetry`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack', authorization: `Basic ${Buffer.from(`gw-k1:${secret}`).toString('base64')}` },
      body: codec.encode(batch(4)),
    });
    expect(post.status).toBe(503);
    expect(((await post.json()) as { code: string }).code).toBe('INGEST_ERR_CLAIM_HELD');
    expect(await counter(b.service.metrics.claims, { outcome: 'held' })).toBe(2);
    expect(await redis.get(claimKey('gw-k1', 4))).toBe('p:ca1');
    await settled(a, b);
    expect(await countByKey(h.warehouse, 'gw-k1')).toEqual({ rows: 30, keys: 30 });
  });

  it('a restarted instance resolves the claims it left pending: those in its WAL stored, the others given back', async () => {
    const state = { failing: true };
    let a = await h.start('ca2', { wrap: (w) => failingInserts(w, state) });
    const b = await h.start('cb2');
    const secret = await h.provision(a, 'gw-k2');
    await publishAll(await h.connect(a, 'gw-k2', secret), 'gw-k2', [1, 2, 3, 4, 5]);
    await h.stop(a);
    // As if killed after the appends of 1-5 and the claim of 6, before any mark.
    await leavePending('ca2', 'gw-k2', [1, 2, 3, 4, 5, 6]);

    const onB = await h.connect(b, 'gw-k2:b', secret);
    await refused(onB, 'gw-k2', 1); // its holder is gone and has not replayed: wait, never store twice
    await refused(await h.connect(b, 'gw-k2:b', secret), 'gw-k2', 6);

    state.failing = false;
    a = await h.start('ca2');
    expect(await redis.mget([1, 5, 6].map((s) => claimKey('gw-k2', s)))).toEqual(['d:ca2', 'd:ca2', null]);
    expect(await redis.scard('cityops:ingest:claims-pending:ca2')).toBe(0);
    await publishAll(await h.connect(b, 'gw-k2:b', secret), 'gw-k2', [1, 2, 3, 4, 5, 6]);
    expect(await counter(b.service.metrics.batches, { outcome: 'duplicate' })).toBe(5);
    await settled(a, b);
    expect(await countByKey(h.warehouse, 'gw-k2')).toEqual({ rows: 60, keys: 60 });
  });

  it("a surviving instance adopts a dead instance's WAL: its batches stored once, its claims resolved, a live one refused", async () => {
    const dead = { failing: true };
    const a = await h.start('ca3', { wrap: (w) => failingInserts(w, dead) });
    const b = await h.start('cb3');
    const secret = await h.provision(a, 'gw-k3');
    await publishAll(await h.connect(a, 'gw-k3', secret), 'gw-k3', [1, 2, 3, 4]);
    await expect(b.service.adoptWal(a.dir, 'ca3')).rejects.toMatchObject({ code: 'INGEST_ERR_INSTANCE_TAKEN' });
    await h.stop(a); // its machine never comes back: the four batches are in its WAL only
    await leavePending('ca3', 'gw-k3', [3, 4, 5]);
    expect(await countByKey(h.warehouse, 'gw-k3')).toEqual({ rows: 0, keys: 0 });

    const report = await b.service.adoptWal(a.dir, 'ca3');
    expect(report).toMatchObject({ instance: 'ca3', replayedBatches: 4, alreadyStored: 0, claimsStored: 2, claimsReleased: 1 });
    expect(await countByKey(h.warehouse, 'gw-k3')).toEqual({ rows: 40, keys: 40 });
    await publishAll(await h.connect(b, 'gw-k3:b', secret), 'gw-k3', [1, 2, 3, 4, 5]);
    expect(await counter(b.service.metrics.batches, { outcome: 'duplicate' })).toBe(4);
    // Adopted twice (an operator retrying): the WAL is checkpointed, nothing more is stored.
    expect(await b.service.adoptWal(a.dir, 'ca3')).toMatchObject({ replayedBatches: 0 });
    await settled(b);
    expect(await countByKey(h.warehouse, 'gw-k3')).toEqual({ rows: 50, keys: 50 });
  });

  it('fails closed when Redis cannot answer the claim', async () => {
    const own = await startRedisServer();
    const conn = new Redis(own.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    conn.on('error', () => undefined);
    await conn.connect();
    const metrics = createIngestMetrics();
    const claims = createBatchClaims(
      { instance: 'cz', keyPrefix: 'cityops:', claimTtlMs: 7_200_000, maxPendingMarks: 100, retryMs: 50 },
      { redis: conn, metrics, logger: pino({ level: 'silent' }) },
    );
    try {
      expect(await claims.claim('gw-z', 1, 1)).toEqual({ outcome: 'claimed' });
      expect(await claims.claim('gw-z', 1, 1)).toEqual({ outcome: 'ours-pending' });
      await own.stop();
      await expect(claims.claim('gw-z', 1, 2)).rejects.toMatchObject({ code: 'INGEST_ERR_CLUSTER_UNAVAILABLE' });
      expect(await counter(metrics.claims, { outcome: 'unavailable' })).toBe(1);
    } finally {
      await claims.stop();
      conn.disconnect();
      await own.stop();
    }
  });
});
