import mqtt, { type MqttClient } from 'mqtt';
import { createTelemetryCodec, topics, type Reading } from '@cityops/protocol';
import type { DeviceCredentials } from '@cityops/simulators';
import { createAckLedger, type AckLedger, type SeqRanges } from './ack-ledger.ts';
import { createCreditPacer } from './credit-pacer.ts';
import { createLatencyHistogram, type LatencyHistogram } from './latency-histogram.ts';

export interface AckedPublisherConfig {
  readonly brokerUrl: string;
  readonly devices: readonly DeviceCredentials[];
  readonly readingsPerBatch: number;
  /** QoS 1 publishes awaiting PUBACK per device: what bounds the backlog when the server falls behind. */
  readonly inflight: number;
}

export interface DeviceLedger {
  readonly device: string;
  readonly boot: number;
  readonly acked: SeqRanges;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** The resolution of the PUBACK latencies a load process reports. */
export const PUBACK_SLOT_MS = 0.1;

function summarize(h: LatencyHistogram): LatencySummary {
  return { count: h.count, p50: h.quantile(0.5), p99: h.quantile(0.99), max: h.max };
}

export interface AckedPublisherStats {
  readonly published: number;
  readonly acked: number;
  readonly readingsAcked: number;
  readonly errors: number;
  /** Connection errors (CONNACK timeouts, drops) mqtt.js recovered from by reconnecting. */
  readonly connectErrors: number;
}

export interface AckedPublisher {
  start(): Promise<void>;
  /** Readings per second for the whole fleet from now on; 0 pauses. */
  setRate(readingsPerSecond: number): void;
  stats(): AckedPublisherStats;
  /** Publish → PUBACK since the start. */
  total(): LatencySummary;
  /** Publish → PUBACK since the last call. */
  takeInterval(): LatencySummary;
  /** Stops publishing, waits up to `drainMs` for PUBACKs in flight, disconnects; then the ledger is final. */
  stop(drainMs?: number): Promise<void>;
  ledger(): DeviceLedger[];
}

/**
 * A soak's load generator: journal-less gateways like the simulators' direct publisher (msgpack
 * batches, QoS 1, a fixed total rate round-robin over the devices), which also remembers every
 * batch it got a PUBACK for, so the end of the run can ask the warehouse for exactly those readings.
 */
export function createAckedPublisher(config: AckedPublisherConfig): AckedPublisher {
  const codec = createTelemetryCodec();
  const boot = Math.floor(Date.now() / 1000);
  const clients: MqttClient[] = [];
  const ledgers: AckLedger[] = config.devices.map(() => createAckLedger());
  const seqs = new Array<number>(config.devices.length).fill(0);
  // Tenth-of-a-millisecond slots: at a p99 of 6–9 ms a whole-ms slot is 11–17%, coarser than the
  // 1.2× an attack is allowed in the hostile bench (0.6 million slots, 2.4 MB each).
  const latency = createLatencyHistogram(60_000, PUBACK_SLOT_MS);
  const recent = createLatencyHistogram(60_000, PUBACK_SLOT_MS);
  let published = 0;
  let acked = 0;
  let errors = 0;
  let connectErrors = 0;
  let timer: NodeJS.Timeout | undefined;

  function batchFor(device: DeviceCredentials, seq: number): Buffer {
    const now = Date.now();
    const readings: Reading[] = [];
    for (let i = 0; i < config.readingsPerBatch; i++) {
      const sensor = device.sensors[i % device.sensors.length]!;
      readings.push({ sensor: sensor.id, metric: sensor.metric, ts: now - (config.readingsPerBatch - i), value: (seq * 7 + i) % 100 });
    }
    return codec.encode({ boot, seq, readings });
  }

  // A second of the rate at most after a stall: the soak's open loop catches up, within the windows.
  const pacer = createCreditPacer({ clients: config.devices.length, inflight: config.inflight, burstSeconds: 1 }, (index) => {
    const device = config.devices[index]!;
    const seq = ++seqs[index]!;
    published++;
    const started = performance.now();
    clients[index]!.publish(topics.telemetry(device.id), batchFor(device, seq), { qos: 1 }, (err) => {
      pacer.done(index);
      if (err !== undefined && err !== null) {
        errors++;
        return;
      }
      acked++;
      ledgers[index]!.add(seq);
      const ms = performance.now() - started;
      latency.record(ms);
      recent.record(ms);
    });
  });

  return {
    total: () => summarize(latency),
    async start() {
      await Promise.all(
        config.devices.map(
          (device) =>
            new Promise<void>((resolve) => {
              const client = mqtt.connect(config.brokerUrl, {
                clientId: device.id,
                username: device.id,
                password: device.secret,
                protocolVersion: 4,
                reconnectPeriod: 1000,
                connectTimeout: 30_000,
              });
              clients.push(client);
              client.once('connect', () => resolve());
              // A busy machine times out a CONNACK now and then: mqtt.js reconnects; count it, never crash.
              client.on('error', () => connectErrors++);
            }),
        ),
      );
      timer = setInterval(() => pacer.tick(), 10);
    },
    setRate(readingsPerSecond) {
      pacer.setRate(readingsPerSecond / config.readingsPerBatch);
    },
    stats: () => ({ published, acked, readingsAcked: acked * config.readingsPerBatch, errors, connectErrors }),
    takeInterval() {
      const summary = summarize(recent);
      recent.reset();
      return summary;
    },
    async stop(drainMs = 15_000) {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      const deadline = performance.now() + drainMs;
      while (pacer.inflight() > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      await Promise.all(clients.map((c) => c.endAsync()));
    },
    ledger: () => config.devices.map((d, i) => ({ device: d.id, boot, acked: ledgers[i]!.ranges() })),
  };
}
