import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '@cityops/protocol';
import { createDeviceRegistry } from '@cityops/warehouse';
import { startHarness, type Harness } from './ingest-harness.ts';

const ADMIN = 'test-admin-token-0123456789';

function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

function batch(seq: number): string {
  return JSON.stringify({ boot: 1, seq, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value: seq }] });
}

describe('device credentials revoked at runtime', () => {
  let h: Harness;
  beforeAll(async () => {
    // A slow periodic refresh: the test calls refresh() itself, as the timer would.
    h = await startHarness({ registry: { refreshMs: 600_000 } });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function revokedCount(reason: string): Promise<number> {
    const text = await h.service.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`cityops_broker_revoked_disconnects_total{reason="${reason}"}`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  it('DELETE /v1/devices/{id} closes the connected gateway at once and refuses its reconnect', async () => {
    const secret = await h.provision('gw-revoked');
    const other = await h.connect('gw-kept', await h.provision('gw-kept'));
    const client = await h.connect('gw-revoked', secret);
    await client.publishAsync(topics.telemetry('gw-revoked'), batch(1), { qos: 1 });
    const gone = closed(client);
    const response = await fetch(`${h.addresses.httpUrl}/v1/devices/gw-revoked`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(response.status).toBe(204);
    await gone;
    expect(await revokedCount('revoked')).toBe(1);
    await expect(h.connect('gw-revoked', secret)).rejects.toMatchObject({ code: 4 });
    // Another device's connection is untouched.
    await other.publishAsync(topics.telemetry('gw-kept'), batch(1), { qos: 1 });
    expect(other.connected).toBe(true);
  });

  it('a revocation written by another instance closes the connection on the next registry refresh', async () => {
    const secret = await h.provision('gw-elsewhere');
    const client = await h.connect('gw-elsewhere', secret);
    // Another instance (or `cityops device revoke --store`): the same table, a registry of its own.
    const elsewhere = createDeviceRegistry({ refreshMs: 600_000 }, { warehouse: h.warehouse });
    await elsewhere.start();
    try {
      await elsewhere.revoke('gw-elsewhere');
    } finally {
      await elsewhere.stop();
    }
    expect(client.connected).toBe(true);
    const gone = closed(client);
    await h.service.registry.refresh();
    await gone;
    await expect(h.connect('gw-elsewhere', secret)).rejects.toMatchObject({ code: 4 });
  });

  it('rotating a secret closes the connections made with the old one; the new one connects', async () => {
    const secret = await h.provision('gw-rotated');
    const client = await h.connect('gw-rotated', secret);
    const gone = closed(client);
    const { secret: fresh } = await h.service.registry.rotate('gw-rotated');
    await gone;
    await vi.waitFor(async () => expect(await revokedCount('rotated')).toBe(1));
    await expect(h.connect('gw-rotated', secret)).rejects.toMatchObject({ code: 4 });
    const again = await h.connect('gw-rotated', fresh);
    expect(again.connected).toBe(true);
  });

  it('a connection authenticated while the device was being revoked is refused', async () => {
    const secret = await h.provision('gw-racing');
    // The CONNECT's scrypt check and the revoke run together; whichever order, no live connection remains.
    const connecting = mqtt
      .connectAsync(h.addresses.mqttUrl, { clientId: 'gw-racing', username: 'gw-racing', password: secret, protocolVersion: 4, reconnectPeriod: 0 })
      .then(
        (c) => c,
        () => undefined,
      );
    await h.service.registry.revoke('gw-racing');
    const client = await connecting;
    if (client?.connected === true) await closed(client);
    expect(h.service.registry.get('gw-racing')?.revoked).toBe(true);
    await client?.endAsync(true);
  });
});

