import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTelemetryCodec, topics, type TelemetryBatch } from '@cityops/protocol';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';
import { startRedisServer, type RedisServer } from '../../test-peers/redis-server.ts';

// Clustered ingest as real processes, so that one can be killed: two `cityops ingest` instances
// with the command-line options docker-compose.yml uses (--redis, --instance), each its own data
// directory. Each has its own embedded chDB store here (chDB: one data directory per process;
// Debian's clickhouse-server, 18.16, is too old for the schema), so the device lives in A's
// registry and its readings in A's warehouse; routing and retained state go through Redis.
const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));
const ADMIN = 'cluster-admin-token-0123456789';
const codec = createTelemetryCodec();
const batch = (seq: number, n = 20): TelemetryBatch => ({
  boot: 1,
  seq,
  readings: Array.from({ length: n }, (_, i) => ({ sensor: `s-${i}`, metric: 'pm25', ts: Date.now() - 1000 + i, value: seq + i / 100 })),
});

let redis: RedisServer;
let root: string;
const processes = new Set<CityopsProcess>();
const clients: MqttClient[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cityops-cluster-proc-'));
  redis = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await Promise.all([...processes].map((p) => p.stop()));
  await redis?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

async function ingest(instance: string): Promise<CityopsProcess> {
  const child = await startCityops([
    'ingest', '--data', join(root, instance), '--mqtt-port', '0', '--http-port', '0',
    '--admin-token', ADMIN, '--redis', redis.url, '--instance', instance,
  ]);
  processes.add(child);
  return child;
}

async function provision(on: CityopsProcess, id: string, kind: 'gateway' | 'service'): Promise<string> {
  const response = await fetch(`${String(on.ready.httpUrl)}/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, kind, ...(kind === 'gateway' ? { place: 'huangpu/nanjing-east/g001' } : {}) }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

async function connect(on: CityopsProcess, id: string, secret: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(String(on.ready.mqttUrl), { clientId: id, username: id, password: secret, protocolVersion: 4, reconnectPeriod: 0 });
  clients.push(client);
  return client;
}

async function storedReadings(on: CityopsProcess, device: string): Promise<number> {
  const response = await fetch(`${String(on.ready.httpUrl)}/v1/readings?device=${device}&limit=10000`);
  return ((await response.json()) as { readings: unknown[] }).readings.length;
}

describe('clustered ingest as processes', () => {
  it('routes between processes, and an instance killed (SIGKILL) right after its PUBACKs restarts with everything acknowledged', async () => {
    let a = await ingest('ingest-a');
    const b = await ingest('ingest-b');
    const gwSecret = await provision(a, 'gw-k', 'gateway');
    const svcSecret = await provision(b, 'svc-k', 'service');

    const watcher = await connect(b, 'svc-k', svcSecret);
    const seen: number[] = [];
    watcher.on('message', (topic, payload) => {
      if (topic === topics.telemetry('gw-k')) seen.push(codec.decode(payload).seq);
    });
    await watcher.subscribeAsync(topics.telemetry('gw-k'), { qos: 1 });

    const gw = await connect(a, 'gw-k', gwSecret);
    await gw.publishAsync(topics.telemetry('gw-k'), codec.encode(batch(1)), { qos: 1 });
    await vi.waitFor(() => expect(seen).toEqual([1]));
    await Promise.all(Array.from({ length: 29 }, (_, i) => gw.publishAsync(topics.telemetry('gw-k'), codec.encode(batch(i + 2)), { qos: 1 })));
    await a.kill(); // right after the last PUBACK: the newest batches are in A's WAL only
    processes.delete(a);
    await gw.endAsync(true);

    // Same data directory and name: its lease (still held by the dead process) is its own, its
    // WAL replays.
    a = await ingest('ingest-a');
    await vi.waitFor(async () => expect(await storedReadings(a, 'gw-k')).toBe(600), { timeout: 30_000, interval: 200 });
    // Live subscribers get each batch at most once; one acknowledged just before the kill may not
    // have been routed yet: the warehouse has it, the live stream may not (ingest/README.md).
    expect(new Set(seen).size).toBe(seen.length);
    const again = await connect(a, 'gw-k', gwSecret);
    await again.publishAsync(topics.telemetry('gw-k'), codec.encode(batch(31)), { qos: 1 });
    await vi.waitFor(() => expect(seen).toContain(31));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('runs verifiers with the compose command line, sharing one pseudonym key', async () => {
    const issuer = join(root, 'config', 'issuer');
    await run(process.execPath, ['--import', 'tsx', MAIN, 'codes', 'keygen', '--out', issuer], { timeout: 60_000 });
    const keyFile = join(root, 'config', 'pseudonym-key');
    const verifier = async (n: number) => {
      const child = await startCityops([
        'verifier', '--data', join(root, `verifier-${n}`), '--service-id', `cityops-verifier-${n}`,
        '--trust', join(issuer, 'trust.json'), '--pseudonym-key-file', keyFile, '--host', '127.0.0.1', '--http-port', '0',
      ]);
      processes.add(child);
      return child;
    };
    const [v1, v2] = await Promise.all([verifier(1), verifier(2)]);
    expect([v1.ready.id, v2.ready.id]).toEqual(['cityops-verifier-1', 'cityops-verifier-2']);
    for (const v of [v1, v2]) expect((await fetch(`${String(v.ready.httpUrl)}/healthz`)).status).toBe(200);
    await access(keyFile);
    expect((await readFile(keyFile, 'utf8')).trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
