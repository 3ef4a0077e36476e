import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createGatewayAgent, createSeededRandom, createSimulatedSource, type GatewayAgent } from '@cityops/edge-agent';
import { createTelemetryCodec, topics } from '@cityops/protocol';
import { openWarehouse } from '@cityops/warehouse';
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';
import { freePort } from '../../test-peers/free-port.ts';

// Fault: a gateway agent (`cityops gateway`, a process of its own, journal on disk) is killed with
// SIGKILL while it streams, and restarted on the same journal. Every reading ingest acknowledged, and
// every reading the journal held, is in the warehouse exactly once; other gateways are served meanwhile.

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TOKEN = 'faults-test-admin-token-0123456789';
const FIRST = 30_000; // readings written to the first gateway process (it is killed well before the end)
const SECOND = 1_000; // readings written to the restarted one
const OTHERS = 3;
const PER_OTHER = 2_000;

interface GatewayProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<unknown>;
  kill(): Promise<void>;
}

/** `cityops gateway --source stdin`; resolves once it printed its ready line. */
async function startGateway(args: readonly string[]): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'gateway', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  let errText = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errText = (errText + chunk).slice(-8000)));
  child.stdin.on('error', () => undefined); // EPIPE once killed
  const lines: Record<string, unknown>[] = [];
  const exited = once(child, 'exit');
  exited.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const onExit = () => reject(new Error(`cityops gateway exited before it was ready:\n${errText}`));
    child.once('exit', onExit);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const value = JSON.parse(line) as Record<string, unknown>;
      lines.push(value);
      if (value.ready === true) {
        child.off('exit', onExit);
        resolve();
      }
    });
  });
  return {
    child,
    lines,
    exited,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('fault: a gateway agent killed with SIGKILL mid-stream', () => {
  it('after a restart on its journal, every acknowledged and every journaled reading is stored exactly once; others are served meanwhile', { timeout: 90_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cityops-faults-gateway-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const mqttPort = await freePort();
    const ingest: CityopsProcess = await startCityops(['ingest', '--data', dir, '--mqtt-port', String(mqttPort), '--http-port', '0', '--admin-token', TOKEN]);
    cleanups.push(() => ingest.kill());
    const api = `http://127.0.0.1:${String((ingest.ready as { httpPort?: number }).httpPort ?? '')}`;
    const broker = `mqtt://127.0.0.1:${mqttPort}`;
    const provision = async (id: string, kind: string, place: string): Promise<string> => {
      const response = await fetch(`${api}/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id, kind, place }),
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { secret: string }).secret;
    };

    // What ingest accepted (made durable, then PUBACKed and forwarded), as a service sees it.
    const codec = createTelemetryCodec();
    const forwarded = new Set<number>();
    const watcher = await connectAsync(broker, { clientId: 'faults-watch', username: 'faults-watch', password: await provision('faults-watch', 'service', 'pudong/s0/g0'), protocolVersion: 4, reconnectPeriod: 0 });
    cleanups.push(() => watcher.endAsync(true));
    watcher.on('message', (_topic, payload) => {
      for (const r of codec.decode(payload).readings) forwarded.add(r.ts);
    });
    await watcher.subscribeAsync(topics.telemetry('gw-k'), { qos: 1 });

    // Other gateways, in this process, streaming the whole time.
    const others: GatewayAgent[] = [];
    const consuming: Promise<void>[] = [];
    for (let i = 0; i < OTHERS; i++) {
      const id = `gw-o${i}`;
      const agent = createGatewayAgent(
        {
          deviceId: id,
          journalDir: join(dir, 'journals', id),
          mqtt: { url: broker, password: await provision(id, 'gateway', `pudong/s1/g${i}`), reconnectMinMs: 50, reconnectMaxMs: 500 },
          batch: { maxReadings: 50, maxDelayMs: 100 },
        },
        { logger: pino({ level: 'silent' }) },
      );
      others.push(agent);
      cleanups.push(() => agent.stop());
      await agent.start();
      const source = createSimulatedSource(
        { sensors: [{ id: 'pm', metric: 'pm25' }], ratePerSecond: 250, limit: PER_OTHER, eventProbability: 0 },
        { random: createSeededRandom(i + 1) },
      );
      consuming.push(agent.consume(source));
    }
    const othersAcked = () => others.reduce((n, a) => n + a.stats().batchesAcked, 0);

    const secret = await provision('gw-k', 'gateway', 'pudong/s2/g9');
    const args = ['--device', 'gw-k', '--secret', secret, '--broker', broker, '--journal', join(dir, 'journals', 'gw-k'), '--source', 'stdin'];
    // Each reading has its own ts: (sensor, ts) names it across restarts.
    const T0 = Date.now() - 3_600_000;
    const line = (i: number) => JSON.stringify({ sensor: `s-${i % 4}`, metric: 'water_level', value: i / 10, ts: T0 + i });
    const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

    const first = await startGateway(args);
    cleanups.push(() => first.kill());
    first.child.stdin!.write(range(0, FIRST).map(line).join('\n') + '\n');
    await vi.waitFor(() => expect(forwarded.size).toBeGreaterThanOrEqual(3_000), { timeout: 30_000, interval: 2 });
    await first.kill();
    const ackedAtKill = [...forwarded];
    expect(ackedAtKill.length).toBeLessThan(FIRST); // killed mid-stream

    // While gw-k is dead, the other gateways keep being acknowledged.
    const othersAtKill = othersAcked();
    await vi.waitFor(() => expect(othersAcked()).toBeGreaterThan(othersAtKill + OTHERS), { timeout: 20_000, interval: 10 });

    const second = await startGateway(args);
    cleanups.push(() => second.kill());
    expect(second.lines[0]).toMatchObject({ ready: true, boot: expect.any(Number) as number });
    second.child.stdin!.end(range(100_000, SECOND).map(line).join('\n') + '\n');
    const [code] = (await second.exited) as [number | null];
    expect(code).toBe(0);
    expect(second.lines.find((l) => l.done === true)).toBeDefined();

    await Promise.all(consuming);
    for (const agent of others) agent.flush();
    await Promise.all(others.map((a) => a.waitForIdle()));
    await Promise.all(others.map((a) => a.stop()));
    await watcher.endAsync(true);
    expect(await ingest.stop()).toBe(0);

    const warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    cleanups.push(() => warehouse.close());
    const [counts] = await warehouse.query<{ n: number; keys: number; readings: number }>(
      'SELECT toUInt32(count()) AS n, toUInt32(uniqExact(device, boot, seq, sensor, ts)) AS keys, toUInt32(uniqExact(sensor, ts)) AS readings FROM readings WHERE device = {d:String}',
      { d: 'gw-k' },
    );
    // Exactly once: as many rows as idempotency keys, and as distinct readings.
    expect(counts).toEqual({ n: counts!.n, keys: counts!.n, readings: counts!.n });
    const stored = (
      await warehouse.query<{ i: number }>('SELECT toInt64(toUnixTimestamp64Milli(ts)) - {t0:Int64} AS i FROM readings WHERE device = {d:String} ORDER BY i', { d: 'gw-k', t0: T0 })
    ).map((r) => Number(r.i));
    const fromFirst = stored.filter((i) => i < FIRST);
    // What the killed process had journaled is a prefix of its input, none missing inside it...
    expect(fromFirst).toEqual(range(0, fromFirst.length));
    // ...covering everything ingest acknowledged before the kill, with its own ts...
    expect(fromFirst.length).toBeGreaterThanOrEqual(Math.max(...ackedAtKill) - T0 + 1);
    // ...and the restarted process delivered all it was given.
    expect(stored.filter((i) => i >= 100_000)).toEqual(range(100_000, SECOND));

    const othersStored = await warehouse.query<{ device: string; n: number; keys: number }>(
      "SELECT device, toUInt32(count()) AS n, toUInt32(uniqExact(boot, seq, idx)) AS keys FROM readings WHERE device LIKE 'gw-o%' GROUP BY device ORDER BY device",
    );
    expect(othersStored).toEqual(range(0, OTHERS).map((i) => ({ device: `gw-o${i}`, n: PER_OTHER, keys: PER_OTHER })));
    console.info(
      `gateway SIGKILL: ${ackedAtKill.length} readings acknowledged before the kill, ${fromFirst.length}/${FIRST} journaled by then and stored once, ${SECOND} after the restart`,
    );
  });
});
