import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlace, topics } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createIngestService, type IngestAddresses, type IngestService } from '../src/index.ts';
import { httpFrom, type HttpAnswer } from '../../test-peers/http-from.ts';
import { countByKey } from './ingest-harness.ts';

type Attempt = { outcome: 'connected' | 'refused' | 'closed'; returnCode?: number; client: MqttClient };

describe('per-address limits in a running ingest', () => {
  let dir: string;
  let warehouse: Warehouse;
  let service: IngestService;
  let addresses: IngestAddresses;
  let skew = 0;
  const clients: MqttClient[] = [];
  const secrets = new Map<string, string>();

  /** An MQTT CONNECT from a given loopback address (Linux routes all of 127/8 to lo). */
  function attempt(localAddress: string, clientId: string, username: string, password: string): Promise<Attempt> {
    const client = new MqttClient(() => connect({ host: '127.0.0.1', port: addresses.mqttPort, localAddress }), {
      clientId,
      username,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 20_000,
    });
    clients.push(client);
    return new Promise((resolve) => {
      client.once('connect', () => resolve({ outcome: 'connected', client }));
      client.once('error', (err) => resolve({ outcome: 'refused', returnCode: (err as { code?: number }).code!, client }));
      client.once('close', () => resolve({ outcome: 'closed', client }));
    });
  }

  const call = (localAddress: string, method: string, path: string, authorization: string, body?: string) =>
    httpFrom(localAddress, `${addresses.httpUrl}${path}`, { method, headers: { authorization }, ...(body === undefined ? {} : { body }) });

  function postTelemetry(localAddress: string, id: string, secret: string, seq: number): Promise<HttpAnswer> {
    const body = JSON.stringify({ boot: 1, seq, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value: seq }] });
    return call(localAddress, 'POST', '/v1/telemetry', `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, body);
  }

  async function metric(name: string, labels: string): Promise<number> {
    const text = await service.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-access-limits-'));
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    service = createIngestService(
      {
        dataDir: dir,
        mqtt: { port: 0 },
        http: { port: 0 },
        writer: { flushIntervalMs: 20 },
        limits: { connectionsPerWindow: 5, connectionWindowMs: 60_000, failedLoginsPerWindow: 3, failedLoginWindowMs: 60_000, lockoutMs: 60_000, exemptAddresses: [] },
      },
      { warehouse, logger: pino({ level: 'silent' }), now: () => Date.now() + skew },
    );
    addresses = await service.start();
    for (const id of ['gw-good', 'gw-flood', 'gw-guessed', 'gw-http']) {
      secrets.set(id, (await service.registry.add({ id, kind: 'gateway', place: parsePlace('huangpu/nanjing-east/g001') })).secret);
    }
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await service?.stop();
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a connection flood from one address while a device on another keeps publishing', async () => {
    const good = await attempt('127.0.0.3', 'gw-good', 'gw-good', secrets.get('gw-good')!);
    expect(good.outcome).toBe('connected');
    let acked = 0;
    const publishing = (async () => {
      for (let seq = 1; seq <= 40; seq++) {
        const payload = JSON.stringify({ boot: 1, seq, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value: seq }] });
        await good.client.publishAsync(topics.telemetry('gw-good'), payload, { qos: 1 });
        acked++;
      }
    })();
    const flood = await Promise.all(
      Array.from({ length: 60 }, (_, i) => attempt('127.0.0.2', `gw-flood:${i}`, 'gw-flood', secrets.get('gw-flood')!)),
    );
    await publishing;
    const outcomes = flood.map((a) => a.outcome);
    expect(outcomes.filter((o) => o === 'connected')).toHaveLength(5);
    // Refused in preConnect: the socket is closed, no CONNACK, no secret checked.
    expect(outcomes.filter((o) => o === 'closed')).toHaveLength(55);
    expect(await metric('cityops_ingest_address_refused_total', 'transport="mqtt",reason="connection_rate"')).toBe(55);
    expect(acked).toBe(40);
    // The good address can still open a connection in the middle of it all.
    expect((await attempt('127.0.0.3', 'gw-good:2', 'gw-good', secrets.get('gw-good')!)).outcome).toBe('connected');
    await service.pipeline.writer().flush();
    expect(await countByKey(warehouse, 'gw-good')).toEqual({ rows: 40, keys: 40 });
  });

  it('locks an address out after repeated failed MQTT logins (CONNACK 5), others unaffected, until the lockout ends', async () => {
    for (let i = 0; i < 3; i++) {
      const a = await attempt('127.0.0.4', 'gw-guessed', 'gw-guessed', `guess-${i}`);
      expect(a).toMatchObject({ outcome: 'refused', returnCode: 4 });
    }
    expect(await metric('cityops_ingest_address_lockouts_total', 'transport="mqtt"')).toBe(1);
    // Even the right secret is refused from the locked-out address, before it is checked.
    expect(await attempt('127.0.0.4', 'gw-guessed', 'gw-guessed', secrets.get('gw-guessed')!)).toMatchObject({ outcome: 'refused', returnCode: 5 });
    expect(await metric('cityops_ingest_address_refused_total', 'transport="mqtt",reason="locked_out"')).toBe(1);
    const elsewhere = await attempt('127.0.0.5', 'gw-guessed', 'gw-guessed', secrets.get('gw-guessed')!);
    expect(elsewhere.outcome).toBe('connected');
    await elsewhere.client.endAsync();
    skew += 60_000;
    expect((await attempt('127.0.0.4', 'gw-guessed', 'gw-guessed', secrets.get('gw-guessed')!)).outcome).toBe('connected');
  });

  it('answers 429 with Retry-After to an address with repeated HTTP Basic failures on POST /v1/telemetry', async () => {
    for (let i = 0; i < 3; i++) expect((await postTelemetry('127.0.0.6', 'gw-http', `wrong-${i}`, i)).status).toBe(401);
    const locked = await postTelemetry('127.0.0.6', 'gw-http', secrets.get('gw-http')!, 10);
    expect(locked).toMatchObject({ status: 429, retryAfter: '60', body: { code: 'INGEST_ERR_LOCKED_OUT' } });
    expect(await metric('cityops_ingest_address_lockouts_total', 'transport="http"')).toBe(1);
    expect(await metric('cityops_ingest_address_refused_total', 'transport="http",reason="locked_out"')).toBe(1);
    expect((await postTelemetry('127.0.0.7', 'gw-http', secrets.get('gw-http')!, 11)).status).toBe(202);
    skew += 60_000;
    expect((await postTelemetry('127.0.0.6', 'gw-http', secrets.get('gw-http')!, 12)).status).toBe(202);
  });

  it('counts token guesses on every HTTP route: guessing the admin token locks the address out of telemetry too', async () => {
    for (let i = 0; i < 3; i++) expect((await call('127.0.0.8', 'POST', '/v1/devices', `Bearer guess-${i}`, '{}')).status).toBe(401);
    expect(await postTelemetry('127.0.0.8', 'gw-http', secrets.get('gw-http')!, 20)).toMatchObject({ status: 429, body: { code: 'INGEST_ERR_LOCKED_OUT' } });
    expect(await metric('cityops_ingest_address_lockouts_total', 'transport="http"')).toBe(2);
  });
});
