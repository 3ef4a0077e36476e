import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createDevCa } from '../../cli/src/commands/certs.ts';
import { REDACTED_LOG_PATHS, createIngestService, type IngestAddresses, type IngestService } from '../src/index.ts';

const ADMIN = 'admin-token-never-logged-7f3a9c';
const WRONG_PASSWORD = 'wrong-password-never-logged-41b2';
const WRONG_ADMIN = 'wrong-admin-token-never-logged-9d0e';
const REDIS_PASSWORD = 'redis-password-never-logged-5c81';

/** Every line pino writes, at every level. */
function captureLogs(): { logger: pino.Logger; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), text: () => text };
}

function https(url: string, ca: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('secrets never reach the logs', () => {
  let dir: string;
  let warehouse: Warehouse;
  let service: IngestService;
  let addresses: IngestAddresses;
  let ca: string;
  let key: string;
  let cert: string;
  const logs = captureLogs();
  const secrets: string[] = [];
  const errors: string[] = [];

  let skew = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-access-secrets-'));
    const files = await createDevCa({ out: join(dir, 'certs'), hosts: ['127.0.0.1'], days: 1 });
    [ca, key, cert] = await Promise.all([readFile(files.ca, 'utf8'), readFile(files.key, 'utf8'), readFile(files.cert, 'utf8')]);
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    service = createIngestService(
      {
        dataDir: dir,
        mqtt: { port: 0, tls: { port: 0, key, cert, ca } },
        http: { port: 0, adminToken: ADMIN, tls: { key, cert, ca } },
        writer: { flushIntervalMs: 20 },
        // Loopback limited too, so that the lockout paths log.
        limits: { failedLoginsPerWindow: 3, exemptAddresses: [] },
      },
      { warehouse, logger: logs.logger, now: () => Date.now() + skew },
    );
    addresses = await service.start();
  });
  afterAll(async () => {
    await service?.stop();
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('across provisioning, failed logins over MQTT/TLS and HTTPS, revocation, lockouts and start errors', async () => {
    // Provisioning over HTTPS with the admin token, and attempts with a wrong one.
    const created = await https(`${addresses.httpUrl}/v1/devices`, ca, 'POST', { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, JSON.stringify({ id: 'gw-s', kind: 'gateway', place: 'huangpu/nanjing-east/g001' }));
    expect(created.status).toBe(201);
    const secret = (JSON.parse(created.body) as { secret: string }).secret;
    secrets.push(secret);
    expect((await https(`${addresses.httpUrl}/v1/devices`, ca, 'POST', { authorization: `Bearer ${WRONG_ADMIN}`, 'content-type': 'application/json' }, '{"id":"gw-x","kind":"service"}')).status).toBe(401);

    // MQTT over TLS: the right secret, a wrong one, the right one under another client id.
    const mqttsUrl = addresses.mqttsUrl!;
    const good = await mqtt.connectAsync(mqttsUrl, { clientId: 'gw-s', username: 'gw-s', password: secret, ca, reconnectPeriod: 0 });
    await good.publishAsync(topics.telemetry('gw-s'), JSON.stringify({ boot: 1, seq: 1, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value: 1 }] }), { qos: 1 });
    await good.publishAsync(topics.telemetry('gw-s'), 'not a batch', { qos: 1 });
    await expect(mqtt.connectAsync(mqttsUrl, { clientId: 'gw-s:2', username: 'gw-s', password: WRONG_PASSWORD, ca, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 });
    await expect(mqtt.connectAsync(mqttsUrl, { clientId: 'someone-else', username: 'gw-s', password: secret, ca, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 2 });
    // Locked out now (3 failures: the wrong admin token over HTTPS counts too): even the right secret is refused, and that is logged.
    await expect(mqtt.connectAsync(mqttsUrl, { clientId: 'gw-s:3', username: 'gw-s', password: secret, ca, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 5 });

    // HTTP Basic with a wrong and then the right secret (the address is locked out by now: 429).
    const basic = (s: string) => `Basic ${Buffer.from(`gw-s:${s}`).toString('base64')}`;
    expect((await https(`${addresses.httpUrl}/v1/telemetry`, ca, 'POST', { authorization: basic(secret), 'content-type': 'application/json' }, '{}')).status).toBe(429);

    // Revocation closes the live connection (logged with the device id only). The lockout covers
    // every HTTP route, the admin's too, so the clock first moves past it.
    skew += 900_000;
    const gone = new Promise<void>((resolve) => good.once('close', () => resolve()));
    expect((await https(`${addresses.httpUrl}/v1/devices/gw-s`, ca, 'DELETE', { authorization: `Bearer ${ADMIN}` })).status).toBe(204);
    await gone;

    // Start errors: a TLS key that is not one, a too-short admin token, Redis with a password unreachable.
    const bad = [
      { dataDir: join(dir, 'bad-tls'), mqtt: { port: 0 }, http: { port: 0, tls: { key: `${key.slice(0, 80)}garbage`, cert } } },
      { dataDir: join(dir, 'bad-token'), http: { port: 0, adminToken: 'short-secret' } },
      { dataDir: join(dir, 'bad-redis'), mqtt: { port: 0 }, http: { port: 0 }, cluster: { redisUrl: `redis://default:${REDIS_PASSWORD}@127.0.0.1:1`, connectTimeoutMs: 500 } },
    ];
    for (const config of bad) {
      try {
        const other = createIngestService(config, { warehouse, logger: logs.logger });
        try {
          await other.start();
        } finally {
          await other.stop();
        }
        expect.unreachable('started with a bad configuration');
      } catch (err) {
        logs.logger.error({ err }, 'start failed'); // as the CLI would report it
        const cause = (err as { cause?: unknown }).cause;
        errors.push(`${(err as Error).message} ${cause instanceof Error ? cause.message : ''}`);
      }
    }

    const text = `${logs.text()}\n${errors.join('\n')}`;
    // Meaningful: the paths above did log.
    expect(logs.text()).toMatch(/locked out/);
    expect(logs.text()).toMatch(/credentials no longer valid/);
    expect(errors).toHaveLength(3);
    for (const s of [...secrets, ADMIN, WRONG_ADMIN, WRONG_PASSWORD, REDIS_PASSWORD, 'short-secret']) expect(text).not.toContain(s);
    expect(text).not.toMatch(/PRIVATE KEY/);
    for (const line of key.split('\n').filter((l) => !l.startsWith('-----') && l.length > 16)) expect(text).not.toContain(line);
    expect(text).not.toContain(Buffer.from(`gw-s:${secret}`).toString('base64'));
  });

  it('censors secret-bearing fields should anyone log a config, credentials or request object whole', () => {
    const capture = captureLogs();
    const logger = capture.logger.child({}, { redact: { paths: [...REDACTED_LOG_PATHS], censor: '[redacted]' } });
    logger.info({ config: { http: { adminToken: ADMIN, tls: { key } }, mqtt: { tls: { key } }, cluster: { redisUrl: `redis://u:${REDIS_PASSWORD}@h:1` } } }, 'config');
    logger.info({ device: 'gw-s', password: WRONG_PASSWORD, secret: 'device-secret-never-logged' }, 'credentials');
    logger.info({ req: { headers: { authorization: `Bearer ${WRONG_ADMIN}` } } }, 'request');
    const text = capture.text();
    expect(text.match(/\[redacted\]/g)).toHaveLength(7);
    for (const s of [ADMIN, WRONG_ADMIN, WRONG_PASSWORD, REDIS_PASSWORD, 'device-secret-never-logged', 'PRIVATE KEY']) expect(text).not.toContain(s);
    expect(text).toContain('gw-s');
  });
});
