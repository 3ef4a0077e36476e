/**
 * How many readings a second the alert rules keep up with, on one core, without the network: the
 * engine's own MQTT client is replaced by an in-process emitter that hands it the same msgpack
 * batches a broker would, so what is measured is decode + rules + evaluation + the sink.
 * The peer in the same run is the codec's decode alone (what ingest does per batch too).
 *
 *   node --import tsx analytics/src/rules/measure-rule-throughput.ts [--batches 20000]
 */
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { createTelemetryCodec, topics } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import type { AlertSink } from '../alerts/alert-signal.ts';
import { createAnalyticsMetrics } from '../analytics-metrics.ts';
import { createRuleEngine } from './rule-engine.ts';

const { values } = parseArgs({ options: { batches: { type: 'string', default: '20000' }, gateways: { type: 'string', default: '5000' } } });
const BATCHES = Number(values.batches);
const GATEWAYS = Number(values.gateways);
const PER_BATCH = 100;
const METRICS = ['pm25', 'noise', 'water_pressure', 'water_level', 'crowd_density', 'temperature'];
const SENSORS_PER_GATEWAY = 25;

const devices = Array.from({ length: GATEWAYS }, (_, g) => ({
  id: `gw-${g}`,
  kind: 'gateway',
  district: `d${g % 16}`,
  subdistrict: `d${g % 16}-s${Math.floor(g / 16) % 6}`,
  grid: `g${Math.floor(g / 96) % 4}`,
  building: g % 3 === 0 ? `b${g % 7}` : '',
  revoked: 0,
}));
const warehouse = { query: () => Promise.resolve(devices) } as unknown as Warehouse;

let raises = 0;
const sink: AlertSink = {
  raise: () => {
    raises++;
    return Promise.resolve();
  },
  clear: () => Promise.resolve(),
};

class FakeClient extends EventEmitter {
  subscribe(_topics: string[], _options: unknown, cb: (err: Error | null, granted: { topic: string; qos: number }[]) => void) {
    cb(null, _topics.map((topic) => ({ topic, qos: 1 })));
  }
  endAsync() {
    return Promise.resolve();
  }
}
const client = new FakeClient();

let now = Date.now();
const engine = createRuleEngine(
  { mqtt: { username: 'bench', password: 'x' } },
  {
    warehouse,
    sink,
    now: () => now,
    logger: pino({ level: 'silent' }),
    metrics: createAnalyticsMetrics(),
    timers: { setInterval: () => undefined, clearInterval: () => undefined },
    connect: () => {
      setImmediate(() => client.emit('connect'));
      return client as unknown as MqttClient;
    },
  },
);
await engine.start();

const codec = createTelemetryCodec();
// Pre-encoded batches: a gateway's sensors in turn, values that wander (some places breach).
const payloads = Array.from({ length: 1000 }, (_, i) => {
  const g = i % GATEWAYS;
  return {
    topic: topics.telemetry(`gw-${g}`),
    payload: codec.encode({
      boot: 1,
      seq: i,
      readings: Array.from({ length: PER_BATCH }, (_, r) => {
        const s = (i * PER_BATCH + r) % SENSORS_PER_GATEWAY;
        return { sensor: `s-${s}`, metric: METRICS[s % METRICS.length]!, ts: now - 1000 + r, value: (i * 7 + r * 13) % 180 };
      }),
    }),
  };
});

/** Batches handed over per event-loop turn (about what one socket read carries); the engine evaluates between turns. */
const PER_TURN = 20;

async function feed(batches: number, decodeOnly: boolean): Promise<{ seconds: number; cpuSeconds: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < batches; i++) {
    const p = payloads[i % payloads.length]!;
    // The gateways publish in round robin: batch i comes from gateway i mod GATEWAYS.
    const topic = topics.telemetry(`gw-${i % GATEWAYS}`);
    if (decodeOnly) codec.decode(p.payload);
    else client.emit('message', topic, p.payload);
    if (i % 500 === 499) now += 100; // 50k readings per 100 ms of engine time: 500k/s
    if (i % PER_TURN === PER_TURN - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

// Warm up (series, sensor slots, JIT), then measure.
await feed(Math.min(BATCHES, 5000), false);
const decode = await feed(BATCHES, true);
const rules = await feed(BATCHES, false);
const tickStarted = performance.now();
engine.tickNow();
const tickMs = performance.now() - tickStarted;
const stats = engine.stats();
await engine.stop();

const readings = BATCHES * PER_BATCH;
let sha = 'unknown';
try {
  sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
} catch {
  // not a checkout
}
console.log(
  JSON.stringify(
    {
      question: 'readings per second the alert rules take on one core (decode + rules), vs decode alone',
      git: sha,
      node: process.version,
      cpu: cpus()[0]?.model,
      loadavg: (await import('node:os')).loadavg(),
      rules: engine.rules.rules.length,
      gateways: GATEWAYS,
      sensors: stats.sensors,
      places: stats.places,
      readings,
      decodeOnly: { readingsPerSecond: Math.round(readings / decode.seconds), cpuUsPerReading: (decode.cpuSeconds / readings) * 1e6 },
      engine: { readingsPerSecond: Math.round(readings / rules.seconds), cpuUsPerReading: (rules.cpuSeconds / readings) * 1e6 },
      rulesBeyondDecodeUsPerReading: ((rules.cpuSeconds - decode.cpuSeconds) / readings) * 1e6,
      /** One tick over every series and sensor slot (silence, `for`, sliding windows). */
      tickMs,
      raises,
    },
    null,
    2,
  ),
);
