import { randomBytes } from 'node:crypto';
import { cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { generateCity, provisionGateways, writeCredentialsFile } from '@cityops/simulators';
import { openWarehouse } from '@cityops/warehouse';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';
import { startRedisServer, type RedisServer } from '../../test-peers/redis-server.ts';
import { checkAcknowledged, type AckCheck } from './ack-check.ts';
import type { DeviceLedger } from './acked-publisher.ts';
import { startCpuWindow, type CpuWindowResult } from './cpu-window.ts';
import { metricValue, scrape } from './prometheus-text.ts';
import { startSoakLoad, type SoakLoad } from './soak-load-client.ts';

export interface IngestInstance {
  readonly name: string;
  readonly dataDir: string;
  readonly pid: number;
  readonly mqttUrl: string;
  readonly httpUrl: string;
  stop(): Promise<void>;
}

/**
 * Ingest instances sharing routing, retained messages and sessions through one redis-server, each
 * with its own data directory and embedded chDB store: libchdb binds a data directory to one process
 * (so two processes cannot share a store), and Debian's clickhouse-server 18.16 cannot hold the
 * schema. Every store starts as a copy of one on which the whole fleet was provisioned, so every
 * instance knows every gateway; a reading is stored by the instance its gateway published to.
 */
export interface IngestCluster {
  readonly redis: RedisServer;
  /** Credentials files of the two halves of the fleet (one load process each). */
  readonly halves: readonly [string, string];
  readonly gateways: number;
  /** Starts instance `index` (0 or 1) on its own data directory, with `extraArgs` for `cityops ingest`. */
  startInstance(index: number, extraArgs?: readonly string[]): Promise<IngestInstance>;
  /** Stops every instance still running, then redis-server; idempotent. */
  stop(): Promise<void>;
}

const INSTANCE_NAMES = ['scaling-a', 'scaling-b'] as const;

export async function prepareIngestCluster(workDir: string, gateways: number, log: (line: string) => void): Promise<IngestCluster> {
  const redis = await startRedisServer();
  const token = randomBytes(16).toString('hex');
  const dirs = INSTANCE_NAMES.map((name) => join(workDir, name));
  const running = new Set<CityopsProcess>();

  async function startInstance(index: number, extraArgs: readonly string[] = []): Promise<IngestInstance> {
    const name = INSTANCE_NAMES[index]!;
    const dataDir = dirs[index]!;
    await mkdir(dataDir, { recursive: true });
    const ingest = await startCityops([
      'ingest', '--data', dataDir, '--mqtt-port', '0', '--http-port', '0', '--admin-token', token, '--redis', redis.url, '--instance', name, ...extraArgs,
    ]);
    running.add(ingest);
    return {
      name,
      dataDir,
      pid: ingest.child.pid!,
      mqttUrl: String(ingest.ready.mqttUrl),
      httpUrl: String(ingest.ready.httpUrl),
      async stop() {
        running.delete(ingest);
        await ingest.stop();
      },
    };
  }

  async function stop(): Promise<void> {
    for (const p of [...running].reverse()) await p.stop();
    running.clear();
    await redis.stop();
  }

  try {
    // Provision on the first instance's store, then copy that store (stopped) for the second.
    const first = await startInstance(0);
    const fleet = await provisionGateways(first.httpUrl, token, generateCity({ gateways, seed: 31, idPrefix: 'scale-gw-' }).gateways);
    await first.stop();
    await cp(join(dirs[0]!, 'warehouse'), join(dirs[1]!, 'warehouse'), { recursive: true });
    const mid = Math.ceil(fleet.length / 2);
    const halves = [join(workDir, 'scaling-half-1.json'), join(workDir, 'scaling-half-2.json')] as const;
    await writeCredentialsFile(halves[0], fleet.slice(0, mid));
    await writeCredentialsFile(halves[1], fleet.slice(mid));
    log(`scaling: ${fleet.length} gateways provisioned; store copied for the second instance`);
    return { redis, halves, gateways: fleet.length, startInstance, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface IngestRunOptions {
  /** Instance each half of the fleet publishes to (the same one twice: one instance takes all). */
  readonly targets: readonly [IngestInstance, IngestInstance];
  readonly halves: readonly [string, string];
  readonly redisPid: number;
  /** Readings/s offered by each half (far above capacity: the QoS 1 windows bound the backlog). */
  readonly offeredPerHalf: number;
  readonly batch: number;
  readonly inflight: number;
  readonly warmupS: number;
  readonly seconds: number;
}

export interface IngestRun {
  readonly instances: number;
  /** Rows written to the warehouse(s) per second over the window, all instances together. */
  readonly readingsPerSecond: number;
  readonly ackedReadingsPerSecond: number;
  /** PUBACK latency over the window: the larger of the two load processes' quantiles. */
  readonly pubackP50Ms: number;
  readonly pubackP99Ms: number;
  readonly publishErrors: number;
  readonly connectErrors: number;
  /** Named processes: each instance by name, `load-1`, `load-2`, `redis`. */
  readonly cpu: CpuWindowResult;
  /** Which store to hold each half's PUBACKs against. */
  readonly ledgers: readonly { readonly dataDir: string; readonly devices: readonly DeviceLedger[] }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rowsWritten(instances: readonly IngestInstance[]): Promise<number> {
  const texts = await Promise.all(instances.map((i) => scrape(`${i.httpUrl}/metrics`)));
  return texts.reduce((sum, t) => sum + metricValue(t, 'cityops_ingest_warehouse_rows_written_total'), 0);
}

/** Waits until the instance's write-ahead log holds nothing for the warehouse (or `timeoutMs` passed). */
export async function untilWritten(instance: IngestInstance, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (metricValue(await scrape(`${instance.httpUrl}/metrics`), 'cityops_ingest_buffered_rows') <= 0) return;
    await sleep(200);
  }
}

/**
 * Two load processes (one per half of the fleet, journal-less gateways keeping QoS 1 windows full)
 * against the instances in `targets`; after the warm-up, rows written, PUBACKs and the CPU of every
 * process over the window.
 */
export async function measureIngestRun(o: IngestRunOptions): Promise<IngestRun> {
  const instances = [...new Set(o.targets)];
  const loads: SoakLoad[] = [];
  try {
    for (let h = 0; h < 2; h++) {
      loads.push(await startSoakLoad({ brokerUrl: o.targets[h]!.mqttUrl, credentials: o.halves[h]!, batch: o.batch, inflight: o.inflight }));
    }
    for (const load of loads) load.setRate(o.offeredPerHalf);
    await sleep(o.warmupS * 1000);
    const start = await Promise.all(loads.map((l) => l.sample()));
    const rows0 = await rowsWritten(instances);
    const pids: Record<string, number> = { redis: o.redisPid };
    for (const i of instances) pids[i.name] = i.pid;
    loads.forEach((l, h) => (pids[`load-${h + 1}`] = l.pid));
    const window = startCpuWindow(pids);
    await sleep(o.seconds * 1000);
    const cpu = window.stop();
    const rows1 = await rowsWritten(instances);
    const end = await Promise.all(loads.map((l) => l.sample()));
    const ledgers = await Promise.all(loads.map((l) => l.finish()));
    const acked = end.reduce((n, s, h) => n + s.stats.readingsAcked - start[h]!.stats.readingsAcked, 0);
    return {
      instances: instances.length,
      readingsPerSecond: (rows1 - rows0) / cpu.seconds,
      ackedReadingsPerSecond: acked / cpu.seconds,
      pubackP50Ms: Math.max(...end.map((s) => s.puback.p50)),
      pubackP99Ms: Math.max(...end.map((s) => s.puback.p99)),
      publishErrors: ledgers.reduce((n, l) => n + l.stats.errors, 0),
      connectErrors: ledgers.reduce((n, l) => n + l.stats.connectErrors, 0),
      cpu,
      ledgers: ledgers.map((l, h) => ({ dataDir: o.targets[h]!.dataDir, devices: l.devices })),
    };
  } finally {
    for (const load of loads) await load.close();
  }
}

/** After the instances stopped: every run's PUBACKs held against the store of the instance that took them. */
export async function checkStores(runs: readonly IngestRun[], batch: number): Promise<AckCheck> {
  const byDir = new Map<string, DeviceLedger[]>();
  for (const run of runs) for (const l of run.ledgers) byDir.set(l.dataDir, [...(byDir.get(l.dataDir) ?? []), ...l.devices]);
  const total = { ackedReadings: 0, lostReadings: 0, duplicateRows: 0, storedUnacked: 0 };
  // One store open at a time: chDB holds one data directory per process at once.
  for (const [dataDir, devices] of byDir) {
    const warehouse = await openWarehouse({ backend: 'chdb', path: join(dataDir, 'warehouse') });
    try {
      const check = await checkAcknowledged(warehouse, devices, batch);
      total.ackedReadings += check.ackedReadings;
      total.lostReadings += check.lostReadings;
      total.duplicateRows += check.duplicateRows;
      total.storedUnacked += check.storedUnacked;
    } finally {
      await warehouse.close();
    }
  }
  return total;
}
