import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { parsePlace, type DeviceKind } from '@cityops/protocol';
import { createIngestService, type IngestAddresses, type IngestConfigInput, type IngestService } from '../src/index.ts';

export interface Harness {
  readonly dir: string;
  readonly warehouse: Warehouse;
  readonly service: IngestService;
  readonly addresses: IngestAddresses;
  provision(id: string, kind?: DeviceKind, place?: string): Promise<string>;
  connect(id: string, secret: string): Promise<MqttClient>;
  close(): Promise<void>;
}

/** A whole ingest service on port 0 over an embedded warehouse in a temp dir. */
export async function startHarness(
  config: Partial<IngestConfigInput> = {},
  wrap: (warehouse: Warehouse) => Warehouse = (w) => w,
  existingDir?: string,
): Promise<Harness> {
  const dir = existingDir ?? (await mkdtemp(join(tmpdir(), 'cityops-ingest-')));
  const warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
  const service = createIngestService(
    {
      dataDir: dir,
      mqtt: { port: 0 },
      http: { port: 0, adminToken: 'test-admin-token-0123456789' },
      writer: { flushIntervalMs: 20 },
      ...config,
    },
    { warehouse: wrap(warehouse), logger: pino({ level: 'silent' }) },
  );
  const addresses = await service.start();
  const clients: MqttClient[] = [];
  return {
    dir,
    warehouse,
    service,
    addresses,
    async provision(id, kind = 'gateway', place = 'huangpu/nanjing-east/g001') {
      const { secret } = await service.registry.add({ id, kind, place: parsePlace(place) });
      return secret;
    },
    async connect(id, secret) {
      const client = await mqtt.connectAsync(addresses.mqttUrl, {
        clientId: id,
        username: id,
        password: secret,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true)));
      await service.stop();
      await warehouse.close();
      if (existingDir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function countByKey(warehouse: Warehouse, device: string): Promise<{ rows: number; keys: number }> {
  const [row] = await warehouse.query<{ rows: string | number; keys: string | number }>(
    'SELECT count() AS rows, uniqExact(device, boot, seq, idx) AS keys FROM readings WHERE device = {device:String}',
    { device },
  );
  return { rows: Number(row?.rows ?? 0), keys: Number(row?.keys ?? 0) };
}
