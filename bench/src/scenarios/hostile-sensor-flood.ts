import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCity, provisionGateways, writeCredentialsFile } from '@cityops/simulators';
import { openWarehouse } from '@cityops/warehouse';
import { startCityops } from '../../../test-peers/cityops-process.ts';
import { checkAcknowledged, type AckCheck } from '../ack-check.ts';
import { PUBACK_SLOT_MS as P99_RESOLUTION_MS } from '../acked-publisher.ts';
import { HOSTILE_RATIO_TARGET, HOSTILE_RSS_GROWTH_TARGET_MIB } from '../charts/hostile-charts.ts';
import { startAttacker, type Attacker } from '../hostile-attack-client.ts';
import type { AttackSpec } from '../hostile-attack-messages.ts';
import { untilDrained } from '../ingest-drained.ts';
import { processCpuSeconds } from '../process-cpu.ts';
import { processMemoryMiB, sampleRss } from '../process-memory.ts';
import { metricByLabel, metricOrZero, scrape } from '../prometheus-text.ts';
import type { ScenarioResult } from '../scenario.ts';
import { startSoakLoad, type SoakLoad } from '../soak-load-client.ts';

export interface SensorFloodOptions {
  /** The legitimate gateway, as in the broker phases. */
  readonly batchesPerSecond: number;
  readonly batch: number;
  readonly inflight: number;
  readonly warmupS: number;
  /** The attacker's batches (each `batch` readings, each reading a new sensor id), spread over one phase. */
  readonly floodBatches: number;
  readonly floodInflight: number;
  /** The rules' sensor_silent `after` in this run (the shipped 2 min would need a 2-min phase). */
  readonly silenceAfterS: number;
}

/** Issue 17's targets: at most a few alerts on the board after a flood's silence; a stop within the CLI's default deadline. */
export const FLOOD_LIVE_ALERTS_TARGET = 5;
const STOP_TARGET_S = 10;

const CITY_RULES = fileURLToPath(new URL('../../../analytics/alerts/city-rules.json', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);

const PHASES = [
  { key: 'city_quiet', label: 'quiet (city baseline)' },
  { key: 'sensor_flood', label: 'sensor flood' },
  { key: 'after_flood', label: 'silence after the flood' },
] as const;
type FloodPhaseKey = (typeof PHASES)[number]['key'];

interface Urls {
  readonly ingest: string;
  readonly analytics: string;
}

/** Ingest's and analytics' counters at an instant (a phase's are differences, the gauges as they are). */
async function snapshot(urls: Urls) {
  const [ingest, analytics] = await Promise.all([scrape(`${urls.ingest}/metrics`), scrape(`${urls.analytics}/metrics`)]);
  const alerts = metricByLabel(analytics, 'cityops_analytics_alerts', 'state');
  return {
    accepted: metricOrZero(ingest, 'cityops_ingest_readings_total'),
    deadLetters: metricByLabel(ingest, 'cityops_ingest_dead_letters_total', 'reason'),
    /** Readings (not batches) refused by the devices' sensor sets, by reason. */
    sensorRefusals: [...metricByLabel(ingest, 'cityops_ingest_sensor_refusals_total', 'reason').values()].reduce((n, v) => n + v, 0),
    conditions: metricOrZero(analytics, 'cityops_analytics_rule_conditions_active'),
    unknownDrops: metricOrZero(analytics, 'cityops_analytics_rule_drops_total{reason="unknown_device"}'),
    opened: metricOrZero(analytics, 'cityops_analytics_alert_transitions_total{type="opened"}'),
    // On the board: every alert not closed (suppressed ones included: they are listed, under their parent).
    live: [...alerts].reduce((n, [state, v]) => (state === 'closed' ? n : n + v), 0),
  };
}

interface Run {
  readonly cityPid: number;
  readonly urls: Urls;
  readonly load: SoakLoad;
  readonly attacker: Attacker;
}

async function phase(key: FloodPhaseKey, phaseS: number, run: Run, attack?: AttackSpec) {
  const before = await snapshot(run.urls);
  const acked0 = (await run.load.sample()).stats.acked;
  const cpu0 = processCpuSeconds(run.cityPid);
  const rss0 = processMemoryMiB(run.cityPid).rss;
  const rss = sampleRss(run.cityPid, 100);
  const t0 = performance.now();
  if (attack !== undefined) await run.attacker.start(attack);
  await sleep(t0 + phaseS * 1000 - performance.now());
  const end = await run.load.sample();
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = processCpuSeconds(run.cityPid);
  const memory = rss.stop();
  const after = await snapshot(run.urls);
  const refused = [...after.deadLetters].map(([reason, n]) => [reason, n - (before.deadLetters.get(reason) ?? 0)] as const).filter(([, n]) => n > 0);
  const figures: Record<string, number> = {
    acked_batches_per_second: round((end.stats.acked - acked0) / seconds, 1),
    puback_p50_ms: round(end.puback.p50, 1),
    puback_p99_ms: round(end.puback.p99, 1),
    city_rss_start_mib: round(rss0, 1),
    city_rss_max_mib: round(memory.maxMiB, 1),
    city_rss_end_mib: round(processMemoryMiB(run.cityPid).rss, 1),
    city_cpu_cores: round((cpu1 - cpu0) / seconds, 2),
    readings_accepted: after.accepted - before.accepted,
    dead_letters: refused.reduce((n, [, v]) => n + v, 0),
    readings_refused: after.sensorRefusals - before.sensorRefusals,
    // Since the city started (phases' differences miss what lands between one's end and the next's start).
    readings_refused_since_start: after.sensorRefusals,
    rule_conditions_active: after.conditions,
    rule_drops_unknown_device: after.unknownDrops - before.unknownDrops,
    alerts_opened: after.opened - before.opened,
    alerts_live: after.live,
  };
  for (const [reason, n] of refused) figures[`dead_letters_${reason}`] = n;
  return { key, figures, refused };
}

/**
 * The sensor flood (issue 17) against `cityops up` (broker, ingest, analytics' rules and alert board
 * in one process), in a run of its own after the broker phases: those measure `cityops ingest`
 * alone, and the rule engine beside it would move their baselines. Its own quiet baseline first, the
 * same legitimate gateway, then the flood, then the silence that follows it.
 */
export async function runSensorFlood(o: SensorFloodOptions, phaseS: number, workDir: string, log: (line: string) => void): Promise<Pick<ScenarioResult, 'figures' | 'targets' | 'notes' | 'tables'>> {
  const dataDir = join(workDir, 'city');
  await mkdir(dataDir, { recursive: true });
  const rules = JSON.parse(await readFile(CITY_RULES, 'utf8')) as { rules: { kind: string; after?: string }[] };
  for (const r of rules.rules) if (r.kind === 'sensor_silent') r.after = `${o.silenceAfterS}s`;
  const rulesPath = join(workDir, 'city-rules.json');
  await writeFile(rulesPath, JSON.stringify(rules));
  const token = randomBytes(16).toString('hex');
  const city = await startCityops(
    ['up', '--data', dataDir, '--mqtt-port', '0', '--http-port', '0', '--verifier-port', '0', '--analytics-port', '0', '--gateways', '0', '--scanners', '0', '--rules', rulesPath, '--admin-token', token, '--json'],
    { timeoutMs: 180_000 },
  );
  let load: SoakLoad | undefined;
  let attacker: Attacker | undefined;
  try {
    const urls = { ingest: String(city.ready.httpUrl), analytics: String(city.ready.analyticsUrl) };
    // Both provisioned before the first telemetry: the rule engine's directory reads them together.
    const [legit, hostile] = await provisionGateways(urls.ingest, token, generateCity({ gateways: 2, seed: 17, idPrefix: 'hostile-city-gw-' }).gateways);
    const credentials = join(workDir, 'city-gateway-credentials.json');
    await writeCredentialsFile(credentials, [legit!]);
    [load, attacker] = await Promise.all([
      startSoakLoad({ brokerUrl: String(city.ready.mqttUrl), credentials, batch: o.batch, inflight: o.inflight }),
      startAttacker({ host: '127.0.0.1', port: Number(city.ready.mqttPort) }),
    ]);
    const run: Run = { cityPid: city.child.pid!, urls, load, attacker };
    load.setRate(o.batchesPerSecond * o.batch);
    log(`hostile: city warm-up, ${o.warmupS} s at ${o.batchesPerSecond} batches/s`);
    await sleep(o.warmupS * 1000);
    const flood: AttackSpec = { kind: 'sensor_flood', device: { id: hostile!.id, secret: hostile!.secret }, batches: o.floodBatches, readingsPerBatch: o.batch, batchesPerSecond: o.floodBatches / phaseS, inflight: o.floodInflight };
    const phases = [];
    for (const { key, label } of PHASES) {
      log(`hostile: ${label} for ${phaseS} s`);
      phases.push(await phase(key, phaseS, run, key === 'sensor_flood' ? flood : undefined));
    }
    // The flooding device stayed connected and silent through the last phase; now it goes.
    const attack = await attacker.stop();
    const ledger = await load.finish();
    await untilDrained(urls.ingest, 0, 60_000);
    const t0 = performance.now();
    const exitCode = await city.stop(60_000);
    const stopS = (performance.now() - t0) / 1000;
    const warehouse = await openWarehouse({ backend: 'chdb', path: join(dataDir, 'warehouse') });
    let check: AckCheck;
    let floodStored: number;
    try {
      check = await checkAcknowledged(warehouse, ledger.devices, o.batch);
      const [row] = await warehouse.query<{ n: number | string }>('SELECT count() AS n FROM readings WHERE device = {d:String}', { d: hostile!.id });
      floodStored = Number(row?.n ?? 0);
    } finally {
      await warehouse.close();
    }
    return summarize(phases, { attack: { published: attack.batchesPublished ?? 0, acked: attack.batchesAcked ?? 0, sensorIds: attack.sensorIds ?? 0 }, floodStored, check, stopS, exitCode }, o, phaseS);
  } finally {
    await attacker?.close();
    await load?.close();
    await city.stop();
  }
}

interface Outcome {
  readonly attack: { readonly published: number; readonly acked: number; readonly sensorIds: number };
  readonly floodStored: number;
  readonly check: AckCheck;
  readonly stopS: number;
  readonly exitCode: number | null;
}

function summarize(phases: readonly Awaited<ReturnType<typeof phase>>[], out: Outcome, o: SensorFloodOptions, phaseS: number): Pick<ScenarioResult, 'figures' | 'targets' | 'notes' | 'tables'> {
  const quiet = phases[0]!.figures;
  const [flood, silence] = [phases[1]!.figures, phases[2]!.figures];
  const figures: Record<string, number> = {
    flood_batches_published: out.attack.published,
    flood_batches_acked: out.attack.acked,
    flood_sensor_ids: out.attack.sensorIds,
    flood_readings_stored: out.floodStored,
    // Only the attacker's readings are refused in this run, and its flood is over before the silence ends.
    flood_readings_refused: silence.readings_refused_since_start!,
    flood_batches_dead_lettered: flood.dead_letters! + silence.dead_letters!,
    flood_live_alerts_after_silence: silence.alerts_live!,
    flood_city_rss_growth_mib: round(Math.max(flood.city_rss_max_mib!, silence.city_rss_max_mib!) - quiet.city_rss_max_mib!, 1),
    flood_city_stop_s: round(out.stopS, 1),
    flood_city_exit_code: out.exitCode ?? -1,
    flood_gateway_acked_readings: out.check.ackedReadings,
    flood_gateway_lost_readings: out.check.lostReadings,
    flood_gateway_duplicate_rows: out.check.duplicateRows,
  };
  for (const p of phases) {
    for (const [name, value] of Object.entries(p.figures)) figures[`${p.key}_${name}`] = value;
    figures[`${p.key}_p99_to_quiet`] = round(p.figures.puback_p99_ms! / quiet.puback_p99_ms!, 2);
    figures[`${p.key}_rate_to_quiet`] = round(p.figures.acked_batches_per_second! / quiet.acked_batches_per_second!, 3);
  }
  const label = (key: FloodPhaseKey) => PHASES.find((p) => p.key === key)!.label;
  const reasons = (p: (typeof phases)[number]) => (p.refused.length === 0 ? '0' : p.refused.map(([r, n]) => `${n} ${r}`).join(', '));
  return {
    figures,
    targets: [
      ...phases.slice(1).map((p) => ({
        name: `${label(p.key)}: gateway PUBACK p99 and acknowledged rate against the city's quiet baseline`,
        target: `p99 ≤ ${HOSTILE_RATIO_TARGET} × quiet (or quiet + ${P99_RESOLUTION_MS} ms), rate ≥ quiet / ${HOSTILE_RATIO_TARGET}`,
        met: p.figures.puback_p99_ms! <= Math.max(HOSTILE_RATIO_TARGET * quiet.puback_p99_ms!, quiet.puback_p99_ms! + P99_RESOLUTION_MS) && figures[`${p.key}_rate_to_quiet`]! >= 1 / HOSTILE_RATIO_TARGET,
      })),
      { name: "sensor flood: the city's RSS (analytics in it) above its quiet baseline, through the flood and its silence", target: `< ${HOSTILE_RSS_GROWTH_TARGET_MIB} MiB`, met: figures.flood_city_rss_growth_mib! < HOSTILE_RSS_GROWTH_TARGET_MIB },
      {
        name: "sensor flood: every reading of the flood stored (within the device's sensor set) or refused and counted (cityops_ingest_sensor_refusals_total)",
        target: `stored + refused = ${figures.flood_sensor_ids!.toLocaleString('en')}, stored ≤ the cap`,
        met: figures.flood_readings_stored! + figures.flood_readings_refused! === figures.flood_sensor_ids! && figures.flood_readings_stored! < figures.flood_sensor_ids,
      },
      { name: 'sensor flood: alerts on the board after the silence (not closed)', target: `≤ ${FLOOD_LIVE_ALERTS_TARGET}`, met: figures.flood_live_alerts_after_silence! <= FLOOD_LIVE_ALERTS_TARGET },
      { name: 'sensor flood: `cityops up` stopped by SIGTERM after the storm', target: `exit 0 within ${STOP_TARGET_S} s`, met: out.exitCode === 0 && out.stopS <= STOP_TARGET_S },
      { name: "sensor flood run: the gateway's acknowledged readings in the warehouse exactly once", target: '0 lost, 0 duplicated', met: out.check.ackedReadings > 0 && out.check.lostReadings === 0 && out.check.duplicateRows === 0 },
    ],
    notes: [
      `Sensor flood (issue 17), a run of its own after the broker phases: \`cityops up\` (broker, ingest, the rule engine and the alert board in one process, embedded chDB, WAL fsync on; no simulated gateways or scanners), because the flood's cost lands in the rule engine and on the board, which \`cityops ingest\` does not have; the broker phases keep \`cityops ingest\` alone so the rule engine's work does not move their baselines. The same legitimate gateway (${o.batchesPerSecond} batches/s of ${o.batch}) and its own quiet baseline of ${phaseS} s; then a provisioned attacker gateway (the attacker process, nice 10) publishes ${o.floodBatches.toLocaleString('en')} QoS 1 batches of ${o.batch} readings, every reading a new sensor id (${(o.floodBatches * o.batch).toLocaleString('en')} ids), paced over the ${phaseS} s phase (at most ${o.floodInflight} in flight), and then stays connected and silent for a phase of ${phaseS} s, with the rules' sensor_silent after ${o.silenceAfterS} s (the shipped 2 min, shortened so the silence falls within the phase).`,
      `Per phase: the gateway's rate and PUBACK p99; the city process' VmRSS every 100 ms (analytics runs in it) and CPU; ingest's readings accepted, readings refused by the sensor sets (cityops_ingest_sensor_refusals_total) and dead letters (batches) by reason (cityops_ingest_dead_letters_total); analytics' active rule conditions (cityops_analytics_rule_conditions_active), alerts opened and alerts on the board (cityops_analytics_alerts, every state but closed) at the phase's end. Refused in the flood: ${reasons(phases[1]!)}; in the silence: ${reasons(phases[2]!)}. Flood readings stored: ${out.floodStored.toLocaleString('en')} of ${(out.attack.acked * o.batch).toLocaleString('en')} acknowledged. Then SIGTERM: the city stopped in ${out.stopS.toFixed(1)} s, exit ${String(out.exitCode)}.`,
    ],
    tables: [
      {
        title: 'Sensor flood against `cityops up` (its own run and quiet baseline)',
        columns: ['phase', 'gateway batches/s', 'PUBACK p50 ms', 'PUBACK p99 ms', 'p99 / quiet', 'rate / quiet', 'city RSS max MiB', 'city RSS end MiB', 'city CPU cores', 'readings accepted', 'readings refused', 'refused batches (dead letters)', 'rule conditions active', 'alerts opened', 'alerts on the board'],
        rows: phases.map((p) => {
          const f = p.figures;
          return [label(p.key), f.acked_batches_per_second!, f.puback_p50_ms!, f.puback_p99_ms!, figures[`${p.key}_p99_to_quiet`]!, figures[`${p.key}_rate_to_quiet`]!, f.city_rss_max_mib!, f.city_rss_end_mib!, f.city_cpu_cores!, f.readings_accepted!, f.readings_refused!, reasons(p), f.rule_conditions_active!, f.alerts_opened!, f.alerts_live!];
        }),
      },
    ],
  };
}
