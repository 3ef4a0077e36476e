import { join } from 'node:path';
import {
  createGatewayAgent,
  createSeededRandom,
  createSimulatedSource,
  isMetric,
  type GatewayAgent,
  type Metric,
  type ReadingSource,
  type SimulatedSourceStats,
} from '@cityops/edge-agent';
import type { Reading } from '@cityops/protocol';
import type { Logger } from 'pino';
import type { CityIncidents } from './city-incidents.ts';
import type { DeviceCredentials } from './credentials-file.ts';

export interface AgentFleetConfig {
  readonly brokerUrl: string;
  readonly devices: readonly DeviceCredentials[];
  /** Each gateway's journal lives in `<journalRoot>/<device id>`. */
  readonly journalRoot: string;
  /** Readings per second for the whole fleet, spread evenly over the gateways. */
  readonly readingsPerSecond: number;
  readonly seed?: number;
  /** Scheduled incidents (cityops up --scenario): readings changed or held back, a gateway stopped and started again. */
  readonly incidents?: CityIncidents;
  /** How often the fleet looks whether a gateway should go down or come back (default 1000 ms). */
  readonly incidentCheckMs?: number;
}

export interface AgentFleetDeps {
  readonly logger?: Logger;
  readonly now?: () => number;
  readonly setInterval?: (fn: () => void, ms: number) => unknown;
  readonly clearInterval?: (handle: unknown) => void;
}

/** The readings of a source as an incident makes them at the moment they are taken. */
async function* withIncidents(source: AsyncIterable<Reading>, gateway: string, incidents: CityIncidents, now: () => number): AsyncGenerator<Reading> {
  for await (const reading of source) {
    const adjusted = incidents.adjust(gateway, reading, now());
    if (adjusted !== undefined) yield adjusted;
  }
}

export interface FleetStats {
  readonly gateways: number;
  readonly connected: number;
  readonly readingsJournaled: number;
  readonly batchesAcked: number;
  readonly batchesInflight: number;
  readonly journalBytes: number;
  readonly ingestErrors: number;
}

export interface AgentFleet {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): FleetStats;
  readonly agents: () => readonly GatewayAgent[];
}

/**
 * A fleet of real gateway agents (journal on disk, QoS 1, replay) fed by simulated sensors, all in
 * this process: what `cityops up` and `cityops simulate --mode agents` run.
 */
export function createAgentFleet(config: AgentFleetConfig, deps: AgentFleetDeps = {}): AgentFleet {
  interface Running {
    readonly agent: GatewayAgent;
    readonly source: ReadingSource<SimulatedSourceStats>;
    readonly consuming: Promise<void>;
  }
  /** Gateway i's agent while it runs; undefined while an incident holds it down. */
  const running = new Map<number, Running>();
  const now = deps.now ?? Date.now;
  const perGateway = config.readingsPerSecond / Math.max(1, config.devices.length);
  const incidents = config.incidents;
  let boots = 0;
  let ticker: unknown;
  let stopping: Promise<void> | undefined;
  /** Agent starts and stops an incident asked for, one at a time, in order. */
  let changing: Promise<void> = Promise.resolve();

  async function startGateway(i: number, device: DeviceCredentials): Promise<void> {
    const sensors = device.sensors
      .filter((s): s is { id: string; metric: Metric } => isMetric(s.metric))
      .map((s) => ({ id: s.id, metric: s.metric }));
    if (sensors.length === 0) return;
    const agent = createGatewayAgent(
      {
        deviceId: device.id,
        journalDir: join(config.journalRoot, device.id),
        mqtt: { url: config.brokerUrl, password: device.secret },
      },
      deps.logger === undefined ? {} : { logger: deps.logger.child({ device: device.id }) },
    );
    // A gateway that comes back draws new values: the seed moves with each start.
    const source = createSimulatedSource({ sensors, ratePerSecond: perGateway }, { random: createSeededRandom((config.seed ?? 1) * 100_003 + i + 7_919 * boots++) });
    await agent.start();
    const readings = incidents === undefined ? source : withIncidents(source, device.id, incidents, now);
    running.set(i, { agent, source, consuming: agent.consume(readings) });
  }

  async function stopGateway(i: number): Promise<void> {
    const r = running.get(i);
    if (r === undefined) return;
    running.delete(i);
    await r.source.stop();
    await Promise.allSettled([r.consuming]);
    // A clean stop publishes the gateway's offline status: what gateway_offline watches.
    await r.agent.stop();
  }

  /** Stops the gateway an incident takes down, starts it when the incident is over. */
  function followIncidents(): void {
    if (incidents === undefined || stopping !== undefined) return;
    const t = now();
    changing = changing.then(async () => {
      for (const [i, device] of config.devices.entries()) {
        if (stopping !== undefined) return;
        const down = incidents.gatewayOffline(device.id, t);
        if (down && running.has(i)) await stopGateway(i);
        else if (!down && !running.has(i) && device.sensors.length > 0 && incidents.targets.gateway === device.id) await startGateway(i, device);
      }
    }).catch((err: unknown) => deps.logger?.warn({ err }, 'an incident could not stop or start its gateway; tried again at the next check'));
  }

  return {
    agents: () => [...running.values()].map((r) => r.agent),
    async start() {
      for (const [i, device] of config.devices.entries()) await startGateway(i, device);
      if (incidents !== undefined && incidents.targets.gateway !== undefined) {
        ticker = (deps.setInterval ?? ((fn, ms) => setInterval(fn, ms).unref()))(followIncidents, config.incidentCheckMs ?? 1000);
      }
    },
    stop() {
      stopping ??= (async () => {
        if (ticker !== undefined) (deps.clearInterval ?? ((h) => clearInterval(h as NodeJS.Timeout)))(ticker);
        await changing;
        const all = [...running.values()];
        running.clear();
        await Promise.all(all.map((r) => r.source.stop()));
        await Promise.allSettled(all.map((r) => r.consuming));
        await Promise.all(all.map((r) => r.agent.stop()));
      })();
      return stopping;
    },
    stats() {
      const all = [...running.values()].map((r) => r.agent.stats());
      const sum = (f: (s: (typeof all)[number]) => number) => all.reduce((n, s) => n + f(s), 0);
      return {
        gateways: all.length,
        connected: all.filter((s) => s.connected).length,
        readingsJournaled: sum((s) => s.readingsJournaled),
        batchesAcked: sum((s) => s.batchesAcked),
        batchesInflight: sum((s) => s.batchesInflight),
        journalBytes: sum((s) => s.journal.bytes),
        ingestErrors: sum((s) => s.ingestErrors),
      };
    },
  };
}
