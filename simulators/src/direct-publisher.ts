import mqtt, { type MqttClient } from 'mqtt';
import { createTelemetryCodec, topics, type Reading } from '@cityops/protocol';
import type { DeviceCredentials } from './credentials-file.ts';

export interface DirectPublisherConfig {
  readonly brokerUrl: string;
  readonly devices: readonly DeviceCredentials[];
  /** Readings per second for the whole fleet. */
  readonly readingsPerSecond: number;
  readonly readingsPerBatch: number;
  /** QoS 1 publishes awaiting PUBACK per device. */
  readonly inflight: number;
  readonly boot?: number;
}

export interface PublisherStats {
  readonly published: number;
  readonly acked: number;
  readonly readingsAcked: number;
  /** Publish -> PUBACK latencies in ms of a sample of batches. */
  readonly ackLatenciesMs: readonly number[];
  readonly errors: number;
}

export interface DirectPublisher {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): PublisherStats;
}

/**
 * A load generator for benchmarks: gateways without a journal, publishing msgpack batches with
 * QoS 1 at a fixed total rate over as many MQTT connections as devices. It measures the server,
 * not the edge; `GatewayAgent` is the real thing (journal, replay) used by `cityops simulate`.
 */
export function createDirectPublisher(config: DirectPublisherConfig): DirectPublisher {
  const codec = createTelemetryCodec();
  const clients: MqttClient[] = [];
  const boot = config.boot ?? Math.floor(Date.now() / 1000);
  let published = 0;
  let acked = 0;
  let readingsAcked = 0;
  let errors = 0;
  const latencies: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  function batchFor(device: DeviceCredentials, seq: number): Buffer {
    const now = Date.now();
    const readings: Reading[] = [];
    for (let i = 0; i < config.readingsPerBatch; i++) {
      const sensor = device.sensors[i % device.sensors.length]!;
      readings.push({ sensor: sensor.id, metric: sensor.metric, ts: now - (config.readingsPerBatch - i), value: (seq * 7 + i) % 100 });
    }
    return codec.encode({ boot, seq, readings });
  }

  return {
    async start() {
      running = true;
      await Promise.all(
        config.devices.map(
          (device) =>
            new Promise<void>((resolve, reject) => {
              const client = mqtt.connect(config.brokerUrl, {
                clientId: device.id,
                username: device.id,
                password: device.secret,
                protocolVersion: 4,
                reconnectPeriod: 1000,
                connectTimeout: 10_000,
              });
              clients.push(client);
              client.once('connect', () => resolve());
              client.once('error', reject);
            }),
        ),
      );
      const batchesPerSecond = config.readingsPerSecond / config.readingsPerBatch;
      const tickMs = 10;
      const seqs = new Map<number, number>();
      const inflight = new Map<number, number>();
      let credit = 0;
      let next = 0;
      let last = performance.now();
      timer = setInterval(() => {
        const now = performance.now();
        credit = Math.min(credit + ((now - last) / 1000) * batchesPerSecond, batchesPerSecond);
        last = now;
        let idle = 0;
        while (credit >= 1 && running && idle < clients.length) {
          const index = next;
          next = (next + 1) % clients.length;
          if ((inflight.get(index) ?? 0) >= config.inflight) {
            idle++;
            continue;
          }
          idle = 0;
          credit -= 1;
          const device = config.devices[index]!;
          const seq = (seqs.get(index) ?? 0) + 1;
          seqs.set(index, seq);
          inflight.set(index, (inflight.get(index) ?? 0) + 1);
          const started = performance.now();
          published++;
          clients[index]!.publish(topics.telemetry(device.id), batchFor(device, seq), { qos: 1 }, (err) => {
            inflight.set(index, (inflight.get(index) ?? 1) - 1);
            if (err !== undefined && err !== null) {
              errors++;
              return;
            }
            acked++;
            readingsAcked += config.readingsPerBatch;
            if (latencies.length < 200_000) latencies.push(performance.now() - started);
          });
        }
      }, tickMs);
    },
    async stop() {
      running = false;
      if (timer !== undefined) clearInterval(timer);
      await Promise.all(clients.map((c) => c.endAsync()));
    },
    stats: () => ({ published, acked, readingsAcked, ackLatenciesMs: latencies, errors }),
  };
}
