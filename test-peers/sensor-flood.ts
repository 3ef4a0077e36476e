import mqtt from 'mqtt';
import { createTelemetryCodec, topics, type Reading } from '@cityops/protocol';

export interface SensorFloodOptions {
  readonly brokerUrl: string;
  /** A provisioned gateway's credentials: the flood is valid, authenticated telemetry. */
  readonly device: { readonly id: string; readonly secret: string };
  readonly batches: number;
  readonly readingsPerBatch: number;
  /** Batches offered per second (open loop, paced every 10 ms); 0: as fast as the window allows. */
  readonly batchesPerSecond: number;
  /** QoS 1 publishes awaiting PUBACK at once. */
  readonly inflight: number;
  /** Distinct metric names, cycled: a firmware bug puts a counter in the sensor id, not in the metric. @default 50 */
  readonly metrics?: number;
  /**
   * Connected but not publishing until `begin()`: the caller first sends `probe()` batches until the
   * rule engine knows the device (its directory reads a device provisioned while it runs on first
   * telemetry, rate-limited): a flood from a device it does not know yet would be dropped there.
   */
  readonly paused?: boolean;
}

export interface SensorFloodStats {
  readonly published: number;
  readonly acked: number;
  readonly errors: number;
  /** Distinct sensor ids published (every reading a new one). */
  readonly sensors: number;
  readonly seconds: number;
}

export interface SensorFlood {
  /** Resolves once every batch was published and acknowledged (or failed). */
  readonly done: Promise<SensorFloodStats>;
  stats(): SensorFloodStats;
  /** One batch of the flood now, awaited (counted in the flood); before `begin()` of a paused flood. */
  probe(): Promise<void>;
  /** Starts the paced flood of a `paused` one (idempotent). */
  begin(): void;
  /** Stops publishing and disconnects (idempotent); the device then falls silent. */
  stop(): Promise<SensorFloodStats>;
}

/**
 * A faulty or stolen gateway (issue 17): valid QoS 1 batches in which every reading names a sensor
 * id never seen before (`<device>-s<n>`), then nothing more for those sensors. Used by the CLI's
 * bounded-stop test and by the hostile bench's sensor-flood phase.
 */
export async function startSensorFlood(o: SensorFloodOptions): Promise<SensorFlood> {
  const codec = createTelemetryCodec();
  const boot = Math.floor(Date.now() / 1000);
  const metricCount = o.metrics ?? 50;
  const client = await mqtt.connectAsync(o.brokerUrl, {
    clientId: o.device.id,
    username: o.device.id,
    password: o.device.secret,
    protocolVersion: 4,
    reconnectPeriod: 1000,
    connectTimeout: 30_000,
  });
  const t0 = performance.now();
  let published = 0;
  let acked = 0;
  let errors = 0;
  let inflight = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let finish: (s: SensorFloodStats) => void = () => undefined;
  const done = new Promise<SensorFloodStats>((resolve) => (finish = resolve));
  const stats = (): SensorFloodStats => ({ published, acked, errors, sensors: published * o.readingsPerBatch, seconds: (performance.now() - t0) / 1000 });

  function batch(seq: number): Buffer {
    const now = Date.now();
    const readings: Reading[] = [];
    for (let i = 0; i < o.readingsPerBatch; i++) {
      const n = (seq - 1) * o.readingsPerBatch + i;
      readings.push({ sensor: `${o.device.id}-s${n}`, metric: `flood_m${n % metricCount}`, ts: now - (o.readingsPerBatch - i), value: n % 100 });
    }
    return codec.encode({ boot, seq, readings });
  }

  function settle(): void {
    if (inflight === 0 && (published >= o.batches || stopped)) finish(stats());
  }

  const pace = { credit: 0, last: performance.now() };
  function tick(): void {
    const now = performance.now();
    const rate = o.batchesPerSecond > 0 ? o.batchesPerSecond : Number.POSITIVE_INFINITY;
    pace.credit = Math.min(pace.credit + ((now - pace.last) / 1000) * rate, Math.max(1, Math.min(rate, o.inflight)));
    pace.last = now;
    while (!stopped && published < o.batches && inflight < o.inflight && pace.credit >= 1) {
      pace.credit -= 1;
      inflight++;
      const seq = ++published;
      client.publish(topics.telemetry(o.device.id), batch(seq), { qos: 1 }, (err) => {
        inflight--;
        if (err !== undefined && err !== null) errors++;
        else acked++;
        settle();
      });
    }
    if (published >= o.batches && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }
  function begin(): void {
    if (timer !== undefined || stopped) return;
    pace.last = performance.now();
    timer = setInterval(tick, 10);
    tick();
  }
  if (o.paused !== true) begin();

  return {
    done,
    stats,
    async probe() {
      const seq = ++published;
      await client.publishAsync(topics.telemetry(o.device.id), batch(seq), { qos: 1 });
      acked++;
    },
    begin,
    async stop() {
      if (!stopped) {
        stopped = true;
        clearInterval(timer);
        timer = undefined;
        await client.endAsync(true);
        finish(stats());
      }
      return stats();
    },
  };
}
