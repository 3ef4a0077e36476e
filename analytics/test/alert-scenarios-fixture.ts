import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { expect, vi } from 'vitest';
import { createGatewayAgent, type GatewayAgent, type ReadingSource } from '@cityops/edge-agent';
import { createIngestService, type IngestAddresses, type IngestService } from '@cityops/ingest';
import { topics, type Reading } from '@cityops/protocol';
import { generateCity, type City, type GatewaySpec } from '@cityops/simulators';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createAnalyticsService, type AnalyticsService } from '../src/index.ts';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
const FIVE_MINUTES = 5 * MINUTE;

/**
 * A clock the test moves by hand, shared by the analytics service and the gateway agents. It starts
 * two hours behind the wall clock (ingest refuses readings more than 5 minutes ahead of its own) and
 * 5 s into a 5-minute window, so a scenario knows where the indicator windows fall.
 */
export function manualClock() {
  let t = Math.floor((Date.now() - 2 * 60 * MINUTE) / FIVE_MINUTES) * FIVE_MINUTES + 5 * SECOND;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    /** Start of the 5-minute window holding now. */
    windowStart: () => Math.floor(t / FIVE_MINUTES) * FIVE_MINUTES,
  };
}
export type ManualClock = ReturnType<typeof manualClock>;

/** A normal value per metric (below every shipped threshold). */
const NORMAL: Readonly<Record<string, number>> = {
  pm25: 30,
  noise: 50,
  temperature: 20,
  water_pressure: 3,
  water_level: 0.5,
  traffic_flow: 10,
  manhole_tilt: 0,
  crowd_density: 1,
};

/** A sensor source the test feeds: readings go to the agent in the order emitted. */
function controlledSource(): ReadingSource<{ readings: number }> & { emit(readings: readonly Reading[]): void } {
  const queue: Reading[] = [];
  let wake: (() => void) | undefined;
  let stopped = false;
  let readings = 0;
  return {
    emit(rs) {
      queue.push(...rs);
      wake?.();
    },
    stop() {
      stopped = true;
      wake?.();
      return Promise.resolve();
    },
    stats: () => ({ readings }),
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const r = queue.shift();
        if (r !== undefined) {
          readings++;
          yield r;
          continue;
        }
        if (stopped) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
  };
}

/** A real gateway agent (journal, QoS 1, retained status, last will) fed by a controlled source. */
export interface ControlledGateway {
  readonly spec: GatewaySpec;
  readonly agent: GatewayAgent;
  /**
   * One reading of every sensor (but `skip`), stamped `ts`, normal values unless `values` (by
   * metric) says otherwise; resolves when the broker acknowledged them all.
   */
  send(ts: number, values?: Readonly<Record<string, number>>, skip?: readonly string[]): Promise<number>;
  /** Drops the TCP connection without DISCONNECT: the broker publishes the last will. */
  drop(): void;
  stop(): Promise<void>;
}

export interface ScenarioAnalytics {
  readonly service: AnalyticsService;
  readonly httpUrl: string;
  get<T = AlertBody>(path: string): Promise<T>;
  post(path: string, body: object): Promise<{ status: number; body: AlertBody }>;
  alerts(query: Record<string, string>): Promise<AlertBody[]>;
  /** Waits until the rule engine has handed `n` readings to its rules, evaluated them and settled. */
  readingsSeen(n: number): Promise<void>;
  /** One rule-engine tick now, and its sink calls settled. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export interface AlertBody {
  id: string;
  key: string;
  rule: string;
  kind: string;
  place: string;
  level: string;
  state: string;
  department: string;
  parentKey: string;
  seq: number;
  value?: number;
  feedback?: string;
  events?: { seq: number; type: string; actor: string; state: string; department: string; feedback: string; at: number }[];
  code?: string;
}

export interface AlertMessage {
  readonly topic: string;
  readonly event: { alertId: string; type: string; state: string; department: string; seq: number };
  readonly alert: { id: string; key: string; place: string; state: string };
}

export interface ScenarioWorld {
  readonly warehouse: Warehouse;
  readonly ingest: IngestService;
  readonly addresses: IngestAddresses;
  readonly city: City;
  /** The grids of a district of the simulators' city with their gateways (of `profile`, when given; grids without one left out). */
  grids(district: string, profile?: GatewaySpec['profile']): { grid: string; gateways: GatewaySpec[] }[];
  /** Registers the gateways in the device registry (before an analytics service starts: it loads the registry). */
  provision(gateways: readonly GatewaySpec[]): Promise<Map<string, string>>;
  gateway(spec: GatewaySpec, secret: string, clock: ManualClock): Promise<ControlledGateway>;
  /** Writes a rules file to the world's tmp dir. */
  rulesFile(name: string, rules: readonly object[]): Promise<string>;
  /** The analytics service on this broker and warehouse, as the `service` device, on the manual clock. */
  analytics(clock: ManualClock, options?: { rulesFile?: string }): Promise<ScenarioAnalytics>;
  /** A control room on `cityops/v1/alerts/+`. */
  observeAlerts(): Promise<() => AlertMessage[]>;
  /** Messages on a topic filter, as the service device sees them. */
  subscribe(filter: string): Promise<{ topic: string; payload: string }[]>;
  /** Waits until the warehouse holds `n` readings of the device (the ingest writer flushed them). */
  stored(device: string, n: number): Promise<void>;
  /** Stops what the scenario started (gateways, services, consoles), newest first. */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

const SERVICE_ID = 'analytics';

export async function startScenarioWorld(): Promise<ScenarioWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-alert-scenarios-'));
  const warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
  const logger = pino({ level: 'silent' });
  const ingest = createIngestService(
    { dataDir: join(dir, 'ingest'), mqtt: { port: 0 }, http: { port: 0 }, writer: { flushIntervalMs: 20 }, pipelineStatus: { instance: 'ingest-s', intervalMs: 1000 } },
    { warehouse, logger },
  );
  const addresses = await ingest.start();
  const none = { district: '', subdistrict: '', grid: '', building: '' };
  const { secret: serviceSecret } = await ingest.registry.add({ id: SERVICE_ID, kind: 'service', place: none });
  // The simulators' city: 16 districts × 4 sub-districts × 6 grids, two gateways in every grid.
  const city = generateCity({ seed: 11, gateways: 768, idPrefix: 'sc-gw-' });
  const owned: { stop(): Promise<void> }[] = [];
  // Client ids of services and consoles started in this world (ingest wants `<device id>:<suffix>`).
  let services = 0;
  let consoles = 0;

  async function subscribe(filter: string): Promise<{ topic: string; payload: string }[]> {
    const messages: { topic: string; payload: string }[] = [];
    const client = await mqtt.connectAsync(addresses.mqttUrl, {
      clientId: `${SERVICE_ID}:console${consoles++}`,
      username: SERVICE_ID,
      password: serviceSecret,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    client.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString('utf8') }));
    await client.subscribeAsync(filter, { qos: 1 });
    owned.push({ stop: () => client.endAsync() });
    return messages;
  }

  return {
    warehouse,
    ingest,
    addresses,
    city,
    grids(district, profile) {
      const grids = new Map<string, GatewaySpec[]>();
      for (const g of city.gateways) {
        if (g.place.district !== district) continue;
        const grid = `${g.place.district}/${g.place.subdistrict}/${g.place.grid}`;
        grids.set(grid, [...(grids.get(grid) ?? []), g]);
      }
      return [...grids]
        .map(([grid, gateways]) => ({ grid, gateways: profile === undefined ? gateways : gateways.filter((g) => g.profile === profile) }))
        .filter((g) => g.gateways.length > 0);
    },
    async provision(gateways) {
      const secrets = new Map<string, string>();
      for (const g of gateways) secrets.set(g.id, (await ingest.registry.add({ id: g.id, kind: 'gateway', place: g.place })).secret);
      return secrets;
    },
    async gateway(spec, secret, clock) {
      const clients: MqttClient[] = [];
      const agent = createGatewayAgent(
        {
          deviceId: spec.id,
          journalDir: join(dir, 'journals', spec.id),
          // No reconnect within a test: a dropped gateway stays away.
          mqtt: { url: addresses.mqttUrl, password: secret, reconnectMinMs: 3_600_000, reconnectMaxMs: 3_600_000 },
          journal: { fsync: 'off' },
        },
        {
          now: clock.now,
          logger,
          connect(url: string, options: IClientOptions) {
            const c = mqtt.connect(url, options);
            clients.push(c);
            return c;
          },
        },
      );
      const source = controlledSource();
      const connected = new Promise<void>((resolve) => agent.once('connected', resolve));
      await agent.start();
      await connected;
      const consuming = agent.consume(source);
      let emitted = 0;
      const gw: ControlledGateway = {
        spec,
        agent,
        async send(ts, values = {}, skip = []) {
          const readings = spec.sensors
            .filter((s) => !skip.includes(s.id))
            .map((s) => ({ sensor: s.id, metric: s.metric, ts, value: values[s.metric] ?? NORMAL[s.metric] ?? 1 }));
          emitted += readings.length;
          source.emit(readings);
          await vi.waitFor(() => expect(agent.stats().readingsAccepted).toBe(emitted));
          agent.flush();
          await agent.waitForIdle();
          return readings.length;
        },
        drop() {
          clients.at(-1)!.stream.destroy();
        },
        async stop() {
          await source.stop();
          await consuming;
          await agent.stop();
        },
      };
      owned.push(gw);
      return gw;
    },
    async rulesFile(name, rules) {
      const path = join(dir, `${name}.json`);
      await writeFile(path, JSON.stringify({ rules }));
      return path;
    },
    async analytics(clock, options = {}) {
      const n = services++;
      const service = createAnalyticsService(
        {
          http: { port: 0 },
          rollup: { intervalMs: 1000 },
          // Escalation and verification run when the test says (escalateNow / verifyNow).
          alerts: { escalationIntervalMs: 3_600_000, verifyIntervalMs: 3_600_000 },
          rules: {
            ...(options.rulesFile === undefined ? {} : { rulesFile: options.rulesFile }),
            mqtt: { url: addresses.mqttUrl, username: SERVICE_ID, password: serviceSecret, clientId: `${SERVICE_ID}:rules${n}` },
            // Ticks come from the test (tickNow); the timer's first tick is a minute away.
            tickMs: 60_000,
          },
        },
        { warehouse, now: clock.now, logger },
      );
      const { httpUrl } = await service.start();
      const rules = service.rules!;
      owned.push({ stop: () => service.stop() });
      const get = async <T>(path: string): Promise<T> => {
        const res = await fetch(`${httpUrl}${path}`);
        expect(res.status, path).toBe(200);
        return (await res.json()) as T;
      };
      return {
        service,
        httpUrl,
        get,
        async post(path, body) {
          const res = await fetch(`${httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
          return { status: res.status, body: (await res.json()) as AlertBody };
        },
        async alerts(query) {
          return (await get<{ alerts: AlertBody[] }>(`/v1/alerts?${new URLSearchParams(query).toString()}`)).alerts;
        },
        async readingsSeen(count) {
          await vi.waitFor(async () => expect((await service.metrics.ruleReadings.get()).values[0]?.value ?? 0).toBeGreaterThanOrEqual(count));
          // The batch is evaluated on the next turn (setImmediate), then its sink calls run.
          await new Promise((resolve) => setImmediate(resolve));
          await rules.settled();
        },
        async tick() {
          rules.tickNow();
          await rules.settled();
        },
        stop: () => service.stop(),
      };
    },
    subscribe,
    async observeAlerts() {
      const raw = await subscribe(topics.alerts('+'));
      return () => raw.map((m) => ({ topic: m.topic, ...(JSON.parse(m.payload) as Omit<AlertMessage, 'topic'>) }));
    },
    async stored(device, n) {
      await vi.waitFor(async () => expect((await warehouse.queryReadings({ device, limit: 100_000 })).length).toBe(n));
    },
    async cleanup() {
      for (const o of owned.splice(0).reverse()) await o.stop();
    },
    async close() {
      for (const o of owned.splice(0).reverse()) await o.stop().catch(() => undefined);
      await ingest.stop();
      await warehouse.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
