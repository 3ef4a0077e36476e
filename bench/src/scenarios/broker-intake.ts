import { join } from 'node:path';
import { generateCity, provisionGateways, writeCredentialsFile, type DeviceCredentials } from '@cityops/simulators';
import type { BrokerUnderTest, OurBroker } from '../brokers-under-test.ts';
import { countStoredRows } from '../chdb-row-count.ts';
import { untilDrained } from '../ingest-drained.ts';
import { startPeerIntake, type PeerIntake } from '../peer-intake-client.ts';
import { processCpuSeconds } from '../process-cpu.ts';
import { metricValue, scrape } from '../prometheus-text.ts';
import { startSoakLoad, type SoakLoad } from '../soak-load-client.ts';

export interface IntakeOptions {
  readonly gateways: number;
  /** QoS 1 batches in flight per gateway (closed loop at saturation). */
  readonly inflight: number;
  readonly warmupS: number;
  /** The peer subscriber inserts when this many rows are buffered, or `flushMs` after the first. */
  readonly flushRows: number;
  readonly flushMs: number;
}

export interface IntakeResult {
  readonly ratio: number;
  readonly figures: Record<string, number>;
  readonly notes: string[];
}

interface IntakeFigures {
  /** count() of the store at the end over the seconds from the load's start until everything was stored. */
  readonly storedPerSecond: number;
  /** Rows added to the store over the measuring window. */
  readonly windowPerSecond: number;
  readonly storedRows: number;
  readonly ackedReadings: number;
  /** CPU of the pipeline's processes (broker, and the peer's subscriber) from the load's start until all was stored, per stored reading. */
  readonly cpuUsPerReading: number;
  readonly publisherCpuCores: number;
  readonly drainSeconds: number;
  readonly errors: number;
}

const BATCH = 100;
const SATURATE = 100_000_000; // readings/s offered: far above any pipeline here, so the loop is closed
const SUBSCRIBER_ID = 'bench-intake';
const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);
const wait = (s: number) => new Promise((resolve) => setTimeout(resolve, s * 1000));

/**
 * The load at saturation (warm-up, then a window in which `stored()` is read at both ends); then the
 * load stops and `settle()` returns the final stored count once everything it got is in the store,
 * calling `cpuTaken()` once all is stored but before it stops a process of `pids` (their CPU is taken then).
 */
async function measureLoad(
  load: SoakLoad,
  o: IntakeOptions,
  durationS: number,
  pids: readonly number[],
  stored: () => Promise<number>,
  settle: (cpuTaken: () => void) => Promise<number>,
): Promise<IntakeFigures> {
  const started = performance.now();
  const pipeline0 = pids.map(processCpuSeconds);
  load.setRate(SATURATE);
  await wait(o.warmupS);
  const rows0 = await stored();
  const load0 = processCpuSeconds(load.pid);
  const t0 = performance.now();
  await wait(durationS);
  const rows1 = await stored();
  const seconds = (performance.now() - t0) / 1000;
  const load1 = processCpuSeconds(load.pid);
  const done = await load.finish(); // stops publishing and waits for the PUBACKs in flight
  const loadEnded = performance.now();
  let pipelineCpu = Number.NaN;
  const storedRows = await settle(() => {
    pipelineCpu = pids.reduce((sum, pid, i) => sum + processCpuSeconds(pid) - pipeline0[i]!, 0);
  });
  return {
    storedPerSecond: storedRows / ((performance.now() - started) / 1000),
    windowPerSecond: (rows1 - rows0) / seconds,
    storedRows,
    ackedReadings: done.stats.readingsAcked,
    cpuUsPerReading: (pipelineCpu / storedRows) * 1e6,
    publisherCpuCores: (load1 - load0) / seconds,
    drainSeconds: (performance.now() - loadEnded) / 1000,
    errors: done.stats.errors,
  };
}

/** Both pipelines with their gateways connected and idle (rate 0), and the peer's subscriber subscribed. */
export interface IntakeSetup {
  readonly ours: OurBroker;
  readonly mosquitto: BrokerUnderTest;
  readonly peer: PeerIntake;
  readonly oursLoad: SoakLoad;
  readonly peerLoad: SoakLoad;
  close(): Promise<void>;
}

/**
 * Provisions the gateways on ours and connects a publisher process to each broker (the soak's
 * load generator: journal-less gateways, msgpack batches, QoS 1, a bounded window each), paused;
 * the same gateway ids and so topics on both. Nothing is measured yet.
 */
export async function prepareIntake(
  o: IntakeOptions,
  brokers: { readonly ours: OurBroker; readonly mosquitto: BrokerUnderTest; readonly peer: PeerIntake },
  workDir: string,
): Promise<IntakeSetup> {
  const city = generateCity({ gateways: o.gateways, seed: 7 }).gateways;
  const oursCredentials = join(workDir, 'intake-ours-credentials.json');
  await writeCredentialsFile(oursCredentials, await provisionGateways(brokers.ours.httpUrl, brokers.ours.adminToken, city));
  // mosquitto ignores the secrets (anonymous access).
  const peerFleet: DeviceCredentials[] = city.map((g) => ({ id: g.id, secret: 'unused', place: g.place, sensors: g.sensors }));
  const peerCredentials = join(workDir, 'intake-peer-credentials.json');
  await writeCredentialsFile(peerCredentials, peerFleet);
  const loads = await Promise.allSettled([
    startSoakLoad({ brokerUrl: brokers.ours.url, credentials: oursCredentials, batch: BATCH, inflight: o.inflight }),
    startSoakLoad({ brokerUrl: brokers.mosquitto.url, credentials: peerCredentials, batch: BATCH, inflight: o.inflight }),
  ]);
  const close = async () => {
    for (const l of loads) if (l.status === 'fulfilled') await l.value.close();
  };
  const [oursLoad, peerLoad] = loads;
  if (oursLoad.status === 'rejected' || peerLoad.status === 'rejected') {
    await close();
    throw oursLoad.status === 'rejected' ? oursLoad.reason : (peerLoad as PromiseRejectedResult).reason;
  }
  return { ...brokers, oursLoad: oursLoad.value, peerLoad: peerLoad.value, close };
}

/** Ours, stopped at the end so that its store can be counted (by another process). */
function measureOurs(setup: IntakeSetup, o: IntakeOptions, durationS: number): Promise<IntakeFigures> {
  const { ours } = setup;
  const written = async () => metricValue(await scrape(`${ours.httpUrl}/metrics`), 'cityops_ingest_warehouse_rows_written_total');
  return measureLoad(setup.oursLoad, o, durationS, [ours.pid], written, async (cpuTaken) => {
    await untilDrained(ours.httpUrl, 0, 120_000);
    cpuTaken();
    await ours.stop();
    return countStoredRows(join(ours.dataDir, 'warehouse'), 'readings');
  });
}

/** The peer pipeline: `peer` inserts what it has buffered and counts its store a last time. */
async function measurePeer(setup: IntakeSetup, o: IntakeOptions, durationS: number): Promise<IntakeFigures & { inserts: number; droppedBatches: number }> {
  let last = { inserts: 0, droppedBatches: 0 };
  const figures = await measureLoad(setup.peerLoad, o, durationS, [setup.mosquitto.pid, setup.peer.pid], async () => (await setup.peer.count()).stored, async (cpuTaken) => {
    const counts = await setup.peer.finish();
    cpuTaken();
    last = counts;
    return counts.stored;
  });
  return { ...figures, ...last };
}

/** The peer's subscriber → chDB process, connected to `brokerUrl`; start it before the load (and its measurement). */
export function startIntakePeer(brokerUrl: string, o: IntakeOptions, workDir: string): Promise<PeerIntake> {
  return startPeerIntake({ brokerUrl, clientId: SUBSCRIBER_ID, dir: join(workDir, 'intake-peer'), flushRows: o.flushRows, flushMs: o.flushMs, maxBufferBytes: 256 << 20 });
}

/**
 * Intake: gateways' telemetry batches until they are stored, ours (`cityops ingest` as shipped:
 * validation, dedup, fsync'ed WAL before the PUBACK, embedded chDB) against mosquitto plus an
 * mqtt.js subscriber inserting into chDB (peer-intake-process.ts), the same gateways and payloads.
 */
export async function measureIntake(o: IntakeOptions, setup: IntakeSetup, run: { durationS: number; log: (line: string) => void }): Promise<IntakeResult> {
  run.log(`broker intake: ours at saturation (${o.gateways} gateways × ${o.inflight} in flight) for ${run.durationS} s`);
  const ours = await measureOurs(setup, o, run.durationS);
  run.log(`broker intake: mosquitto + subscriber → chDB at saturation for ${run.durationS} s`);
  const peer = await measurePeer(setup, o, run.durationS);
  const ratio = ours.storedPerSecond / peer.storedPerSecond;
  run.log(`broker intake: ours ${Math.round(ours.storedPerSecond)} readings/s stored, peer pipeline ${Math.round(peer.storedPerSecond)}/s, ratio ${ratio.toFixed(3)}`);
  const figures: Record<string, number> = {
    intake_gateways: o.gateways,
    intake_inflight_per_gateway: o.inflight,
    intake_readings_per_batch: BATCH,
    intake_ratio_to_peer_pipeline: round(ratio, 3),
  };
  for (const [key, f] of [['ours', ours], ['peer', peer]] as const) {
    Object.assign(figures, {
      [`intake_${key}_stored_readings_per_second`]: Math.round(f.storedPerSecond),
      [`intake_${key}_window_stored_readings_per_second`]: Math.round(f.windowPerSecond),
      [`intake_${key}_stored_rows`]: f.storedRows,
      [`intake_${key}_acked_readings`]: f.ackedReadings,
      // Acknowledged to a gateway but not in the store: what "no durability" and a full queue cost.
      [`intake_${key}_lost_readings`]: Math.max(0, f.ackedReadings - f.storedRows),
      [`intake_${key}_cpu_us_per_reading`]: round(f.cpuUsPerReading, 2),
      [`intake_${key}_publisher_cpu_cores`]: round(f.publisherCpuCores, 2),
      [`intake_${key}_seconds_to_stored_after_load`]: round(f.drainSeconds, 1),
      [`intake_${key}_errors`]: f.errors,
    });
  }
  figures.intake_peer_inserts = peer.inserts;
  figures.intake_peer_dropped_batches = peer.droppedBatches;
  return {
    ratio,
    figures,
    notes: [
      `Intake: one publisher process per broker (soak-load-process.ts, journal-less gateways like \`cityops simulate --mode direct\`; ${o.gateways} gateways, ${BATCH}-reading msgpack batches, QoS 1, ${o.inflight} in flight each, ${SATURATE.toLocaleString('en')} readings/s offered so the loop is closed) for ${o.warmupS} s of warm-up and the window, against ours (\`cityops ingest\` as shipped: auth, ACL, msgpack decode and schema validation, dedup, write-ahead log fdatasync'ed before each PUBACK, batched RowBinary inserts into embedded chDB) and against the pipeline a user would assemble from peers: Debian's mosquitto (anonymous, no persistence) plus a subscriber process (mqtt.js, QoS 1 on cityops/v1/telemetry/+, PUBACK on receipt) decoding with msgpackr (the published record structures) and inserting into chDB (the same \`chdb\` package and engine) in RowBinary through a file, the fastest format of the \`ingest\` scenario's chDB ceiling (on this machine, 400k rows in 50k-row inserts at load 1.7: RowBinary through a file 821k rows/s with the JS encoding, JSONEachRow 94k, chDB's object insert 117k), ${o.flushRows.toLocaleString('en')} rows or ${o.flushMs} ms per insert, one insert at a time, no validation, dedup or durability.`,
      '`intake_*_stored_readings_per_second` (the target\'s figure) = count() of the store at the end ÷ seconds from the load\'s start until everything it got was stored (ours: counted by a separate process in the stopped ingest\'s store); `*_window_*` = rows added over the measuring window alone (ours: its rows-written counter; the peer: count() at both ends). `*_lost_readings` = acknowledged to a gateway but not in the store (mosquitto drops beyond 1,000 queued messages per subscriber by default, and the peer acknowledges before it stores).',
      '`intake_*_cpu_us_per_reading` = CPU of the pipeline\'s processes (ours: the ingest process; the peer: mosquitto and the subscriber) from the load\'s start until all was stored, per stored reading; the publisher\'s CPU is listed apart. The peer inserts one batch at a time and its batches grow while one runs, so on a busy machine few inserts complete within the window: its `*_window_*` figure can be 0 where the end count is not.',
    ],
  };
}
