import { randomBytes } from 'node:crypto';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { createSeededRandom } from '@cityops/edge-agent';
import { generateCity, provisionGateways, summarizeLatencies, writeCredentialsFile, type GatewaySpec } from '@cityops/simulators';
import { startCityops, type CityopsProcess } from '../../../test-peers/cityops-process.ts';
import { createAlertProbes, type AlertSample } from '../alert-probe.ts';
import { processCpuSeconds } from '../process-cpu.ts';
import { bucketQuantileBound, histogramBuckets, metricValue, scrape } from '../prometheus-text.ts';
import { alertsCharts, withCharts } from '../charts/scenario-charts.ts';
import type { Scenario, ScenarioOptions } from '../scenario.ts';

const QUESTION =
  'How long from a gateway publishing a breaching reading until its alert is visible in GET /v1/alerts ' +
  '(p50/p99), while `cityops up` carries a city\'s background load from gateways in other processes?';

const RULE = 'bench_pm25_critical';
const INDICATOR = 'bench_pm25_max';
/** The probes' own district: no simulated gateway shares their grids. */
const PROBE_DISTRICT = 'bench';
/** Far above any simulated PM2.5 (the edge-agent's model peaks near 100, the direct publisher at 99). */
const WARNING = 900;
const CRITICAL = 950;
const POLL_MS = 10;

const SHIPPED_RULES = join(import.meta.dirname, '..', '..', '..', 'analytics', 'alerts', 'city-rules.json');
const SHIPPED_INDICATORS = join(import.meta.dirname, '..', '..', '..', 'analytics', 'indicators', 'city-indicators.json');
/** Shipped rules kept beside the bench rule: they watch every sensor on each tick and stay quiet in a healthy city. */
const TIME_DRIVEN_KINDS = new Set(['sensor_silent', 'gateway_offline', 'grid_quiet', 'pipeline_backlog']);

export interface AlertsScenarioOptions {
  /** Gateway agents `cityops up` runs in its own process, and their readings/s in all. */
  readonly upGateways: number;
  readonly upRate: number;
  /** Journal-less gateways `cityops simulate --mode direct` drives from a third process. */
  readonly simGateways: number;
  readonly simRate: number;
  /** Probes (samples); a full run fires at least this many, more when `--duration` asks for longer. */
  readonly probes: number;
  /** Random pause before each probe, uniform in [min, max] ms. */
  readonly spacingMs: readonly [number, number];
  /** Background load alone before the first probe. */
  readonly settleS: number;
}

const FULL: AlertsScenarioOptions = { upGateways: 64, upRate: 5_000, simGateways: 100, simRate: 30_000, probes: 150, spacingMs: [100, 200], settleS: 5 };
const SMOKE: AlertsScenarioOptions = { upGateways: 4, upRate: 200, simGateways: 4, simRate: 1_000, probes: 5, spacingMs: [100, 200], settleS: 1 };

/** Bench indicator and rules files: a 1-minute PM2.5 maximum per grid and a threshold rule with no hold time. */
async function writeDefinitions(dir: string): Promise<{ indicators: string; rules: string }> {
  const shippedIndicators = JSON.parse(await readFile(SHIPPED_INDICATORS, 'utf8')) as { indicators: unknown[] };
  const shippedRules = JSON.parse(await readFile(SHIPPED_RULES, 'utf8')) as { rules: { kind: string }[] };
  const indicators = join(dir, 'bench-indicators.json');
  const rules = join(dir, 'bench-rules.json');
  const indicator = {
    name: INDICATOR,
    title: 'PM2.5, highest in 1 minute (bench)',
    unit: 'µg/m³',
    metric: 'pm25',
    aggregation: 'max',
    window: '1m',
    levels: ['grid'],
    direction: 'above',
    thresholds: { default: { warning: WARNING, critical: CRITICAL } },
  };
  // `for: 0s`: what is measured is the pipeline, not a hold time.
  const rule = { name: RULE, title: 'PM2.5 spike in a grid (bench)', kind: 'threshold', indicator: INDICATOR, level: 'grid', severity: 'critical', for: '0s' };
  await writeFile(indicators, JSON.stringify({ indicators: [...shippedIndicators.indicators, indicator] }));
  await writeFile(rules, JSON.stringify({ rules: [rule, ...shippedRules.rules.filter((r) => TIME_DRIVEN_KINDS.has(r.kind))] }));
  return { indicators, rules };
}

/** One probe gateway per grid of the bench district, each with one PM2.5 sensor. */
function probeGateways(count: number): GatewaySpec[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(3, '0');
    return {
      id: `bench-probe-${n}`,
      place: { district: PROBE_DISTRICT, subdistrict: `${PROBE_DISTRICT}-s01`, grid: `g${n}`, building: '' },
      profile: 'environment',
      sensors: [{ id: 'pm25-probe', metric: 'pm25' }],
    };
  });
}

function labelled(text: string, sample: string): number {
  try {
    return metricValue(text, sample);
  } catch {
    return 0; // a labelled counter appears only once incremented
  }
}

/**
 * Sends warm readings until a round adds no `unknown_device` drop: the rule engine re-reads the
 * device registry (rate-limited) when telemetry from a device it does not know arrives, and drops
 * that telemetry, so a probe fired before would never raise its alert.
 */
async function untilRulesKnowDevices(analyticsUrl: string, warm: () => Promise<void>, log: (line: string) => void): Promise<void> {
  const sample = 'cityops_analytics_rule_drops_total{reason="unknown_device"}';
  const deadline = performance.now() + 60_000;
  for (let round = 1; ; round++) {
    const before = labelled(await scrape(`${analyticsUrl}/metrics`), sample);
    await warm();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const after = labelled(await scrape(`${analyticsUrl}/metrics`), sample);
    if (after === before) return;
    if (performance.now() > deadline) throw new Error(`the rule engine still drops telemetry of unknown devices after ${round} rounds`);
    log(`alerts: rule engine dropped ${after - before} readings of devices it does not know yet; warming again`);
  }
}

const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);

export function createAlertsScenario(full: AlertsScenarioOptions, smokeOptions: AlertsScenarioOptions): Scenario {
  return {
    name: 'alerts',
    question: QUESTION,
    async run({ durationS, smoke, workDir, log }: ScenarioOptions) {
      const o = smoke ? smokeOptions : full;
      const meanSpacingS = (o.spacingMs[0] + o.spacingMs[1]) / 2000;
      const probeCount = smoke ? o.probes : Math.max(o.probes, Math.round(durationS / meanSpacingS));
      const dataDir = join(workDir, 'city');
      await mkdir(dataDir, { recursive: true });
      const files = await writeDefinitions(workDir);
      const token = randomBytes(16).toString('hex');
      const up = await startCityops(
        [
          'up', '--data', dataDir, '--mqtt-port', '0', '--http-port', '0', '--verifier-port', '0', '--analytics-port', '0',
          '--gateways', String(o.upGateways), '--rate', String(o.upRate), '--admin-token', token,
          '--indicators', files.indicators, '--rules', files.rules, '--json',
        ],
        { timeoutMs: 120_000 },
      );
      let sim: CityopsProcess | undefined;
      try {
        const httpUrl = String(up.ready.httpUrl);
        const mqttUrl = String(up.ready.mqttUrl);
        const analyticsUrl = String(up.ready.analyticsUrl);
        const fleet = await provisionGateways(httpUrl, token, generateCity({ gateways: o.simGateways, seed: 11, idPrefix: 'sim-gw-' }).gateways);
        const probesDevices = await provisionGateways(httpUrl, token, probeGateways(probeCount));
        const credentials = join(workDir, 'sim-credentials.json');
        await writeCredentialsFile(credentials, fleet);
        log(`alerts: up with ${o.upGateways} agents at ${o.upRate}/s; simulate --mode direct ${o.simGateways} gateways at ${o.simRate}/s; ${probeCount} probes`);
        sim = await startCityops([
          'simulate', '--mode', 'direct', '--credentials', credentials, '--gateways', String(fleet.length), '--broker', mqttUrl,
          '--rate', String(o.simRate), '--batch', '100', '--inflight', '8',
        ]);
        const probes = await createAlertProbes({
          brokerUrl: mqttUrl,
          analyticsUrl,
          devices: probesDevices,
          rule: RULE,
          placePrefix: PROBE_DISTRICT,
          normalValue: 10,
          breachingValue: CRITICAL + 40,
          pollMs: POLL_MS,
          timeoutMs: 15_000,
        });
        try {
          await untilRulesKnowDevices(analyticsUrl, () => probes.warm(), log);
          await new Promise((resolve) => setTimeout(resolve, o.settleS * 1000));

          const ingest0 = await scrape(`${httpUrl}/metrics`);
          const analytics0 = await scrape(`${analyticsUrl}/metrics`);
          const cpu0 = { up: processCpuSeconds(up.child.pid!), sim: processCpuSeconds(sim.child.pid!) };
          const t0 = performance.now();
          const lags: number[] = [];
          const lagTimer = setInterval(() => {
            scrape(`${analyticsUrl}/metrics`).then(
              (text) => lags.push(metricValue(text, 'cityops_analytics_rule_stream_lag_seconds')),
              () => undefined,
            );
          }, 500);
          const random = createSeededRandom(17);
          const fired: Promise<AlertSample>[] = [];
          let samples: AlertSample[];
          try {
            for (let i = 0; i < probeCount; i++) {
              await new Promise((resolve) => setTimeout(resolve, o.spacingMs[0] + random() * (o.spacingMs[1] - o.spacingMs[0])));
              fired.push(probes.fire(i));
            }
            samples = await Promise.all(fired);
          } finally {
            clearInterval(lagTimer);
          }
          const seconds = (performance.now() - t0) / 1000;
          const cpu1 = { up: processCpuSeconds(up.child.pid!), sim: processCpuSeconds(sim.child.pid!) };
          const ingest1 = await scrape(`${httpUrl}/metrics`);
          const analytics1 = await scrape(`${analyticsUrl}/metrics`);
          const load = loadavg();
          const polls = probes.pollStats();

          const delta = (a: string, b: string, name: string) => labelled(b, name) - labelled(a, name);
          const rows = delta(ingest0, ingest1, 'cityops_ingest_warehouse_rows_written_total');
          const ruleReadings = delta(analytics0, analytics1, 'cityops_analytics_rule_readings_total');
          const visibleHist = histogramBuckets(analytics1, 'cityops_analytics_alert_visible_seconds');
          const visibleHist0 = histogramBuckets(analytics0, 'cityops_analytics_alert_visible_seconds');
          const histCount = delta(analytics0, analytics1, 'cityops_analytics_alert_visible_seconds_count');
          const histSum = delta(analytics0, analytics1, 'cityops_analytics_alert_visible_seconds_sum');

          const seen = samples.filter((s) => s.visibleMs !== undefined);
          const vis = summarizeLatencies(seen.map((s) => s.visibleMs!));
          const puback = summarizeLatencies(samples.flatMap((s) => (s.pubackMs === undefined ? [] : [s.pubackMs])));
          // Where the time goes: publish → the lifecycle starting to store the alert (stream, rules),
          // then → seen (the alert_events insert, the projection, and the poll's wait).
          const toOpened = summarizeLatencies(seen.map((s) => s.openedAt! - s.publishedAt));
          const openedToSeen = summarizeLatencies(seen.map((s) => s.seenAt! - s.openedAt!));
          const lag = summarizeLatencies(lags.map((l) => l * 1000));
          const missed = samples.length - seen.length;
          const figures = {
            alert_visible_p50_ms: round(vis.p50),
            alert_visible_p90_ms: round(vis.p90),
            alert_visible_p99_ms: round(vis.p99),
            alert_visible_max_ms: round(vis.max),
            samples: vis.count,
            missed,
            poll_interval_ms: POLL_MS,
            poll_period_mean_ms: round(polls.meanPeriodMs, 1),
            publish_to_opened_p50_ms: round(toOpened.p50),
            publish_to_opened_p99_ms: round(toOpened.p99),
            opened_to_seen_p50_ms: round(openedToSeen.p50),
            opened_to_seen_p99_ms: round(openedToSeen.p99),
            probe_puback_p50_ms: round(puback.p50),
            probe_puback_p99_ms: round(puback.p99),
            analytics_visible_count: histCount,
            analytics_visible_mean_ms: histCount > 0 ? round((histSum / histCount) * 1000) : -1,
            analytics_visible_p99_le_ms: round(bucketQuantileBound(visibleHist0, visibleHist, 0.99) * 1000),
            rule_stream_lag_p50_ms: round(lag.p50),
            rule_stream_lag_max_ms: round(lag.max),
            background_offered_readings_per_second: o.upRate + o.simRate,
            background_readings_per_second: Math.round(rows / seconds),
            rule_readings_per_second: Math.round(ruleReadings / seconds),
            up_cpu_cores: round((cpu1.up - cpu0.up) / seconds, 2),
            simulator_cpu_cores: round((cpu1.sim - cpu0.sim) / seconds, 2),
            load_average_1m: round(load[0]!, 1),
          };
          log(`alerts: ${vis.count} samples, p50 ${figures.alert_visible_p50_ms} ms, p99 ${figures.alert_visible_p99_ms} ms, ${missed} missed`);
          return withCharts(alertsCharts, {
            scenario: 'alerts',
            question: QUESTION,
            figures,
            targets: [{ name: 'publish -> alert visible p99', target: '< 1000 ms, none missed', met: vis.p99 < 1000 && missed === 0 && vis.count > 0 }],
            notes: [
              `\`cityops up\` (broker, ingest, warehouse, verifier, analytics with the rule engine and the alert lifecycle, ${o.upGateways} gateway agents at ${o.upRate} readings/s, 8 scanners) in one process; \`cityops simulate --mode direct\` (${o.simGateways} gateways, ${o.simRate} readings/s offered) in a second; the probes and the poller in the bench process. All share ${availableParallelism()} cores; load average at the end ${load.map((l) => l.toFixed(1)).join(' ')} (other load stretches the tails).`,
              `Rules: ${RULE} (threshold on ${INDICATOR}, the 1-minute PM2.5 maximum per grid, critical at ${CRITICAL}, for 0s) plus the shipped sensor_silent, gateway_offline, grid_quiet and pipeline_backlog rules, whose tick watches every sensor; the shipped value rules are left out because the direct publisher's values (0–99 for every metric) would keep them raising alerts.`,
              `Each of ${probeCount} probe gateways (own grid under ${PROBE_DISTRICT}/, provisioned through the admin API, warmed with a normal reading until the rule engine knows it) publishes one reading of ${CRITICAL + 40} with QoS 1 after a random ${o.spacingMs[0]}–${o.spacingMs[1]} ms pause; probes overlap. One poller asks GET /v1/alerts?rule=${RULE}&place=${PROBE_DISTRICT} every ${POLL_MS} ms (mean period with the request: ${round(polls.meanPeriodMs, 1)} ms, the resolution) for all probes in flight, so the API load does not grow with the overlap.`,
              'publish_to_opened: the reading\'s time to the alert\'s openedAt (the lifecycle\'s clock before it inserts the events): broker, ingest, forwarding, rules. opened_to_seen: the alert_events insert, the projection and the poll\'s wait. analytics_visible_*: the service\'s own cityops_analytics_alert_visible_seconds over the window (reading time to stored; a bucket bound for p99).',
            ],
          });
        } finally {
          await probes.close();
        }
      } finally {
        await sim?.stop();
        await up.stop();
      }
    },
  };
}

export const alertsScenario: Scenario = createAlertsScenario(FULL, SMOKE);
