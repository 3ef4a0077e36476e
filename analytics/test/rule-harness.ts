import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { expect, vi } from 'vitest';
import { pino } from 'pino';
import { createIngestService, type IngestAddresses, type IngestService } from '@cityops/ingest';
import { createTelemetryCodec, parsePlace, topics, type DeviceKind, type Reading } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import type { AlertSignal, AlertSink } from '../src/alerts/alert-signal.ts';
import type { DeviceEntry } from '../src/rules/device-directory.ts';
import { createAlertLifecycle, createAnalyticsMetrics, loadIndicatorDefinitions, parseAnalyticsConfig, type AlertLifecycle, type AnalyticsMetrics } from '../src/index.ts';
import { createRuleEngine, parseRuleDefinitions, type RuleEngine } from '../src/index.ts';

/** A clock the test moves by hand; an hour behind the wall clock so ingest accepts its readings as recent. */
export function manualClock(start = Date.now() - 3_600_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

export type SinkCall = { op: 'raise'; signal: AlertSignal } | { op: 'clear'; key: string; at: number };

/** Records every call in order, and hands it on to `forward` (an alert lifecycle) when given. */
export function recordingSink(forward?: AlertSink) {
  const calls: SinkCall[] = [];
  const sink: AlertSink = {
    raise(signal) {
      calls.push({ op: 'raise', signal });
      return forward?.raise(signal) ?? Promise.resolve();
    },
    clear(key, at) {
      calls.push({ op: 'clear', key, at });
      return forward?.clear(key, at) ?? Promise.resolve();
    },
  };
  return {
    sink,
    calls,
    raises: (prefix = '') =>
      calls.flatMap((c) => (c.op === 'raise' && c.signal.key.startsWith(prefix) ? [c.signal] : [])),
    clears: (prefix = '') => calls.flatMap((c) => (c.op === 'clear' && c.key.startsWith(prefix) ? [c.key] : [])),
  };
}

const codec = createTelemetryCodec();

/** A gateway as the rule engine's directory holds it, at `grid` (and `building`, else the grid itself). */
export function gatewayEntry(id: string, grid: string, building?: string): DeviceEntry {
  const [district, subdistrict] = grid.split('/') as [string, string];
  return {
    id,
    kind: 'gateway',
    revoked: false,
    retired: new Set(),
    maxSensors: 0,
    places: ['', district, `${district}/${subdistrict}`, grid, building === undefined ? grid : `${grid}/${building}`],
    cache: { series: [], sensors: new Map() },
  };
}

/** A gateway on MQTT as the agent connects: client id = device id, retained online status, a last will. */
export interface TestGateway {
  readonly id: string;
  readonly client: MqttClient;
  publish(readings: readonly Omit<Reading, 'ts'>[], ts: number): Promise<void>;
}

export interface RuleHarness {
  readonly warehouse: Warehouse;
  readonly ingest: IngestService;
  readonly addresses: IngestAddresses;
  readonly serviceSecret: string;
  provision(id: string, kind: DeviceKind, place?: string): Promise<string>;
  gateway(id: string, secret: string): Promise<TestGateway>;
  /** An engine on the harness's broker, with the given rules, a manual clock, and a recording sink (forwarding to `forward`). */
  engine(rules: unknown[], clock: ReturnType<typeof manualClock>, forward?: AlertSink): Promise<TestEngine>;
  /** The alert lifecycle as analytics runs it (the shipped dispatch routes, alerts in the harness's warehouse), on `clock`, no timers of its own. */
  lifecycle(clock: ReturnType<typeof manualClock>): Promise<AlertLifecycle>;
  close(): Promise<void>;
}

export interface TestEngine {
  readonly engine: RuleEngine;
  readonly sink: ReturnType<typeof recordingSink>;
  readonly metrics: AnalyticsMetrics;
  /** Messages the engine's client received, by topic, in order. */
  readonly received: string[];
  /** The engine's MQTT client (to cut its connection). */
  client(): MqttClient;
  /** Waits until the engine has handed `n` readings to its rules in total. */
  readingsSeen(n: number): Promise<void>;
  /** Ticks and waits for the sink calls it made. */
  tick(): Promise<void>;
}

let boots = 1;

export async function startRuleHarness(): Promise<RuleHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-rules-'));
  const warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
  const ingest = createIngestService(
    {
      dataDir: dir,
      mqtt: { port: 0 },
      http: { port: 0 },
      writer: { flushIntervalMs: 20 },
      pipelineStatus: { instance: 'ingest-r', intervalMs: 200 },
    },
    { warehouse, logger: pino({ level: 'silent' }) },
  );
  const addresses = await ingest.start();
  const { secret: serviceSecret } = await ingest.registry.add({ id: 'analytics', kind: 'service', place: { district: '', subdistrict: '', grid: '', building: '' } });
  const clients: MqttClient[] = [];
  const engines: RuleEngine[] = [];
  const lifecycles: AlertLifecycle[] = [];
  const indicators = loadIndicatorDefinitions();

  return {
    warehouse,
    ingest,
    addresses,
    serviceSecret,
    async provision(id, kind, place = 'pudong/pudong-s01/g001') {
      const { secret } = await ingest.registry.add({ id, kind, place: kind === 'service' ? { district: '', subdistrict: '', grid: '', building: '' } : parsePlace(place) });
      return secret;
    },
    async gateway(id, secret) {
      const boot = boots++;
      let seq = 0;
      const status = (online: boolean, reason?: string) => JSON.stringify({ online, boot, ts: Date.now(), ...(reason === undefined ? {} : { reason }) });
      const client = await mqtt.connectAsync(addresses.mqttUrl, {
        clientId: id,
        username: id,
        password: secret,
        protocolVersion: 4,
        reconnectPeriod: 0,
        will: { topic: topics.status(id), payload: Buffer.from(status(false, 'connection-lost')), qos: 1, retain: true },
      });
      clients.push(client);
      await client.publishAsync(topics.status(id), status(true), { qos: 1, retain: true });
      return {
        id,
        client,
        async publish(readings, ts) {
          seq++;
          await client.publishAsync(topics.telemetry(id), codec.encode({ boot, seq, readings: readings.map((r) => ({ ...r, ts })) }), { qos: 1 });
        },
      };
    },
    async engine(rules, clock, forward) {
      const sink = recordingSink(forward);
      const metrics = createAnalyticsMetrics();
      const received: string[] = [];
      let client: MqttClient | undefined;
      const engine = createRuleEngine(
        { mqtt: { url: addresses.mqttUrl, username: 'analytics', password: serviceSecret, clientId: `analytics:t${engines.length}`, reconnectMs: 100 }, tickMs: 60_000 },
        {
          warehouse,
          sink: sink.sink,
          rules: parseRuleDefinitions({ rules }, indicators),
          now: clock.now,
          logger: pino({ level: 'silent' }),
          metrics,
          // Ticks come from the test (tickNow), never from a timer.
          timers: { setInterval: () => undefined, clearInterval: () => undefined },
          connect(url: string, options: IClientOptions) {
            const c = mqtt.connect(url, options);
            c.on('message', (topic) => received.push(topic));
            client = c;
            return c;
          },
        },
      );
      engines.push(engine);
      await engine.start();
      return {
        engine,
        sink,
        metrics,
        received,
        client: () => client!,
        async readingsSeen(n) {
          await vi.waitFor(async () => expect((await metrics.ruleReadings.get()).values[0]?.value ?? 0).toBeGreaterThanOrEqual(n));
          // The batch's evaluation runs on the next turn (setImmediate), then its sink calls.
          await new Promise((resolve) => setImmediate(resolve));
          await engine.settled();
        },
        async tick() {
          engine.tickNow();
          await engine.settled();
        },
      };
    },
    async lifecycle(clock) {
      const lifecycle = createAlertLifecycle(parseAnalyticsConfig({}).alerts, {
        warehouse,
        logger: pino({ level: 'silent' }),
        metrics: createAnalyticsMetrics().alerts,
        now: clock.now,
        timers: { setTimeout: () => undefined, clearTimeout: () => undefined, setInterval: () => undefined, clearInterval: () => undefined },
      });
      lifecycles.push(lifecycle);
      await lifecycle.start();
      return lifecycle;
    },
    async close() {
      await Promise.all(engines.map((e) => e.stop()));
      await Promise.all(lifecycles.map((l) => l.stop()));
      await Promise.all(clients.map((c) => c.endAsync(true)));
      await ingest.stop();
      await warehouse.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
