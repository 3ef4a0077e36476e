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
import type { Logger } from 'pino';
import type { DeviceCredentials } from './credentials-file.ts';

export interface AgentFleetConfig {
  readonly brokerUrl: string;
  readonly devices: readonly DeviceCredentials[];
  /** Each gateway's journal lives in `<journalRoot>/<device id>`. */
  readonly journalRoot: string;
  /** Readings per second for the whole fleet, spread evenly over the gateways. */
  readonly readingsPerSecond: number;
  readonly seed?: number;
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
export function createAgentFleet(config: AgentFleetConfig, deps: { logger?: Logger } = {}): AgentFleet {
  const agents: GatewayAgent[] = [];
  const sources: ReadingSource<SimulatedSourceStats>[] = [];
  const consuming: Promise<void>[] = [];
  const perGateway = config.readingsPerSecond / Math.max(1, config.devices.length);

  return {
    agents: () => agents,
    async start() {
      for (const [i, device] of config.devices.entries()) {
        const sensors = device.sensors
          .filter((s): s is { id: string; metric: Metric } => isMetric(s.metric))
          .map((s) => ({ id: s.id, metric: s.metric }));
        if (sensors.length === 0) continue;
        const agent = createGatewayAgent(
          {
            deviceId: device.id,
            journalDir: join(config.journalRoot, device.id),
            mqtt: { url: config.brokerUrl, password: device.secret },
          },
          deps.logger === undefined ? {} : { logger: deps.logger.child({ device: device.id }) },
        );
        const source = createSimulatedSource(
          { sensors, ratePerSecond: perGateway },
          { random: createSeededRandom((config.seed ?? 1) * 100_003 + i) },
        );
        await agent.start();
        agents.push(agent);
        sources.push(source);
        consuming.push(agent.consume(source));
      }
    },
    async stop() {
      await Promise.all(sources.map((s) => s.stop()));
      await Promise.allSettled(consuming);
      await Promise.all(agents.map((a) => a.stop()));
    },
    stats() {
      const all = agents.map((a) => a.stats());
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
