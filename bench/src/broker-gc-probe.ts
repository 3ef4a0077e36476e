// The broker's garbage collections under the hostile bench's legitimate gateway (200 batches/s of 100
// readings, QoS 1, fsync off), window by window, quiet or under the hostile bench's attacks:
// `npx tsx bench/src/broker-gc-probe.ts '<node flags>' [windows] [kinds]`, e.g.
// '--max-semi-space-size=16' against '--max-semi-space-size=32', or '--trace-gc
// --trace-incremental-marking' (every GC, and V8's reason for starting each incremental marking
// and each mark-compact, printed as they come). `kinds`: window kinds taken in turn (`quiet` or an attack of
// HOSTILE_ATTACKS, e.g. `slowloris,quiet`), or `hostile` for the hostile bench's schedule (5 rounds).
// Prints per 10 s window the gateway's PUBACK p99 (ms), the broker's major GCs and their pause (ms),
// all GC pause (ms), the broker's CPU (cores), its V8 heap used and total and its external memory at
// the end (MiB).
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { generateCity, provisionGateways, writeCredentialsFile } from '@cityops/simulators';
import { startCityops } from '../../test-peers/cityops-process.ts';
import { startAttacker } from './hostile-attack-client.ts';
import { metricOrZero, scrape } from './prometheus-text.ts';
import type { HostileWindow } from './scenarios/hostile-pairs.ts';
import { hostileSchedule } from './scenarios/hostile-pairs.ts';
import { attackOf, HOSTILE_FULL } from './scenarios/hostile-scenario.ts';
import { runWindow } from './scenarios/hostile-window.ts';
import { startSoakLoad } from './soak-load-client.ts';

const nodeFlags = process.argv[2] ?? '';
const kinds = process.argv[4] ?? 'quiet';
const schedule = kinds === 'hostile'
  ? hostileSchedule(HOSTILE_FULL.rounds)
  : Array.from({ length: Number(process.argv[3] ?? 6) }, (_, i) => {
      const cycle = kinds.split(',') as HostileWindow['kind'][];
      return { kind: cycle[i % cycle.length]!, round: Math.floor(i / cycle.length) };
    });
const MIB = 2 ** 20;
const dir = await mkdtemp(join(tmpdir(), 'cityops-gc-probe-'));
const token = randomBytes(16).toString('hex');
// On node's command line after scripts/memory.env's flags: read after NODE_OPTIONS, a later V8 flag wins.
const broker = await startCityops(['ingest', '--data', dir, '--mqtt-port', '0', '--http-port', '0', '--admin-token', token, '--no-fsync'], { timeoutMs: 120_000, nodeArgs: nodeFlags.split(' ').filter((a) => a !== '') });
// With --trace-gc (or any of V8's tracing flags) among the flags: V8's lines as they come, indented.
createInterface({ input: broker.child.stdout! }).on('line', (line) => {
  if (/^\[\d+:0x[0-9a-f]+\]/.test(line)) console.log(`  ${line.trim()}`);
});
try {
  const httpUrl = String(broker.ready.httpUrl);
  const [gateway, hostile] = await provisionGateways(httpUrl, token, generateCity({ gateways: 2, seed: 15, idPrefix: 'gc-probe-gw-' }).gateways);
  const credentials = join(dir, 'gateway-credentials.json');
  await writeCredentialsFile(credentials, [gateway!]);
  const load = await startSoakLoad({ brokerUrl: String(broker.ready.mqttUrl), credentials, batch: 100, inflight: 64 });
  const attacker = await startAttacker({ host: '127.0.0.1', port: Number(broker.ready.mqttPort) });
  try {
    load.setRate(200 * 100);
    // Warm-up, as the hostile bench's: its attacker's device logs in once.
    const warm = await mqtt.connectAsync(String(broker.ready.mqttUrl), { clientId: `${hostile!.id}:warm`, username: hostile!.id, password: hostile!.secret, protocolVersion: 4, reconnectPeriod: 0 });
    await warm.endAsync();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const services = { brokerPid: broker.child.pid!, metricsUrl: `${httpUrl}/metrics`, load, attacker };
    console.log('window\tkind\tPUBACK p99 ms\tmajor GCs\tmajor GC ms\tall GC ms\tbroker cores\theap used MiB\theap total MiB\texternal MiB');
    for (const [i, { kind, round }] of schedule.entries()) {
      const { figures: f } = await runWindow(kind, attackOf(kind, round, HOSTILE_FULL, hostile!), 10, services);
      const text = await scrape(services.metricsUrl);
      const heap = (name: string) => Math.round(metricOrZero(text, `cityops_ingest_nodejs_heap_size_${name}_bytes`) / MIB);
      const external = Math.round(metricOrZero(text, 'cityops_ingest_nodejs_external_memory_bytes') / MIB);
      console.log([i + 1, kind, f.puback_p99_ms, f.broker_gc_major, f.broker_gc_major_ms, f.broker_gc_ms, f.broker_cpu_cores, heap('used'), heap('total'), external].join('\t'));
    }
  } finally {
    await attacker.close();
    await load.close();
  }
} finally {
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
}
