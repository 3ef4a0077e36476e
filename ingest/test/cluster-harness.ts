import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { vi, expect } from 'vitest';
import { parsePlace, type DeviceKind } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { startRedisServer, type RedisServer } from '../../test-peers/redis-server.ts';
import { createIngestService, type IngestAddresses, type IngestConfigInput, type IngestService } from '../src/index.ts';

export interface ClusterInstance {
  readonly name: string;
  readonly dir: string;
  readonly service: IngestService;
  readonly addresses: IngestAddresses;
}

export interface InstanceOptions {
  readonly redisUrl?: string;
  readonly wrap?: (w: Warehouse) => Warehouse;
  readonly config?: Partial<IngestConfigInput>;
}

/**
 * Clustered ingest instances in one process over a real redis-server. chDB allows one data
 * directory per process: every instance shares one warehouse object, as instances of a real
 * deployment share one ClickHouse server. WALs and writers are per instance.
 */
export interface ClusterHarness {
  readonly root: string;
  readonly redis: RedisServer;
  readonly warehouse: Warehouse;
  start(name: string, options?: InstanceOptions): Promise<ClusterInstance>;
  stop(instance: ClusterInstance): Promise<void>;
  provision(on: ClusterInstance, id: string, kind?: DeviceKind): Promise<string>;
  /** Connects with listeners attached before CONNACK, so nothing delivered at connect is missed. */
  connect(to: ClusterInstance, id: string, secret: string, options?: IClientOptions): Promise<MqttClient>;
  /** A client connected by the test itself, ended with the others. */
  track(client: MqttClient): MqttClient;
  /** Ends every client and stops every instance (after each test). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function openClusterHarness(prefix: string): Promise<ClusterHarness> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const redis = await startRedisServer();
  const warehouse = await openWarehouse({ backend: 'chdb', path: join(root, 'warehouse') });
  const running = new Set<ClusterInstance>();
  const clients: MqttClient[] = [];

  async function stop(instance: ClusterInstance): Promise<void> {
    running.delete(instance);
    await instance.service.stop();
  }

  return {
    root,
    redis,
    warehouse,
    async start(name, options = {}) {
      const dir = join(root, name);
      const service = createIngestService(
        {
          dataDir: dir,
          mqtt: { port: 0 },
          http: { port: 0, adminToken: 'test-admin-token-0123456789' },
          writer: { flushIntervalMs: 20, retryMinMs: 5, retryMaxMs: 20 },
          pipelineStatus: { instance: name, intervalMs: 200 },
          registry: { refreshMs: 200 },
          cluster: { redisUrl: options.redisUrl ?? redis.url, reconnectMaxMs: 100, connectTimeoutMs: 2000, commandTimeoutMs: 2000 },
          ...options.config,
        },
        { warehouse: options.wrap?.(warehouse) ?? warehouse, logger: pino({ level: 'silent' }) },
      );
      const addresses = await service.start();
      const instance = { name, dir, service, addresses };
      running.add(instance);
      return instance;
    },
    stop,
    async provision(on, id, kind = 'gateway') {
      const { secret } = await on.service.registry.add({ id, kind, place: parsePlace('huangpu/nanjing-east/g001') });
      // Every instance sees the device within registry.refreshMs (a refresh already in flight may
      // predate the insert, hence waitFor).
      await vi.waitFor(async () => {
        await Promise.all([...running].map((i) => i.service.registry.refresh()));
        for (const i of running) expect(i.service.registry.get(id)).toBeDefined();
      });
      return secret;
    },
    async connect(to, id, secret, options = {}) {
      // A device may use `<id>:anything` as client id; its username is its id.
      const username = id.split(':')[0];
      const client = mqtt.connect(to.addresses.mqttUrl, { clientId: id, username, password: secret, protocolVersion: 4, reconnectPeriod: 0, ...options });
      clients.push(client);
      client.on('error', () => undefined);
      const refused = nextEvent<[Error]>(client, 'error').then(([err]) => Promise.reject(Object.assign(err, { message: `${id} on ${to.name}: ${err.message}` })));
      await Promise.race([nextEvent(client, 'connect'), refused]);
      return client;
    },
    track(client) {
      clients.push(client);
      return client;
    },
    async reset() {
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
      await Promise.all([...running].map((i) => stop(i)));
    },
    async close() {
      await warehouse.close();
      await redis.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The next `event` of an MQTT client (mqtt.js' client is not typed as a Node EventEmitter). */
export function nextEvent<T extends unknown[]>(client: MqttClient, event: 'connect' | 'close' | 'error'): Promise<T> {
  return new Promise((resolve) => client.once(event, (...args: unknown[]) => resolve(args as T)));
}

/** A counter's or gauge's value summed over the series matching `labels`. */
export async function counter(metric: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> }, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((sum, v) => sum + v.value, 0);
}

/** A warehouse whose readings inserts fail while `failing` is set: accepted rows stay in the WAL only. */
export function failingInserts(w: Warehouse, state: { failing: boolean }): Warehouse {
  return {
    ...w,
    backend: w.backend,
    insertPacked: async (batches) => {
      if (state.failing) throw new Error('warehouse down (test)');
      return w.insertPacked(batches);
    },
  };
}
