import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mintAccessToken, topics, type DeviceConfigMessage } from '@cityops/protocol';
import type { IngestConfigInput } from '../src/index.ts';
import { startHarness, type Harness } from './ingest-harness.ts';

/** vi.waitFor's default (1 s) is short on a loaded 2-core machine; an event that never comes still fails. */
const SETTLED = { timeout: 15_000, interval: 20 };
const ADMIN = 'test-admin-token-0123456789';
const operator = mintAccessToken('ops-alice', 'operator');
const analyst = mintAccessToken('analyst-bob', 'analyst');
const CONFIG: Partial<IngestConfigInput> = {
  http: { port: 0, adminToken: ADMIN, tokens: [operator.entry, analyst.entry] },
  wal: { fsync: false },
};

async function api(h: Harness, method: string, path: string, token: string | undefined, body?: unknown) {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const response = await fetch(`${h.addresses.httpUrl}${path}`, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

/** Subscribes and resolves with the first message on `topic` (the retained one, if any). */
function firstMessage(client: MqttClient, topic: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.on('message', (t, payload) => {
      if (t === topic) resolve(payload);
    });
    client.subscribe(topic, { qos: 1 }, (err) => {
      if (err) reject(err);
    });
  });
}

function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

async function reports(h: Harness, device: string) {
  return h.warehouse.query<{ version: number; state: string; reason: string }>(
    'SELECT version, state, reason FROM device_config_reports WHERE device = {device:String} ORDER BY reported_at',
    { device },
  );
}

describe('remote configuration at ingest (issue 18)', () => {
  let dir: string;
  let h: Harness;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-device-config-'));
    h = await startHarness(CONFIG, undefined, dir);
    for (const id of ['gw-a', 'gw-b', 'gw-c']) secrets[id] = await h.provision(id);
    secrets['scan-1'] = await h.provision('scan-1', 'scanner');
    secrets['svc-1'] = await h.provision('svc-1', 'service');
  });
  afterAll(async () => {
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lets admins and operators set a version, nobody else; every problem of a bad body at once', async () => {
    expect((await api(h, 'PUT', '/v1/devices/gw-a/config', undefined, { logLevel: 'debug' })).status).toBe(401);
    const forbidden = await api(h, 'PUT', '/v1/devices/gw-a/config', analyst.token, { logLevel: 'debug' });
    expect(forbidden).toMatchObject({ status: 403, body: { code: 'INGEST_ERR_ROLE_FORBIDDEN' } });
    expect((await api(h, 'GET', '/v1/devices/gw-a/config', analyst.token)).status).toBe(403);

    const bad = await api(h, 'PUT', '/v1/devices/gw-a/config', operator.token, { logLevel: 'loud', batch: { maxReadings: '50' }, colour: 'red' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('INGEST_ERR_QUERY_INVALID');
    for (const part of ['/logLevel', '/batch/maxReadings', 'colour']) expect(bad.body.message).toContain(part);
    expect((await api(h, 'PUT', '/v1/devices/gw-a/config', operator.token, '{"logLevel":')).status).toBe(400);
    expect(await api(h, 'PUT', '/v1/devices/scan-1/config', operator.token, {})).toMatchObject({ status: 409, body: { code: 'INGEST_ERR_CONFIG_KIND' } });
    expect((await api(h, 'PUT', '/v1/devices/nobody/config', operator.token, {})).status).toBe(404);
    expect((await api(h, 'PUT', '/v1/devices/a+b/config', operator.token, {})).status).toBe(400);
    const huge = await api(h, 'PUT', '/v1/devices/gw-a/config', operator.token, { modbus: { blob: 'x'.repeat(300 * 1024) } });
    expect(huge.status).toBe(413);
    // Nothing of the refused ones was kept.
    expect((await api(h, 'GET', '/v1/devices/gw-a/config', operator.token)).body).toMatchObject({ status: 'none', desired: null, reported: null, history: [] });

    const one = await api(h, 'PUT', '/v1/devices/gw-a/config', operator.token, { logLevel: 'debug', batch: { maxReadings: 50 } });
    expect(one).toMatchObject({ status: 201, body: { device: 'gw-a', version: 1, author: 'ops-alice' } });
    const two = await api(h, 'PUT', '/v1/devices/gw-a/config', ADMIN, { pollIntervalMs: 2000 });
    expect(two).toMatchObject({ status: 201, body: { version: 2, author: 'admin-token' } });
    const got = await api(h, 'GET', '/v1/devices/gw-a/config', operator.token);
    expect(got.body).toMatchObject({ status: 'pending', desired: { version: 2, config: { pollIntervalMs: 2000 } }, reported: null });
    expect((got.body.history as { version: number; author: string }[]).map((v) => [v.version, v.author])).toEqual([
      [2, 'admin-token'],
      [1, 'ops-alice'],
    ]);
  });

  it('delivers the newest version retained to its own gateway only; only services publish there', async () => {
    await api(h, 'PUT', '/v1/devices/gw-b/config', operator.token, { batch: { maxDelayMs: 250 } });
    const gw = await h.connect('gw-b', secrets['gw-b']!);
    const message = JSON.parse((await firstMessage(gw, topics.config('gw-b'))).toString()) as DeviceConfigMessage;
    expect(message).toMatchObject({ version: 1, config: { batch: { maxDelayMs: 250 } } });
    expect(message.issuedAt).toBeGreaterThan(Date.now() - 60_000);

    // Another gateway's configuration, or all of them: SUBACK 0x80.
    for (const filter of [topics.config('gw-a'), topics.allOf('config'), 'cityops/v1/config/#']) {
      await expect(gw.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
    }

    // A gateway writing its own desired configuration is refused and disconnected.
    const intruder = await h.connect('gw-c', secrets['gw-c']!);
    const gone = closed(intruder);
    intruder.publish(topics.config('gw-c'), JSON.stringify({ version: 99, issuedAt: 0, config: {} }), { qos: 1, retain: true });
    await gone;
    // A service may (ingest itself publishes without the ACL); a retained message is cleared by an empty one.
    const service = await h.connect('svc-1', secrets['svc-1']!);
    await service.publishAsync(topics.config('gw-z'), JSON.stringify({ version: 1, issuedAt: 0, config: {} }), { qos: 1, retain: true });
    await service.publishAsync(topics.config('gw-z'), Buffer.alloc(0), { qos: 1, retain: true });
    expect(service.connected).toBe(true);
    const c = await h.connect('gw-c', secrets['gw-c']!);
    const granted2 = await c.subscribeAsync(topics.config('gw-c'), { qos: 1 });
    expect(granted2[0]?.qos).toBe(1);
    let received = 0;
    c.on('message', () => received++);
    // gw-c has no desired configuration: a round trip through the broker brings no retained message.
    await c.publishAsync(topics.status('gw-c'), JSON.stringify({ online: true }), { qos: 1 });
    expect(received).toBe(0);
  });

  it('records what the gateway reports and shows desired against reported', async () => {
    await api(h, 'PUT', '/v1/devices/gw-c/config', operator.token, { logLevel: 'warn' });
    const gw = await h.connect('gw-c', secrets['gw-c']!);
    await gw.publishAsync(topics.configState('gw-c'), JSON.stringify({ version: 1, state: 'applied', ts: Date.now() }), { qos: 1 });
    // The same report again (a resend after reconnect) is acknowledged, not written twice; nor is a
    // changing reason, nor a flood alternating states (one row per version and state).
    await gw.publishAsync(topics.configState('gw-c'), JSON.stringify({ version: 1, state: 'applied' }), { qos: 1 });
    for (let i = 0; i < 20; i++) {
      await gw.publishAsync(topics.configState('gw-c'), JSON.stringify({ version: 1, state: 'applied', reason: `flood ${i}` }), { qos: 1 });
    }
    expect(await reports(h, 'gw-c')).toEqual([{ version: 1, state: 'applied', reason: '' }]);
    expect((await api(h, 'GET', '/v1/devices/gw-c/config', operator.token)).body).toMatchObject({
      status: 'in-sync',
      desired: { version: 1 },
      reported: { version: 1, state: 'applied' },
    });

    await api(h, 'PUT', '/v1/devices/gw-c/config', operator.token, { modbus: { connection: 'nonsense' } });
    for (let i = 0; i < 10; i++) {
      await gw.publishAsync(topics.configState('gw-c'), JSON.stringify({ version: 1, state: i % 2 === 0 ? 'rejected' : 'applied' }), { qos: 1 });
    }
    expect(await reports(h, 'gw-c')).toHaveLength(2);
    await gw.publishAsync(topics.configState('gw-c'), JSON.stringify({ version: 2, state: 'rejected', reason: '/connection must be object' }), { qos: 1 });
    expect((await api(h, 'GET', '/v1/devices/gw-c/config', operator.token)).body).toMatchObject({
      status: 'rejected',
      desired: { version: 2 },
      reported: { version: 2, state: 'rejected', reason: '/connection must be object' },
    });

    // Hostile reports: a version never set, garbage, another device's topic. Each closes the connection, none is written.
    for (const [topic, payload] of [
      [topics.configState('gw-c'), JSON.stringify({ version: 4_000_000_000, state: 'applied' })],
      [topics.configState('gw-c'), '{"version": 1, "state": "applied", "x": "'.padEnd(10_000, 'x')],
      [topics.configState('gw-c'), JSON.stringify({ version: 'NaN', state: 'maybe' })],
      [topics.configState('gw-a'), JSON.stringify({ version: 1, state: 'applied' })],
    ] as const) {
      const client = await h.connect('gw-c', secrets['gw-c']!);
      const gone = closed(client);
      client.publish(topic, payload, { qos: 1 });
      await gone;
    }
    expect(await reports(h, 'gw-c')).toHaveLength(3);
    expect(await reports(h, 'gw-a')).toEqual([]);
    const denied = (await h.service.metrics.registry.getSingleMetricAsString('cityops_broker_denied_total'));
    expect(denied).toMatch(/operation="publish"} [4-9]/);
    const recorded = await h.service.metrics.registry.getSingleMetricAsString('cityops_ingest_config_reports_total');
    expect(recorded).toMatch(/state="applied"} 1$/m);
    expect(recorded).toMatch(/state="rejected"} 2$/m);
  });

  it('publishes every newest version again when ingest restarts (the broker forgot its retained messages)', async () => {
    await h.close();
    h = await startHarness(CONFIG, undefined, dir);
    const gw = await h.connect('gw-b', secrets['gw-b']!);
    const message = JSON.parse((await firstMessage(gw, topics.config('gw-b'))).toString()) as DeviceConfigMessage;
    expect(message).toMatchObject({ version: 1, config: { batch: { maxDelayMs: 250 } } });
    await vi.waitFor(async () => {
      const got = await api(h, 'GET', '/v1/devices/gw-a/config', operator.token);
      expect(got.body).toMatchObject({ desired: { version: 2 } });
    }, SETTLED);
    // Numbering continues from the warehouse.
    expect((await api(h, 'PUT', '/v1/devices/gw-a/config', operator.token, {})).body).toMatchObject({ version: 3 });
  });
});
