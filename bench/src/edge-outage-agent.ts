/**
 * A gateway agent in its own process for the edge benchmark's outage: it journals `--readings`
 * readings while its broker is unreachable, then replays them once the broker is there. One JSON
 * line per stage on stdout: ready, journaled, connected, replayed. Run by `scenarios/edge-scenario.ts`.
 */
import { parseArgs } from 'node:util';
import { createGatewayAgent } from '@cityops/edge-agent';
import { pino } from 'pino';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'edge-bench-gw' },
    journal: { type: 'string' },
    broker: { type: 'string' },
    readings: { type: 'string', default: '1000000' },
    sensors: { type: 'string', default: '10' },
  },
});
if (values.journal === undefined || values.broker === undefined) throw new Error('--journal and --broker are required');
const total = Number(values.readings);
const sensorCount = Number(values.sensors);
const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const agent = createGatewayAgent(
  {
    deviceId: values.device,
    journalDir: values.journal,
    // Reconnect at most 1 s apart, so the replay starts soon after the broker is back (a field
    // agent waits up to its 60 s default); the journal bound is the default 64 MiB.
    mqtt: { url: values.broker, password: 'unused', reconnectMinMs: 100, reconnectMaxMs: 1000 },
  },
  { logger: pino({ level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2)) },
);
await agent.start();
print({ ready: true, pid: process.pid, boot: agent.boot });

let connectedAt: number | undefined;
agent.on('connected', () => {
  connectedAt ??= performance.now();
  print({ connected: true });
});

// The outage: readings straight into the agent's API as fast as it takes them (push() waits when
// the disk lags: back-pressure), as a burst of sensors would after a broker failure.
const sensors = Array.from({ length: sensorCount }, (_, i) => ({ sensor: `pm25-${i}`, metric: 'pm25' }));
const started = performance.now();
const ts0 = Date.now() - total;
for (let i = 0; i < total; i++) {
  const s = sensors[i % sensorCount]!;
  await agent.push({ sensor: s.sensor, metric: s.metric, ts: ts0 + i, value: i % 100 });
}
agent.flush();
// The last batches may still be on their way to the disk.
const deadline = performance.now() + 60_000;
while (agent.stats().readingsJournaled < total && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
const journaled = agent.stats();
print({ journaled: true, seconds: (performance.now() - started) / 1000, stats: journaled, heapMiB: process.memoryUsage().heapUsed / 2 ** 20 });

await agent.waitForIdle();
const stats = agent.stats();
print({
  replayed: true,
  seconds: connectedAt === undefined ? Number.NaN : (performance.now() - connectedAt) / 1000,
  stats,
  heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
});
await agent.stop();
process.exit(0);
