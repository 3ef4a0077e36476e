import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { generateCity, provisionGateways, summarizeLatencies, writeCredentialsFile } from '@cityops/simulators';
import { startCityops, type CityopsProcess } from '../../../test-peers/cityops-process.ts';
import { checkAcknowledgedInStore } from '../ack-check.ts';
import { leastSquaresSlope } from '../least-squares.ts';
import { processMemoryMiB } from '../process-memory.ts';
import { untilDrained } from '../ingest-drained.ts';
import { bucketQuantileBound, histogramBuckets, metricOrZero as sampleOf, scrape } from '../prometheus-text.ts';
import type { ReportTable, Scenario, ScenarioOptions, ScenarioResult } from '../scenario.ts';
import { soakCharts, withCharts } from '../charts/scenario-charts.ts';
import { startSoakLoad, type SoakLoad } from '../soak-load-client.ts';
import { createVisibilityProbe } from '../visibility-probe.ts';

const QUESTION =
  'Run for a long time at half its measured capacity, does the whole city (`cityops up`: broker, ingest, warehouse, ' +
  'verifier, analytics with rules and alerts, gateway agents, scanners) keep its throughput and latencies, ' +
  'keep its memory flat, and store every acknowledged reading exactly once?';

const SHIPPED_RULES = join(import.meta.dirname, '..', '..', '..', 'analytics', 'alerts', 'city-rules.json');
/** Shipped rules that watch every sensor on each tick and stay quiet in a healthy city (as in the alerts scenario). */
const TIME_DRIVEN_KINDS = new Set(['sensor_silent', 'gateway_offline', 'grid_quiet', 'pipeline_backlog']);
const MIB = 2 ** 20;

export interface SoakOptions {
  /** Gateway agents and venue scanners `cityops up` runs in its own process. */
  readonly upGateways: number;
  readonly upRate: number;
  readonly scanners: number;
  readonly scanRate: number;
  /** Gateways of the load process, their batch size and QoS 1 window. */
  readonly loadGateways: number;
  readonly batch: number;
  readonly inflight: number;
  /** Capacity probe: readings/s offered (beyond what the city takes), its length, and the measured tail of it. */
  readonly probeOffered: number;
  readonly probeS: number;
  readonly probeMeasureS: number;
  /** Seconds between samples, and between publish → queryable probes. */
  readonly sampleEveryS: number;
  readonly visibleEveryMs: number;
  /** Smoke runs use this length whatever --duration says. */
  readonly smokeDurationS?: number;
}

const FULL: SoakOptions = {
  upGateways: 64, upRate: 5_000, scanners: 8, scanRate: 10, loadGateways: 100, batch: 100, inflight: 8,
  probeOffered: 400_000, probeS: 20, probeMeasureS: 15, sampleEveryS: 5, visibleEveryMs: 1_000,
};
const SMOKE: SoakOptions = {
  upGateways: 4, upRate: 200, scanners: 2, scanRate: 5, loadGateways: 4, batch: 100, inflight: 8,
  probeOffered: 20_000, probeS: 3, probeMeasureS: 2, sampleEveryS: 1, visibleEveryMs: 200, smokeDurationS: 12,
};

const TARGET_SLOPE_MIB_PER_HOUR = 50;
const TARGET_RSS_MIB = 1024;
const TARGET_KEPT_UP = 0.95;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);

async function writeRules(dir: string): Promise<string> {
  const shipped = JSON.parse(await readFile(SHIPPED_RULES, 'utf8')) as { rules: { kind: string }[] };
  const path = join(dir, 'soak-rules.json');
  // The shipped value rules are left out: the load's values (0–99 for every metric) would keep them raising alerts.
  await writeFile(path, JSON.stringify({ rules: shipped.rules.filter((r) => TIME_DRIVEN_KINDS.has(r.kind)) }));
  return path;
}

/** One row of the time series; every value a number so the JSON carries them all. */
type Sample = Record<string, number>;

interface Probe {
  readonly samples: { at: number; ms: number }[];
  stop(): Promise<{ unseen: number }>;
}

/** publish → queryable, one probe reading at a time, every `everyMs`, until stopped. */
function runVisibilityProbe(measure: () => Promise<number>, everyMs: number, t0: number): Probe {
  const samples: { at: number; ms: number }[] = [];
  let running = true;
  let current: Promise<number> | undefined;
  const loop = (async () => {
    while (running) {
      current = measure();
      const ms = await current;
      samples.push({ at: (performance.now() - t0) / 1000, ms });
      await sleep(everyMs);
    }
  })();
  loop.catch(() => undefined);
  return {
    samples,
    async stop() {
      running = false;
      const finished = await Promise.race([loop.then(() => true, () => true), sleep(15_000).then(() => false)]);
      return { unseen: finished ? 0 : 1 };
    },
  };
}

function slopePerHour(samples: readonly Sample[], key: string, fromS: number): number {
  const points = samples.filter((s) => s.t_s! >= fromS && Number.isFinite(s[key]) && s[key]! >= 0).map((s) => ({ x: s.t_s! / 3600, y: s[key]! }));
  return leastSquaresSlope(points);
}

function meanOf(samples: readonly Sample[], key: string, fromS: number, toS: number): number {
  const values = samples.filter((s) => s.t_s! >= fromS && s.t_s! < toS && s[key]! >= 0).map((s) => s[key]!);
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

const TABLE_COLUMNS: readonly [string, string][] = [
  ['t_s', 't s'],
  ['ingested_per_s', 'ingested/s'],
  ['load_acked_per_s', 'load acked/s'],
  ['verifications_per_s', 'verif./s'],
  ['puback_p99_ms', 'PUBACK p99 ms'],
  ['visible_p99_ms', 'queryable p99 ms'],
  ['ingest_lag_s', 'ingest lag s'],
  ['city_rss_mib', 'city RSS MiB'],
  ['city_heap_mib', 'city heap MiB'],
  ['engine_tracked_mib', 'chDB tracked MiB'],
  ['load_rss_mib', 'load RSS MiB'],
  ['bench_rss_mib', 'bench RSS MiB'],
  ['load_1m', 'load avg'],
];

/** Every n-th sample (and the last) as a Markdown table: ~30 rows whatever the length of the run. */
function compactTable(samples: readonly Sample[], sampleEveryS: number): ReportTable {
  const every = Math.max(1, Math.round(samples.length / 30));
  const picked = samples.filter((_, i) => i % every === 0 || i === samples.length - 1);
  return {
    title: `soak time series (every ${every * sampleEveryS} s; the JSON has every ${sampleEveryS} s sample)`,
    columns: TABLE_COLUMNS.map(([, title]) => title),
    rows: picked.map((s) => TABLE_COLUMNS.map(([key]) => s[key] ?? -1)),
  };
}

export function createSoakScenario(full: SoakOptions, smokeOptions: SoakOptions): Scenario {
  return {
    name: 'soak',
    question: QUESTION,
    defaultDurationS: 1800,
    onlyWhenNamed: true,
    async run({ durationS: askedS, smoke, workDir, log }: ScenarioOptions): Promise<ScenarioResult> {
      const o = smoke ? smokeOptions : full;
      const durationS = smoke ? (o.smokeDurationS ?? askedS) : askedS;
      const dataDir = join(workDir, 'city');
      await mkdir(dataDir, { recursive: true });
      const rules = await writeRules(workDir);
      const token = randomBytes(16).toString('hex');
      const up: CityopsProcess = await startCityops(
        [
          'up', '--data', dataDir, '--mqtt-port', '0', '--http-port', '0', '--verifier-port', '0', '--analytics-port', '0',
          '--gateways', String(o.upGateways), '--rate', String(o.upRate), '--scanners', String(o.scanners), '--scan-rate', String(o.scanRate),
          '--admin-token', token, '--rules', rules, '--json',
        ],
        { timeoutMs: 120_000 },
      );
      const upPid = up.child.pid!;
      let load: SoakLoad | undefined;
      let probeStop: (() => Promise<unknown>) | undefined;
      try {
        const httpUrl = String(up.ready.httpUrl);
        const mqttUrl = String(up.ready.mqttUrl);
        const verifierUrl = String(up.ready.verifierUrl);
        const analyticsUrl = String(up.ready.analyticsUrl);
        const city = generateCity({ gateways: o.loadGateways + 1, seed: 23, idPrefix: 'soak-gw-' });
        const [probeDevice, ...fleet] = await provisionGateways(httpUrl, token, city.gateways);
        const credentials = join(workDir, 'soak-credentials.json');
        await writeCredentialsFile(credentials, fleet);
        load = await startSoakLoad({ brokerUrl: mqttUrl, credentials, batch: o.batch, inflight: o.inflight });
        const rssBeforeProbe = processMemoryMiB(upPid).rss * MIB;

        // Capacity probe: offer more than the city can take, count what reaches the warehouse over the tail.
        log(`soak: capacity probe, ${o.probeOffered} readings/s offered for ${o.probeS} s on top of ${o.upGateways} agents at ${o.upRate}/s`);
        load.setRate(o.probeOffered);
        await sleep((o.probeS - o.probeMeasureS) * 1000);
        const p0 = { rows: sampleOf(await scrape(`${httpUrl}/metrics`), 'cityops_ingest_warehouse_rows_written_total'), t: performance.now() };
        await sleep(o.probeMeasureS * 1000);
        const p1 = { rows: sampleOf(await scrape(`${httpUrl}/metrics`), 'cityops_ingest_warehouse_rows_written_total'), t: performance.now() };
        load.setRate(0);
        const capacity = (p1.rows - p0.rows) / ((p1.t - p0.t) / 1000);
        if (!(capacity > 0)) throw new Error('soak: the capacity probe saw no rows written');
        const drainS = await untilDrained(httpUrl, Math.max(1_000, o.upRate * 2), smoke ? 20_000 : 180_000);
        const rssAfterProbe = processMemoryMiB(upPid).rss * MIB;
        // Half of what the whole city wrote, the agents' share included; the load makes up the rest.
        const offered = Math.max(o.batch * 10, Math.round((capacity / 2 - o.upRate) / 1000) * 1000);
        log(`soak: capacity ${Math.round(capacity)} readings/s (drained in ${drainS.toFixed(1)} s); offering ${offered}/s from the load plus ${o.upRate}/s from the agents for ${durationS} s`);

        const probe = await createVisibilityProbe(mqttUrl, httpUrl, probeDevice!);
        probeStop = () => probe.close();
        load.setRate(offered);
        const t0 = performance.now();
        const visible = runVisibilityProbe(() => probe.measure(), o.visibleEveryMs, t0);
        const samples: Sample[] = [];
        const first = { ingest: await scrape(`${httpUrl}/metrics`), verifier: await scrape(`${verifierUrl}/metrics`), analytics: await scrape(`${analyticsUrl}/metrics`) };
        let prev = { t: 0, rows: sampleOf(first.ingest, 'cityops_ingest_warehouse_rows_written_total'), verdicts: sampleOf(first.verifier, 'cityops_verifier_verdicts_total'), acked: (await load.sample()).stats.readingsAcked, verifyBuckets: histogramBuckets(first.verifier, 'cityops_verifier_verify_seconds') };
        let visibleSeen = 0;
        for (let i = 1; i * o.sampleEveryS <= durationS; i++) {
          const wait = t0 + i * o.sampleEveryS * 1000 - performance.now();
          if (wait > 0) await sleep(wait);
          const [ingestText, verifierText, loadSample] = await Promise.all([scrape(`${httpUrl}/metrics`), scrape(`${verifierUrl}/metrics`), load.sample()]);
          const t = (performance.now() - t0) / 1000;
          const dt = t - prev.t;
          const rows = sampleOf(ingestText, 'cityops_ingest_warehouse_rows_written_total');
          const verdicts = sampleOf(verifierText, 'cityops_verifier_verdicts_total');
          const verifyBuckets = histogramBuckets(verifierText, 'cityops_verifier_verify_seconds');
          const vis = summarizeLatencies(visible.samples.slice(visibleSeen).map((s) => s.ms));
          visibleSeen = visible.samples.length;
          const bench = process.memoryUsage();
          samples.push({
            t_s: round(t, 1),
            ingested_per_s: Math.round((rows - prev.rows) / dt),
            load_acked_per_s: Math.round((loadSample.stats.readingsAcked - prev.acked) / dt),
            verifications_per_s: round((verdicts - prev.verdicts) / dt, 1),
            puback_p50_ms: round(loadSample.puback.p50),
            puback_p99_ms: round(loadSample.puback.p99),
            visible_p99_ms: round(vis.p99),
            verify_p99_le_ms: round(bucketQuantileBound(prev.verifyBuckets, verifyBuckets, 0.99) * 1000, 1),
            buffered_rows: sampleOf(ingestText, 'cityops_ingest_buffered_rows'),
            ingest_lag_s: round(sampleOf(ingestText, 'cityops_ingest_lag_seconds'), 2),
            // One process: ingest's default metrics are the process's heap (the verifier's and analytics' say the same).
            city_rss_mib: round(processMemoryMiB(upPid).rss, 1),
            city_heap_mib: round(sampleOf(ingestText, 'cityops_ingest_nodejs_heap_size_used_bytes') / MIB, 1),
            city_external_mib: round(sampleOf(ingestText, 'cityops_ingest_nodejs_external_memory_bytes') / MIB, 1),
            // chDB's own account (its caches are part of what it tracks): the engine's share of the city RSS.
            engine_tracked_mib: round(sampleOf(ingestText, 'cityops_warehouse_engine_memory_bytes{kind="tracked"}') / MIB, 1),
            engine_mark_cache_mib: round(sampleOf(ingestText, 'cityops_warehouse_engine_memory_bytes{kind="mark_cache"}') / MIB, 1),
            engine_primary_index_cache_mib: round(sampleOf(ingestText, 'cityops_warehouse_engine_memory_bytes{kind="primary_index_cache"}') / MIB, 1),
            load_rss_mib: round(loadSample.rssBytes / MIB, 1),
            load_heap_mib: round(loadSample.heapUsedBytes / MIB, 1),
            bench_rss_mib: round(bench.rss / MIB, 1),
            bench_heap_mib: round(bench.heapUsed / MIB, 1),
            load_1m: round(loadavg()[0]!, 2),
          });
          prev = { t, rows, verdicts, acked: loadSample.stats.readingsAcked, verifyBuckets };
        }
        const soakS = (performance.now() - t0) / 1000;
        const { unseen } = await visible.stop();
        const endIngest = await scrape(`${httpUrl}/metrics`);
        const endVerifier = await scrape(`${verifierUrl}/metrics`);
        const endAnalytics = await scrape(`${analyticsUrl}/metrics`);
        const rowsSoak = sampleOf(endIngest, 'cityops_ingest_warehouse_rows_written_total') - sampleOf(first.ingest, 'cityops_ingest_warehouse_rows_written_total');
        const verdictsSoak = sampleOf(endVerifier, 'cityops_verifier_verdicts_total') - sampleOf(first.verifier, 'cityops_verifier_verdicts_total');
        const verifyP99 = bucketQuantileBound(histogramBuckets(first.verifier, 'cityops_verifier_verify_seconds'), histogramBuckets(endVerifier, 'cityops_verifier_verify_seconds'), 0.99);
        const loadAvg = loadavg();

        log('soak: stopping the load and collecting its ledger of PUBACKs');
        const ledger = await load.finish();
        const drainEndS = await untilDrained(httpUrl, 0, 60_000);
        await probe.close();
        probeStop = undefined;
        await up.stop();
        const check = await checkAcknowledgedInStore(join(dataDir, 'warehouse'), ledger.devices, o.batch);

        const half = durationS / 2;
        const series = (key: string) => samples.map((s) => s[key]!).filter((v) => v >= 0);
        const max = (key: string) => Math.max(...series(key));
        const last = samples[samples.length - 1] ?? {};
        const pubackSeries = series('puback_p99_ms');
        const vis = summarizeLatencies(visible.samples.map((s) => s.ms));
        const ingestedRate = rowsSoak / soakS;
        const offeredAll = offered + o.upRate;
        const citySlope = slopePerHour(samples, 'city_rss_mib', half);
        const cityMax = max('city_rss_mib');
        const figures = {
          duration_s: round(soakS),
          capacity_probe_readings_per_second: Math.round(capacity),
          offered_readings_per_second: offeredAll,
          offered_load_readings_per_second: offered,
          agents_readings_per_second: o.upRate,
          ingested_readings_per_second: Math.round(ingestedRate),
          verifications_per_second: round(verdictsSoak / soakS, 1),
          puback_p50_ms: round(ledger.puback.p50),
          puback_p99_ms: round(ledger.puback.p99),
          puback_max_ms: round(ledger.puback.max),
          puback_p99_worst_interval_ms: pubackSeries.length > 0 ? Math.max(...pubackSeries) : -1,
          visible_p50_ms: round(vis.p50),
          visible_p99_ms: round(vis.p99),
          visible_samples: vis.count,
          visible_unseen: unseen,
          verify_p99_le_ms: round(verifyP99 * 1000, 1),
          ingest_lag_max_s: samples.length > 0 ? max('ingest_lag_s') : -1,
          buffered_rows_max: samples.length > 0 ? max('buffered_rows') : -1,
          rule_readings_per_second: Math.round((sampleOf(endAnalytics, 'cityops_analytics_rule_readings_total') - sampleOf(first.analytics, 'cityops_analytics_rule_readings_total')) / soakS),
          acked_readings: check.ackedReadings,
          lost_readings: check.lostReadings,
          duplicate_rows: check.duplicateRows,
          stored_unacked_readings: check.storedUnacked,
          load_publish_errors: ledger.stats.errors,
          load_connect_errors: ledger.stats.connectErrors,
          city_rss_before_probe_mib: round(rssBeforeProbe / MIB, 1),
          city_rss_after_probe_mib: round(rssAfterProbe / MIB, 1),
          city_rss_end_mib: last.city_rss_mib ?? -1,
          city_rss_max_mib: samples.length > 0 ? cityMax : -1,
          city_rss_slope_second_half_mib_per_hour: round(citySlope, 1),
          // Means of each half beside the slope: a short run's slope is at the mercy of where the saw-tooth ends.
          city_rss_mean_first_half_mib: round(meanOf(samples, 'city_rss_mib', 0, half), 1),
          city_rss_mean_second_half_mib: round(meanOf(samples, 'city_rss_mib', half, Number.POSITIVE_INFINITY), 1),
          city_heap_slope_second_half_mib_per_hour: round(slopePerHour(samples, 'city_heap_mib', half), 1),
          engine_tracked_slope_second_half_mib_per_hour: round(slopePerHour(samples, 'engine_tracked_mib', half), 1),
          engine_tracked_max_mib: samples.length > 0 ? max('engine_tracked_mib') : -1,
          engine_mark_cache_end_mib: last.engine_mark_cache_mib ?? -1,
          engine_primary_index_cache_end_mib: last.engine_primary_index_cache_mib ?? -1,
          load_rss_end_mib: last.load_rss_mib ?? -1,
          load_rss_slope_second_half_mib_per_hour: round(slopePerHour(samples, 'load_rss_mib', half), 1),
          bench_rss_end_mib: last.bench_rss_mib ?? -1,
          bench_rss_slope_second_half_mib_per_hour: round(slopePerHour(samples, 'bench_rss_mib', half), 1),
          samples: samples.length,
          drain_after_probe_s: round(drainS, 1),
          drain_at_end_s: round(drainEndS, 1),
          load_average_1m: round(loadAvg[0]!, 2),
          load_average_5m: round(loadAvg[1]!, 2),
          cores: availableParallelism(),
        };
        log(`soak: ${figures.ingested_readings_per_second}/s ingested of ${offeredAll} offered; lost ${check.lostReadings}, duplicated ${check.duplicateRows}; city RSS max ${cityMax} MiB, slope ${figures.city_rss_slope_second_half_mib_per_hour} MiB/h`);
        const result: ScenarioResult & { samples: Sample[] } = withCharts(soakCharts, {
          scenario: 'soak',
          question: QUESTION,
          figures,
          targets: [
            { name: 'acknowledged readings in the warehouse exactly once', target: '0 lost, 0 duplicated', met: check.ackedReadings > 0 && check.lostReadings === 0 && check.duplicateRows === 0 },
            { name: 'city RSS growth, least squares over the second half', target: `< ${TARGET_SLOPE_MIB_PER_HOUR} MiB/hour`, met: citySlope < TARGET_SLOPE_MIB_PER_HOUR },
            { name: 'city RSS, highest sample', target: `< ${TARGET_RSS_MIB} MiB`, met: cityMax < TARGET_RSS_MIB },
            { name: 'kept up: ingested / offered', target: `>= ${TARGET_KEPT_UP}`, met: ingestedRate / offeredAll >= TARGET_KEPT_UP },
          ],
          notes: [
            `\`cityops up\` (broker, ingest with its fsync'ed log, embedded chDB warehouse, verifier, analytics with rollups, the shipped sensor_silent / gateway_offline / grid_quiet / pipeline_backlog rules and the alert lifecycle, ${o.upGateways} gateway agents at ${o.upRate} readings/s, ${o.scanners} scanners at ${o.scanRate} codes/s each verifying over MQTT) in one process; the load (${o.loadGateways} journal-less gateways, ${o.batch}-reading msgpack batches, QoS 1, ${o.inflight} in flight each, a ledger of every PUBACK) in a second; the probes and the sampler in the bench process. All share ${availableParallelism()} cores; load average at the end ${loadAvg.map((l) => l.toFixed(1)).join(' ')}.`,
            `Offered rate: half the capacity probe. The probe offered ${o.probeOffered} readings/s from the load for ${o.probeS} s on top of the agents and counted rows written to the warehouse over the last ${o.probeMeasureS} s: ${Math.round(capacity)} readings/s for the whole city, so the soak offers ${offered}/s from the load + ${o.upRate}/s from the agents. Measured in the same run because the city in one process with its agents, scanners and rules is heavier than ingest alone, and the machine's other load varies.`,
            `Loss: after the run the load stops, waits for PUBACKs in flight, ingest drains, \`cityops up\` stops (SIGTERM), and the bench opens the warehouse and counts, for each load gateway and batch, rows and distinct (boot, seq, idx): ${check.ackedReadings} readings acknowledged, ${check.lostReadings} missing, ${check.duplicateRows} duplicate rows; ${check.storedUnacked} readings stored whose PUBACK never arrived (allowed).`,
            `Memory: VmRSS from /proc/<pid>/status of the city, the load and the bench every ${o.sampleEveryS} s; the city's V8 heap from ingest's nodejs_heap_size_used_bytes (one process, so the verifier's and analytics' heap metrics say the same; the verifier's worker threads and chDB show in RSS only). Slopes are least squares over the second half of the run (from ${half} s), in MiB/hour; a short run's slope is mostly GC saw-tooth.`,
            `Latencies: PUBACK from the load generator (all batches, 1 ms histogram; per sample interval in the series); publish → queryable from a probe gateway in the bench every ${o.visibleEveryMs} ms (GET /v1/readings polled every 10 ms; ${unseen} never seen); verify p99 is the bucket bound of the verifier's own cityops_verifier_verify_seconds for the scanners' MQTT requests; alert visibility is not probed here (the alerts scenario does), nor the rule stream lag (cityops_analytics_rule_stream_lag_seconds follows the value rules' windows, and the soak runs none); ingest lag is cityops_ingest_lag_seconds (oldest accepted row not yet in the warehouse) at each sample.`,
          ],
          tables: [compactTable(samples, o.sampleEveryS)],
          samples,
        });
        return result;
      } finally {
        await probeStop?.();
        await load?.close();
        await up.stop();
      }
    },
  };
}

export const soakScenario: Scenario = createSoakScenario(FULL, SMOKE);
