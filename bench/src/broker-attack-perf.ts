// Samples the broker's CPU (kernel and user, every thread) under one hostile attack with Linux `perf`:
// `npx tsx bench/src/broker-attack-perf.ts idle|oversized [seconds]`, then
// `perf report -i /tmp/broker-attack-<kind>.data --no-children --sort sym --stdio -g none`.
// Prints the attack's sockets per second, the broker's CPU cores over the sampled window (perf's
// cpu-clock count) and its CPU per attacking socket.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCityops } from '../../test-peers/cityops-process.ts';
import { startAttacker } from './hostile-attack-client.ts';
import type { SocketAttackSpec } from './hostile-attack-messages.ts';

const kind = process.argv[2] === 'oversized' ? 'oversized' : 'idle';
const seconds = Number(process.argv[3] ?? 10);
const FREQUENCY = 999;
// The hostile bench's two socket-heavy attacks (bench/src/scenarios/hostile-scenario.ts, FULL).
const spec: SocketAttackSpec =
  kind === 'idle'
    ? { kind: 'idle_sockets', addresses: ['127.0.5.1'], perAddress: 5_000, reopenAfterMs: 1_000, waveSize: 250 }
    : { kind: 'oversized_connect', addresses: ['127.0.3.1', '127.0.3.2', '127.0.3.3', '127.0.3.4'], perAddress: 2, reopenAfterMs: 0, waveSize: 250 };
const dir = await mkdtemp(join(tmpdir(), 'cityops-attack-perf-'));
const broker = await startCityops(['ingest', '--data', dir, '--mqtt-port', '0', '--http-port', '0', '--admin-token', randomBytes(16).toString('hex'), '--no-fsync'], { timeoutMs: 120_000 });
const attacker = await startAttacker({ host: '127.0.0.1', port: Number(broker.ready.mqttPort) });
try {
  await attacker.start(spec);
  // Past the attack's first waves.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const out = `/tmp/broker-attack-${kind}.data`;
  const started = performance.now();
  const perf = spawnSync('perf', ['record', '-q', '-F', String(FREQUENCY), '-g', '-p', String(broker.child.pid), '-o', out, '--', 'sleep', String(seconds)], { encoding: 'utf8' });
  const elapsedS = (performance.now() - started) / 1000 + 3;
  const stats = await attacker.stop();
  // perf's cpu-clock event counts nanoseconds on a CPU: its total over the window is the broker's CPU time.
  const header = spawnSync('perf', ['report', '-i', out, '--stdio', '--sort', 'comm', '-g', 'none'], { encoding: 'utf8' }).stdout;
  const cpuNs = Number(/Event count \(approx\.\): (\d+)/.exec(header)?.[1] ?? Number.NaN);
  const socketsPerSecond = stats.attempts / elapsedS;
  const brokerCores = cpuNs / 1e9 / seconds;
  console.log(JSON.stringify({ kind, perf: perf.status, socketsPerSecond: Math.round(socketsPerSecond), brokerCores: Number(brokerCores.toFixed(3)), brokerCpuPerSocketUs: Math.round((brokerCores / socketsPerSecond) * 1e6), out }));
} finally {
  await attacker.close();
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
}
