import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, getPriority, loadavg } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { generateCity, provisionGateways, writeCredentialsFile, type DeviceCredentials } from '@cityops/simulators';
import { startCityops, type CityopsProcess } from '../../../test-peers/cityops-process.ts';
import { checkAcknowledgedInStore, type AckCheck } from '../ack-check.ts';
import { PUBACK_SLOT_MS } from '../acked-publisher.ts';
import { HOSTILE_PHASES, HOSTILE_RATIO_TARGET, HOSTILE_RSS_GROWTH_TARGET_MIB, hostileCharts, type HostilePhaseKey } from '../charts/hostile-charts.ts';
import { startAttacker, type Attacker } from '../hostile-attack-client.ts';
import type { AttackSpec, AttackStats } from '../hostile-attack-messages.ts';
import { untilDrained } from '../ingest-drained.ts';
import { processCpuSeconds } from '../process-cpu.ts';
import { processMemoryMiB, sampleRss } from '../process-memory.ts';
import { bucketQuantileBound, histogramBuckets, metricOrZero, scrape } from '../prometheus-text.ts';
import type { Scenario, ScenarioOptions, ScenarioResult } from '../scenario.ts';
import { startSoakLoad, type SoakLoad } from '../soak-load-client.ts';
import { phaseTable, type PhaseResult } from './hostile-phase-table.ts';
import { runSensorFlood, type SensorFloodOptions } from './hostile-sensor-flood.ts';

const QUESTION =
  'While hostile clients attack the broker (`cityops ingest`, shipped limits) before and after authentication — ' +
  'CONNECTs and PUBLISHes declaring 268,435,455 bytes, thousands of idle sockets from one address and from many, ' +
  'slowloris CONNECTs, failed logins from many addresses — does a legitimate gateway keep its acknowledged rate and PUBACK p99 within 1.2× of a quiet ' +
  "baseline measured in the same run, does the broker's RSS stay put, and is every acknowledged batch stored exactly once? " +
  'And when a provisioned gateway publishes 500,000 new sensor ids and falls silent (against `cityops up`, rules and alert board in): ' +
  'are the readings beyond its sensor cap refused, does the city stay within 50 MiB, does the board show at most a few alerts, and does it still stop in time?';

export interface HostileOptions extends Omit<SensorFloodOptions, 'batchesPerSecond' | 'batch' | 'inflight' | 'warmupS'> {
  /** The legitimate gateway: batches per second offered (open loop), readings per batch, QoS 1 window. */
  readonly batchesPerSecond: number;
  readonly batch: number;
  readonly inflight: number;
  /** Oversized CONNECT and PUBLISH: attacker addresses, sockets streaming at once from each. */
  readonly streamAddresses: number;
  readonly streamPerAddress: number;
  /**
   * The logged-in attacker's socket is opened again this long after it was closed: paced to the
   * broker's per-address CONNECT rate (30 per 10 s), so the phase measures oversized PUBLISHes;
   * reconnecting at once made it a CONNECT flood that rate refuses (~940 sockets/s, 13,748 refused
   * in a 15 s phase of a first run), a different attack.
   */
  readonly publishReopenAfterMs: number;
  /** Idle sockets held from one address; from `idleAddresses` other addresses, `idlePerAddress` each. */
  readonly idleOneAddress: number;
  readonly idleAddresses: number;
  readonly idlePerAddress: number;
  /** An idle socket the broker closed is opened again this long after. */
  readonly idleReopenAfterMs: number;
  readonly slowlorisAddresses: number;
  readonly slowlorisPerAddress: number;
  readonly slowlorisByteEveryMs: number;
  /** Addresses each logging in as the attacker's device with a wrong secret, one socket each, reopened after `publishReopenAfterMs`. */
  readonly failedLoginAddresses: number;
  /** Sockets opened at once at an attack's start. */
  readonly waveSize: number;
  /** Seconds of load before the quiet baseline (connections, JIT, the warehouse's first parts and caches). */
  readonly warmupS: number;
  /** The broker's WAL fsync (the shipped default is on). */
  readonly fsync: boolean;
  /** Smoke runs use this phase length whatever --duration says. */
  readonly smokePhaseS?: number;
}

// 200 batches/s of 100 readings: a busy district's gateway, ~7% of a core for the broker (the broker
// scenario measured ~330 µs of broker CPU per batch), so the 2-core bench machine has headroom for it.
// The shipped limits are 256 sockets per address, 2,048 unauthenticated, a 5 s CONNECT deadline:
// 10 addresses × 256 exceed the global cap; 4 × 250 slowloris sockets stay under it.
// fsync off: the attacks act on sockets, CPU and memory, not on the disk, and on a disk shared with
// other work an fsync'ed PUBACK's p99 is that disk's jitter (a first run, fsync on, load average 8:
// quiet p50 11 ms, p99 305 ms), which hides what an attack does. The broker scenario measures fsync.
const FSYNC = false;
const FULL: HostileOptions = {
  batchesPerSecond: 200, batch: 100, inflight: 64,
  streamAddresses: 4, streamPerAddress: 2, publishReopenAfterMs: 700,
  idleOneAddress: 5_000, idleAddresses: 10, idlePerAddress: 256, idleReopenAfterMs: 1_000,
  slowlorisAddresses: 4, slowlorisPerAddress: 250, slowlorisByteEveryMs: 1_000, failedLoginAddresses: 16,
  waveSize: 250, warmupS: 10, fsync: FSYNC,
  // 5,000 batches of 100 over a 30 s phase (~167 batches/s): the 500,000 ids.
  floodBatches: 5_000, floodInflight: 64, silenceAfterS: 10,
};
const SMOKE: HostileOptions = {
  batchesPerSecond: 50, batch: 100, inflight: 16,
  streamAddresses: 2, streamPerAddress: 1, publishReopenAfterMs: 350,
  idleOneAddress: 400, idleAddresses: 3, idlePerAddress: 100, idleReopenAfterMs: 1_000,
  slowlorisAddresses: 2, slowlorisPerAddress: 50, slowlorisByteEveryMs: 200, failedLoginAddresses: 4,
  waveSize: 200, warmupS: 0.3, fsync: FSYNC, smokePhaseS: 1.5,
  floodBatches: 30, floodInflight: 16, silenceAfterS: 1,
};

/**
 * The PUBACK histogram's slot: a p99 one slot above quiet still meets the target (at 1 ms slots and a
 * quiet p99 of 1–4 ms one slot was already more than 1.2×; the slots are 0.1 ms now).
 */
const P99_RESOLUTION_MS = PUBACK_SLOT_MS;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);

/** `count` loopback aliases from `first` (`127.0.1.1`, …): Linux routes all of 127/8 to lo, no set-up needed. */
function aliases(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}.${i + 1}`);
}

/** The attack of each phase (none in the quiet ones); each family from addresses of its own, so no cap carries over. */
function attackOf(phase: HostilePhaseKey, o: HostileOptions, hostile: DeviceCredentials): AttackSpec | undefined {
  const stream = { perAddress: o.streamPerAddress, reopenAfterMs: 0, waveSize: o.waveSize };
  switch (phase) {
    case 'oversized_connect':
      return { kind: 'oversized_connect', addresses: aliases('127.0.3', o.streamAddresses), ...stream };
    case 'oversized_publish':
      return { kind: 'oversized_publish', addresses: aliases('127.0.4', o.streamAddresses), ...stream, reopenAfterMs: o.publishReopenAfterMs, device: { id: hostile.id, secret: hostile.secret } };
    case 'idle_one_address':
      return { kind: 'idle_sockets', addresses: ['127.0.5.1'], perAddress: o.idleOneAddress, reopenAfterMs: o.idleReopenAfterMs, waveSize: o.waveSize };
    case 'idle_many_addresses':
      return { kind: 'idle_sockets', addresses: aliases('127.0.6', o.idleAddresses), perAddress: o.idlePerAddress, reopenAfterMs: o.idleReopenAfterMs, waveSize: o.waveSize };
    case 'slowloris':
      return { kind: 'slowloris', addresses: aliases('127.0.7', o.slowlorisAddresses), perAddress: o.slowlorisPerAddress, reopenAfterMs: 0, waveSize: o.waveSize, byteEveryMs: o.slowlorisByteEveryMs };
    case 'failed_logins':
      return { kind: 'failed_logins', addresses: aliases('127.0.8', o.failedLoginAddresses), perAddress: 1, reopenAfterMs: o.publishReopenAfterMs, waveSize: o.waveSize, device: { id: hostile.id, secret: `${hostile.secret}-wrong` } };
    default:
      return undefined;
  }
}

/** The broker's refusal counters at an instant (a phase's are their differences). */
function refusals(text: string) {
  return {
    packets: metricOrZero(text, 'cityops_broker_refused_packets_total'),
    addressConnections: metricOrZero(text, 'cityops_broker_refused_sockets_total{reason="address_connections"}'),
    unauthenticatedSockets: metricOrZero(text, 'cityops_broker_refused_sockets_total{reason="unauthenticated_sockets"}'),
    connectTimeout: metricOrZero(text, 'cityops_broker_refused_sockets_total{reason="connect_timeout"}'),
    // The per-address connection rate, checked at CONNECT (preConnect): what stops a logged-in attacker's reconnect loop.
    addressRate: metricOrZero(text, 'cityops_ingest_address_refused_total'),
    // Wrong secrets: each one an scrypt, until the address is locked out (10 failures in 5 min by default).
    authFailures: metricOrZero(text, 'cityops_broker_auth_failures_total'),
  };
}

/**
 * Waits until the broker holds no socket of the stopped attack (its not-yet-authenticated gauge at 0),
 * so that thousands of closes land in no phase's window: the next phase starts from a broker at rest.
 * Returns the seconds it took (the gauge is polled every 100 ms, for at most 30 s).
 */
async function untilSettled(metricsUrl: string): Promise<number> {
  const started = performance.now();
  while (metricOrZero(await scrape(metricsUrl), 'cityops_broker_unauthenticated_sockets') > 0 && performance.now() - started < 30_000) await sleep(100);
  return (performance.now() - started) / 1000;
}


interface Services {
  readonly broker: CityopsProcess;
  readonly brokerPid: number;
  readonly metricsUrl: string;
  readonly load: SoakLoad;
  readonly attacker: Attacker;
}

/** The histogram's q-quantile bound over one phase's observations; -1 (shown as –) when it made none. */
function phaseQuantile(before: string, after: string, name: string, q: number): number {
  const bound = bucketQuantileBound(histogramBuckets(before, name), histogramBuckets(after, name), q);
  return Number.isNaN(bound) ? -1 : bound;
}

async function runPhase(key: HostilePhaseKey, spec: AttackSpec | undefined, phaseS: number, s: Services): Promise<PhaseResult> {
  const start = { text: await scrape(s.metricsUrl), acked: (await s.load.sample()).stats.acked, rss: processMemoryMiB(s.brokerPid).rss };
  const cpu0 = { broker: processCpuSeconds(s.brokerPid), attacker: processCpuSeconds(s.attacker.pid), gateway: processCpuSeconds(s.load.pid) };
  const t0 = performance.now();
  const rss = sampleRss(s.brokerPid, 100);
  if (spec !== undefined) await s.attacker.start(spec);
  await sleep((phaseS * 1000) / 2);
  const midText = await scrape(s.metricsUrl);
  await sleep(t0 + phaseS * 1000 - performance.now());
  const end = await s.load.sample();
  const seconds = (performance.now() - t0) / 1000;
  const endText = await scrape(s.metricsUrl);
  const cpu1 = { broker: processCpuSeconds(s.brokerPid), attacker: processCpuSeconds(s.attacker.pid), gateway: processCpuSeconds(s.load.pid) };
  const memory = rss.stop();
  const attack: AttackStats | undefined = spec === undefined ? undefined : await s.attacker.stop();
  const settleS = await untilSettled(s.metricsUrl);
  const [r0, r1] = [refusals(start.text), refusals(endText)];
  const f: Record<string, number> = {
    acked_batches_per_second: round((end.stats.acked - start.acked) / seconds, 1),
    puback_p50_ms: round(end.puback.p50, 1),
    puback_p99_ms: round(end.puback.p99, 1),
    puback_max_ms: round(end.puback.max),
    broker_rss_start_mib: round(start.rss, 1),
    broker_rss_max_mib: round(memory.maxMiB, 1),
    broker_rss_growth_mib: round(Math.max(0, memory.maxMiB - start.rss), 1),
    broker_cpu_cores: round((cpu1.broker - cpu0.broker) / seconds, 2),
    gateway_cpu_cores: round((cpu1.gateway - cpu0.gateway) / seconds, 2),
    attacker_cpu_cores: round((cpu1.attacker - cpu0.attacker) / seconds, 2),
    refused_packets: r1.packets - r0.packets,
    refused_sockets_address_connections: r1.addressConnections - r0.addressConnections,
    refused_sockets_unauthenticated: r1.unauthenticatedSockets - r0.unauthenticatedSockets,
    refused_sockets_connect_timeout: r1.connectTimeout - r0.connectTimeout,
    refused_connection_rate: r1.addressRate - r0.addressRate,
    refused_logins: r1.authFailures - r0.authFailures,
    unauthenticated_sockets_mid: metricOrZero(midText, 'cityops_broker_unauthenticated_sockets'),
    // The broker's event-loop delay (prom-client resets its histogram at each scrape: the start, the middle
    // and the end scrapes make two half-phases, the larger taken). Timer lateness, so a busy machine's
    // scheduling shows too, but only as the broker's process felt it.
    broker_loop_delay_p99_ms: round(1000 * Math.max(...[midText, endText].map((t) => metricOrZero(t, 'cityops_ingest_nodejs_eventloop_lag_p99_seconds'))), 1),
    broker_loop_delay_max_ms: round(1000 * Math.max(...[midText, endText].map((t) => metricOrZero(t, 'cityops_ingest_nodejs_eventloop_lag_max_seconds'))), 1),
    // The broker's own part of a PUBACK (a batch received → its WAL record written) and the store's
    // inserts in this phase: where a PUBACK p99 that moves comes from, inside the broker or outside it.
    wal_append_p99_ms_at_most: round(1000 * phaseQuantile(start.text, endText, 'cityops_ingest_wal_append_duration_seconds', 0.99), 1),
    store_flushes: round(metricOrZero(endText, 'cityops_ingest_flush_duration_seconds_count') - metricOrZero(start.text, 'cityops_ingest_flush_duration_seconds_count')),
    store_flush_p99_ms_at_most: round(1000 * phaseQuantile(start.text, endText, 'cityops_ingest_flush_duration_seconds', 0.99), 1),
  };
  if (attack !== undefined) {
    Object.assign(f, {
      settle_s: round(settleS, 1),
      attack_sockets_per_second: round(attack.attempts / seconds, 1),
      attack_closed_by_broker: attack.closedByBroker,
      attack_logged_in: attack.loggedIn,
      attack_logins_refused: attack.loginsRefused,
      // Handed to the socket (Node's bytesWritten): what the broker was offered, not all of it delivered before the reset.
      attack_mib_written: round(attack.bytesSent / 2 ** 20, 1),
      attack_open_at_end: attack.openAtStop,
    });
  }
  return { key, seconds, figures: f };
}

export function createHostileScenario(full: HostileOptions, smokeOptions: HostileOptions): Scenario {
  return {
    name: 'hostile',
    question: QUESTION,
    // 30 s a phase: at 15 s the two quiet phases of one run were 8/16, 8/4 and 5/12 ms apart in p99
    // (the embedded store's inserts pause the broker now and then), too far apart to judge 1.2×; at
    // 30 s 19/23 ms (bench/results/2026-12-06T09-25-33Z.md).
    defaultDurationS: 30,
    async run({ durationS, smoke, workDir, log }: ScenarioOptions): Promise<ScenarioResult> {
      const o = smoke ? smokeOptions : full;
      const phaseS = smoke ? (o.smokePhaseS ?? durationS) : durationS;
      const dataDir = join(workDir, 'broker');
      await mkdir(dataDir, { recursive: true });
      const token = randomBytes(16).toString('hex');
      // The broker as shipped (embedded warehouse, default wire limits; the WAL's fsync as `o.fsync`), in a process of its own: its RSS is its own.
      const broker = await startCityops(
        ['ingest', '--data', dataDir, '--mqtt-port', '0', '--http-port', '0', '--admin-token', token, ...(o.fsync ? [] : ['--no-fsync'])],
        { timeoutMs: 120_000 },
      );
      let load: SoakLoad | undefined;
      let attacker: Attacker | undefined;
      let result: ScenarioResult;
      try {
        const httpUrl = String(broker.ready.httpUrl);
        const [legit, hostile] = await provisionGateways(httpUrl, token, generateCity({ gateways: 2, seed: 15, idPrefix: 'hostile-bench-gw-' }).gateways);
        const credentials = join(workDir, 'gateway-credentials.json');
        await writeCredentialsFile(credentials, [legit!]);
        // The gateway on 127.0.0.1 (its own process); the attacker (its own, lower-priority process) on other loopback addresses.
        [load, attacker] = await Promise.all([
          startSoakLoad({ brokerUrl: String(broker.ready.mqttUrl), credentials, batch: o.batch, inflight: o.inflight }),
          startAttacker({ host: '127.0.0.1', port: Number(broker.ready.mqttPort) }),
        ]);
        const services: Services = { broker, brokerPid: broker.child.pid!, metricsUrl: `${httpUrl}/metrics`, load, attacker };
        load.setRate(o.batchesPerSecond * o.batch);
        log(`hostile: warm-up, ${o.warmupS} s at ${o.batchesPerSecond} batches/s`);
        // The attacker's device logs in once, as a device that connects every day would have: its secret is
        // verified and cached now, so the oversized-PUBLISH phase measures the PUBLISH, not eight concurrent
        // first scrypts on libuv's pool (a ~750 ms PUBACK stall in a run without this; the failed-logins phase measures that).
        const warm = await mqtt.connectAsync(String(broker.ready.mqttUrl), { clientId: `${hostile!.id}:warm`, username: hostile!.id, password: hostile!.secret, protocolVersion: 4, reconnectPeriod: 0 });
        await warm.endAsync();
        await sleep(o.warmupS * 1000);
        const phases: PhaseResult[] = [];
        for (const { key, label } of HOSTILE_PHASES) {
          log(`hostile: ${label} for ${phaseS} s`);
          const phase = await runPhase(key, attackOf(key, o, hostile!), phaseS, services);
          phases.push(phase);
          log(`hostile: ${label}: ${phase.figures.acked_batches_per_second} batches/s, PUBACK p99 ${phase.figures.puback_p99_ms} ms, broker RSS max ${phase.figures.broker_rss_max_mib} MiB`);
        }
        const loadAvg = loadavg();
        // Read back from the kernel: the attacker did run below the broker and the gateway.
        const attackerNice = getPriority(attacker.pid);

        log('hostile: stopping the gateway and collecting its ledger of PUBACKs');
        const ledger = await load.finish();
        await untilDrained(httpUrl, 0, 60_000);
        await broker.stop();
        const check = await checkAcknowledgedInStore(join(dataDir, 'warehouse'), ledger.devices, o.batch);
        result = withPhases(phases, attackerNice, check, ledger.stats, o, phaseS, loadAvg);
      } finally {
        await attacker?.close();
        await load?.close();
        await broker.stop();
      }
      // After the broker's run, never beside it: a second embedded store and its rule engine would move those baselines.
      const flood = await runSensorFlood(o, phaseS, workDir, log);
      return {
        ...result,
        figures: { ...result.figures, ...flood.figures },
        targets: [...result.targets, ...flood.targets],
        notes: [...result.notes, ...flood.notes],
        tables: [...(result.tables ?? []), ...(flood.tables ?? [])],
      };
    },
  };
}

function withPhases(
  phases: readonly PhaseResult[],
  attackerNice: number,
  check: AckCheck,
  gateway: { errors: number; connectErrors: number },
  o: HostileOptions,
  phaseS: number,
  loadAvg: number[],
): ScenarioResult {
  // Each attack against the mean of the quiet phases just before and after it: the store grows through
  // the run and moves the p99 with it (see HOSTILE_PHASES).
  const baselineOf = (i: number) => {
    const around = [phases[i - 1], phases[i + 1]].filter((p) => p !== undefined && p.figures.attack_sockets_per_second === undefined).map((p) => p!.figures);
    const mean = (name: string) => around.reduce((sum, f) => sum + f[name]!, 0) / around.length;
    return { p99: mean('puback_p99_ms'), rate: mean('acked_batches_per_second'), growth: mean('broker_rss_growth_mib'), pair: around.map((f) => f.puback_p99_ms!) };
  };
  const quiet = phases[0]!.figures;
  const figures: Record<string, number> = {
    phase_s: phaseS,
    offered_batches_per_second: o.batchesPerSecond,
    readings_per_batch: o.batch,
    acked_readings: check.ackedReadings,
    lost_readings: check.lostReadings,
    duplicate_rows: check.duplicateRows,
    stored_unacked_readings: check.storedUnacked,
    attacker_nice: attackerNice,
    gateway_publish_errors: gateway.errors,
    gateway_connect_errors: gateway.connectErrors,
  };
  const baselines = new Map<string, ReturnType<typeof baselineOf>>();
  phases.forEach((p, i) => {
    const attacked = p.figures.attack_sockets_per_second !== undefined;
    const base = attacked ? baselineOf(i) : { p99: quiet.puback_p99_ms!, rate: quiet.acked_batches_per_second!, growth: quiet.broker_rss_growth_mib!, pair: [] };
    baselines.set(p.key, base);
    for (const [name, value] of Object.entries(p.figures)) figures[`${p.key}_${name}`] = value;
    if (attacked) {
      figures[`${p.key}_quiet_around_p99_ms`] = round(base.p99, 2);
      // The store grows through the run (27–75 MiB in a quiet phase of 30 s in one run): the attack's own
      // memory is what its phase grew beyond the mean of the quiet phases around it.
      figures[`${p.key}_quiet_around_rss_growth_mib`] = round(base.growth, 1);
      figures[`${p.key}_broker_rss_growth_beyond_quiet_mib`] = round(p.figures.broker_rss_growth_mib! - base.growth, 1);
    }
    // An attack: against its two quiet neighbours; a quiet phase: against the first one (the drift).
    figures[`${p.key}_p99_to_quiet`] = round(p.figures.puback_p99_ms! / base.p99, 2);
    figures[`${p.key}_rate_to_quiet`] = round(p.figures.acked_batches_per_second! / base.rate, 3);
    // Beside the growth within a phase: how far above the quiet baseline's highest sample the phase went.
    figures[`${p.key}_broker_rss_above_quiet_mib`] = round(p.figures.broker_rss_max_mib! - quiet.broker_rss_max_mib!, 1);
    figures[`${p.key}_broker_cpu_above_quiet_cores`] = round(p.figures.broker_cpu_cores! - quiet.broker_cpu_cores!, 2);
  });
  figures.load_average_1m = round(loadAvg[0]!, 2);
  const attacks = phases.filter((p) => p.figures.attack_sockets_per_second !== undefined);
  // The quiet phases around each attack against each other: how much the machine alone moves the
  // p99 over a minute. Where a pair differs by more than the 1.2× an attack is allowed, that attack's
  // ratio says little (re-run on a quiet machine). The first quiet against the last: the run's drift.
  const pairs = attacks.map((p) => baselines.get(p.key)!.pair).filter((pair) => pair.length === 2);
  const quietSpread = Math.max(1, ...pairs.map((pair) => Math.max(...pair) / Math.max(1, Math.min(...pair))));
  const pairsWithinResolution = pairs.every((pair) => Math.max(...pair) - Math.min(...pair) <= P99_RESOLUTION_MS);
  figures.quiet_phases_p99_spread = round(quietSpread, 2);
  figures.quiet_drift_p99_ratio = round(phases.at(-1)!.figures.puback_p99_ms! / Math.max(1, quiet.puback_p99_ms!), 2);
  const growthMet = attacks.every((p) => figures[`${p.key}_broker_rss_growth_beyond_quiet_mib`]! < HOSTILE_RSS_GROWTH_TARGET_MIB);
  const expected: Record<string, (f: Record<string, number>) => number> = {
    oversized_connect: (f) => f.refused_packets!,
    oversized_publish: (f) => f.refused_packets!,
    idle_one_address: (f) => f.refused_sockets_address_connections!,
    idle_many_addresses: (f) => f.refused_sockets_unauthenticated! + f.refused_sockets_connect_timeout!,
    slowloris: (f) => f.refused_sockets_connect_timeout!,
    failed_logins: (f) => f.refused_logins! + f.refused_connection_rate!,
  };
  const unrefused = attacks.filter((p) => !((expected[p.key]?.(p.figures) ?? 0) > 0)).map((p) => p.key);
  const label = (key: string) => HOSTILE_PHASES.find((h) => h.key === key)!.label;
  return {
    scenario: 'hostile',
    question: QUESTION,
    figures,
    targets: [
      // Not the broker's target: whether this run can judge the others (its noise below the 1.2× they allow).
      { name: "the machine quiet enough to judge the p99 targets: the two quiet phases around each attack, p99 against each other", target: `≤ ${HOSTILE_RATIO_TARGET}× (or ${P99_RESOLUTION_MS} ms) apart`, met: quietSpread <= HOSTILE_RATIO_TARGET || pairsWithinResolution },
      ...attacks.map((p) => {
        const base = baselines.get(p.key)!;
        return {
          name: `${label(p.key)}: gateway PUBACK p99 and acknowledged rate against the quiet phases before and after it`,
          target: `p99 ≤ ${HOSTILE_RATIO_TARGET} × quiet (or quiet + ${P99_RESOLUTION_MS} ms), rate ≥ quiet / ${HOSTILE_RATIO_TARGET}`,
          met: p.figures.puback_p99_ms! <= Math.max(HOSTILE_RATIO_TARGET * base.p99, base.p99 + P99_RESOLUTION_MS) && figures[`${p.key}_rate_to_quiet`]! >= 1 / HOSTILE_RATIO_TARGET,
        };
      }),
      { name: "broker RSS growth within each attack phase (highest sample − phase start) beyond the mean growth of the quiet phases around it (the store's own)", target: `< ${HOSTILE_RSS_GROWTH_TARGET_MIB} MiB`, met: growthMet },
      { name: 'every attack refused and counted on /metrics (packets, sockets at accept, the CONNECT deadline)', target: 'each phase > 0', met: unrefused.length === 0 },
      { name: "the gateway's acknowledged readings in the warehouse exactly once", target: '0 lost, 0 duplicated', met: check.ackedReadings > 0 && check.lostReadings === 0 && check.duplicateRows === 0 },
    ],
    notes: hostileNotes(o, phaseS, check, loadAvg, unrefused),
    tables: [phaseTable(phases, figures)],
    charts: hostileCharts({ figures }),
  };
}

function hostileNotes(o: HostileOptions, phaseS: number, check: AckCheck, loadAvg: number[], unrefused: readonly string[]): string[] {
  return [
    `Three processes on ${availableParallelism()} cores: the broker (\`cityops ingest\` as shipped${o.fsync ? '' : ' but with --no-fsync (the attacks act on sockets, CPU and memory; an fsync\'ed PUBACK p99 on a shared disk is that disk\'s jitter; the broker scenario measures fsync)'}: WAL, embedded chDB, wire limits 256 sockets per address counted at accept, 2,048 not yet authenticated, a 5 s CONNECT deadline, packet sizes at each fixed header); one legitimate gateway on 127.0.0.1 (the soak's load process: ${o.batchesPerSecond} batches/s of ${o.batch} readings offered, QoS 1, at most ${o.inflight} in flight, every PUBACK in a ledger); the attacker on other loopback addresses, forked at nice 10, so that it gets the CPU the broker and the gateway leave and cannot slow the gateway from the client side (its CPU is listed per phase; attacker_nice is read back from the kernel). After each attack the next phase waits until the broker holds none of its sockets (settle_s), so no phase pays for the previous one's closes. Load average at the end ${loadAvg.map((l) => l.toFixed(1)).join(' ')}.`,
    `Phases of ${phaseS} s each, in order, after ${o.warmupS} s of warm-up at the same rate: ${HOSTILE_PHASES.map((p) => p.label).join(' → ')}. Oversized CONNECT: ${o.streamAddresses} addresses × ${o.streamPerAddress} sockets, each a CONNECT declaring 268,435,455 bytes and then 1 MiB writes of zeros until the broker closes it, reopened at once. Oversized PUBLISH: the same from a provisioned device (logged in once during the warm-up, so its secret is verified and cached as for a device that connects daily) that logs in (a raw CONNECT with its secret, a client id of its own per socket) and then declares a 268,435,455-byte QoS 1 PUBLISH; each socket reopened ${o.publishReopenAfterMs} ms after it closed, to stay within the broker's per-address CONNECT rate (30 per 10 s): reconnecting at once is a CONNECT flood, which that rate refuses (counted as refused CONNECT rate). Idle: ${o.idleOneAddress.toLocaleString('en')} sockets from one address, then ${o.idleAddresses} addresses × ${o.idlePerAddress}, never a byte, each reopened ${o.idleReopenAfterMs} ms after the broker closed it. Slowloris: ${o.slowlorisAddresses} × ${o.slowlorisPerAddress} sockets each sending a 92-byte CONNECT one byte every ${o.slowlorisByteEveryMs} ms, reopened at once when cut. Failed logins: ${o.failedLoginAddresses} addresses, one socket each, logging in as that device with a wrong secret, reopened ${o.publishReopenAfterMs} ms after each refusal (each costs the broker an scrypt on libuv's pool until the address is locked out after 10 failures). Sockets open ${o.waveSize} at a time at an attack's start (the listen backlog is 511).`,
    'Per phase: the gateway\'s acknowledged batches/s and PUBACK p50/p99 (publish → PUBACK, 0.1 ms histogram, of that phase only; a batch not sent because the window was full shows as a lower rate, not a latency); the broker\'s VmRSS every 100 ms (max, and growth = max − RSS at the phase start; an attack\'s own is its growth beyond the mean growth of the quiet phases around it, since the store grows in every phase) and CPU (/proc); refusals from the broker\'s /metrics: cityops_broker_refused_packets_total, cityops_broker_refused_sockets_total by reason, cityops_ingest_address_refused_total (the per-address CONNECT rate, 30 per 10 s, that bounds a logged-in attacker\'s reconnects), the cityops_broker_unauthenticated_sockets gauge mid-phase, and the broker\'s event-loop delay p99 (cityops_ingest_nodejs_eventloop_lag_p99_seconds, the larger of the two half-phases). On a machine shared with other work the PUBACK p99 and the loop delay carry its scheduling noise: each attack runs between two quiet phases and is judged against their mean p99 (the store grows through the run, and its inserts move the p99 with it: quiet_drift_p99_ratio is the last quiet phase against the first); the first target compares the two quiet phases around each attack, and where they are further apart than the 1.2× the attacks are allowed, this run cannot judge that attack (re-run on a quiet machine); the broker\'s CPU per phase is the attack\'s cost in a form that noise barely moves.',
    `Exactly once: after the last phase the gateway stops and waits for its PUBACKs, ingest drains, the broker stops, and the bench counts each acknowledged batch's rows in the warehouse: ${check.ackedReadings} readings acknowledged, ${check.lostReadings} missing, ${check.duplicateRows} duplicate rows, ${check.storedUnacked} stored whose PUBACK never arrived (allowed).`,
    unrefused.length === 0 ? 'Every attack phase was refused and counted by the broker.' : `No refusal counted in: ${unrefused.join(', ')} (a phase shorter than the 5 s CONNECT deadline cuts no idle or slowloris socket).`,
  ];
}

export const hostileScenario: Scenario = createHostileScenario(FULL, SMOKE);
