import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayAgent } from '@cityops/edge-agent';
import { createDevCertificates, type DevCertificates } from '../../test-peers/dev-certificates.ts';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

describe('MQTT over TLS', () => {
  let certs: DevCertificates;
  let h: Harness;
  let certDir: string;
  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'cityops-tls-'));
    certs = await createDevCertificates(certDir);
    h = await startHarness({ mqtt: { port: 0, tls: { port: 0, key: certs.keyPem, cert: certs.certPem } } });
  });
  afterAll(async () => {
    await h?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  it('carries a gateway agent over TLS into the warehouse', async () => {
    expect(h.addresses.mqttsUrl).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const secret = await h.provision('gw-tls');
    const agent = createGatewayAgent(
      { deviceId: 'gw-tls', journalDir: join(h.dir, 'journal-tls'), mqtt: { url: h.addresses.mqttsUrl!, password: secret, tls: { ca: certs.caPem } } },
      { logger: pino({ level: 'silent' }) },
    );
    await agent.start();
    try {
      for (let i = 0; i < 250; i++) await agent.push({ sensor: 'pm-1', metric: 'pm25', ts: Date.now(), value: i });
      agent.flush();
      await agent.waitForIdle();
    } finally {
      await agent.stop();
    }
    await h.service.pipeline.writer().flush();
    expect(await countByKey(h.warehouse, 'gw-tls')).toEqual({ rows: 250, keys: 250 });
  });

  it('is refused by a client that does not trust the certificate', async () => {
    const secret = await h.provision('gw-untrusting');
    await expect(
      mqtt.connectAsync(h.addresses.mqttsUrl!, { clientId: 'gw-untrusting', username: 'gw-untrusting', password: secret, reconnectPeriod: 0, connectTimeout: 5000 }),
    ).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
  });
});
