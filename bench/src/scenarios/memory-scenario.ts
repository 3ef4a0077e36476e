import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { generateCity, provisionGateways, readCredentialsFile, writeCredentialsFile } from '@cityops/simulators';
import { startCityops, type CityopsProcess } from '../../../test-peers/cityops-process.ts';
import { failedRequests, loadAutocannon, type AutocannonResult } from '../autocannon-load.ts';
import { MEMORY_PHASES, MEMORY_TARGET_RSS_MIB, memoryCharts } from '../charts/memory-charts.ts';
import { withCharts } from '../charts/scenario-charts.ts';
import { cycleBodies, verifyBatchBodies } from '../cycling-batch-load.ts';
import { leastSquaresSlope } from '../least-squares.ts';
import { mintCodes } from '../mint-codes.ts';
import { processMemoryMiB } from '../process-memory.ts';
import { metricValue, scrape } from '../prometheus-text.ts';
import type { ReportTable, Scenario, ScenarioOptions, ScenarioResult } from '../scenario.ts';
import { startSoakLoad, type SoakLoad } from '../soak-load-client.ts';
import { verifierCounts } from '../verifier-process.ts';

const QUESTION =
  'Does the all-in-one process (`cityops up`: broker, ingest, embedded chDB, verifier, analytics, gateway agents, scanners) ' +
  'keep its memory bounded (RSS under 1 GiB, flat) idle, at ingest saturation, at verify saturation, under both, and while ' +
  'the warehouse is made slow on purpose so that ingest buffers to its bound and holds PUBACKs back?';

const MIB = 2 ** 20;
const TARGET_SLOPE_MIB_PER_HOUR = 50;

export interface MemoryOptions {
  /** Gateway agents and venue scanners `cityops up` runs in its own process. */
  readonly upGateways: number;
  readonly upRate: number;
  readonly scanners: number;
  readonly scanRate: number;
  /** The load process: gateways, batch size, QoS 1 window, readings/s offered when ingest is loaded. */
  readonly loadGateways: number;
  readonly batch: number;
  readonly inflight: number;
  readonly offered: number;
  /** autocannon on POST /v1/verify/batch: connections, codes per request, distinct codes (cycled). */
  readonly verifyConnections: number;
  readonly batchItems: number;
  readonly codes: number;
  /** How long each insert is held in the slow phase. */
  readonly slowInsertMs: number;
  readonly sampleEveryMs: number;
  /** Smoke runs use this phase length whatever --duration says. */
  readonly smokePhaseS?: number;
}

// A flush inserts everything buffered, so a delay D lets up to maxBufferedRows / D rows/s through:
// 2 s would pass ~250k/s, more than the whole city accepts on this machine (~50-150k/s when busy),
// and the buffer would never reach its bound (5 s measured: it stayed near 280k of 500k). 10 s passes
// at most ~50k/s: the buffer fills and backpressure holds PUBACKs.
const FULL: MemoryOptions = {
  upGateways: 64, upRate: 5_000, scanners: 8, scanRate: 10, loadGateways: 100, batch: 100, inflight: 8, offered: 400_000,
  // More codes than the verifier's verdict cache keeps (100,000), cycled: a code comes back after it was let go.
  verifyConnections: 8, batchItems: 64, codes: 120_000, slowInsertMs: 10_000, sampleEveryMs: 1_000,
};
const SMOKE: MemoryOptions = {
  upGateways: 4, upRate: 200, scanners: 2, scanRate: 5, loadGateways: 4, batch: 100, inflight: 8, offered: 20_000,
  verifyConnections: 2, batchItems: 64, codes: 2_048, slowInsertMs: 1_000, sampleEveryMs: 500, smokePhaseS: 1.5,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);

function sampleOf(text: string, name: string): number {
  try {
    return metricValue(text, name);
  } catch {
    return 0; // a counter appears only once incremented
  }
}

/** One row of the time series; every value a number so the JSON carries them all (-1: not measured). */
type Sample = Record<string, number>;

/** Cumulative counters at an instant: rates per phase are their differences over its span. */
interface Counters {
  readonly at: number;
  readonly ingestText: string;
  readonly rows: number;
  readonly verdicts: number;
  readonly acked: number;
  readonly backpressureWaits: number;
}

/** The city's own issuer, as `cityops up` made it in `<data>/issuer/`: codes it signs get verdict OK. */
async function cityIssuer(dataDir: string) {
  const dir = join(dataDir, 'issuer');
  const [keyPem, certPem] = await Promise.all([readFile(join(dir, 'private-key.pem'), 'utf8'), readFile(join(dir, 'certificate.pem'), 'utf8')]);
  return createDevelopmentIssuer({ privateKey: createPrivateKey(keyPem), certificate: new X509Certificate(certPem).raw });
}

const TABLE_COLUMNS: readonly [string, string][] = [
  ['t_s', 't s'],
  ['phase', 'phase'],
  ['rss_mib', 'RSS MiB'],
  ['heap_used_mib', 'heap used MiB'],
  ['heap_total_mib', 'heap total MiB'],
  ['external_mib', 'external MiB'],
  ['engine_tracked_mib', 'chDB tracked MiB'],
  ['buffered_rows', 'buffered rows'],
  ['readings_per_s', 'written/s'],
  ['acked_per_s', 'load acked/s'],
  ['verifications_per_s', 'verif./s'],
];

/** Every n-th sample (and each phase's first and the last) as a Markdown table of ~40 rows. */
function compactTable(samples: readonly Sample[], everyMs: number): ReportTable {
  const every = Math.max(1, Math.round(samples.length / 40));
  const picked = samples.filter((s, i) => i % every === 0 || i === samples.length - 1 || s.phase !== samples[i - 1]?.phase);
  return {
    title: `time series (every ${(every * everyMs) / 1000} s and each phase's first sample; the JSON has every ${everyMs / 1000} s sample)`,
    columns: TABLE_COLUMNS.map(([, title]) => title),
    rows: picked.map((s) => TABLE_COLUMNS.map(([key]) => (key === 'phase' ? (MEMORY_PHASES[s.phase ?? 0]?.key ?? '?') : (s[key] ?? -1)))),
  };
}

export function createMemoryScenario(full: MemoryOptions, smokeOptions: MemoryOptions): Scenario {
  return {
    name: 'memory',
    question: QUESTION,
    async run({ durationS, smoke, workDir, log }: ScenarioOptions): Promise<ScenarioResult> {
      const o = smoke ? smokeOptions : full;
      const phaseS = smoke ? (o.smokePhaseS ?? durationS) : durationS;
      const dataDir = join(workDir, 'city');
      await mkdir(dataDir, { recursive: true });
      const delayFile = join(workDir, 'insert-delay-ms');
      await writeFile(delayFile, '0');
      const token = randomBytes(16).toString('hex');
      const up: CityopsProcess = await startCityops(
        [
          'up', '--data', dataDir, '--mqtt-port', '0', '--http-port', '0', '--verifier-port', '0', '--analytics-port', '0',
          '--gateways', String(o.upGateways), '--rate', String(o.upRate), '--scanners', String(o.scanners), '--scan-rate', String(o.scanRate),
          // The verify load drives the city's few scanner credentials far past a door's rate: no per-scanner limit.
          '--admin-token', token, '--slow-inserts-file', delayFile, '--checks-per-scanner', '0', '--json',
        ],
        { timeoutMs: 120_000 },
      );
      const upPid = up.child.pid!;
      let load: SoakLoad | undefined;
      try {
        const httpUrl = String(up.ready.httpUrl);
        const verifierUrl = String(up.ready.verifierUrl);
        const city = generateCity({ gateways: o.loadGateways, seed: 29, idPrefix: 'mem-gw-' });
        const fleet = await provisionGateways(httpUrl, token, city.gateways);
        const credentials = join(workDir, 'memory-credentials.json');
        await writeCredentialsFile(credentials, fleet);
        load = await startSoakLoad({ brokerUrl: String(up.ready.mqttUrl), credentials, batch: o.batch, inflight: o.inflight });

        log(`memory: minting ${o.codes} codes with the city's issuer`);
        const codes = await mintCodes(await cityIssuer(dataDir), o.codes, availableParallelism());
        const bodies = verifyBatchBodies(codes, o.batchItems);
        // The city's own scanners ask (issue 16: Basic credentials, kept by `cityops up` in its data directory).
        const scanners = await readCredentialsFile(join(dataDir, 'scanner-credentials.json'));
        const authorizations = scanners.map((d) => `Basic ${Buffer.from(`${d.id}:${d.secret}`).toString('base64')}`);
        const autocannon = loadAutocannon();

        let delayChanges = 0;
        async function setInsertDelay(ms: number): Promise<void> {
          await writeFile(delayFile, String(ms));
          const change = ++delayChanges;
          await up.waitForJson((v) => v.change === change && v.insertDelayMs === ms, 10_000);
        }
        async function counters(): Promise<Counters> {
          const [ingestText, verifierText, loadSample] = await Promise.all([scrape(`${httpUrl}/metrics`), scrape(`${verifierUrl}/metrics`), load!.sample()]);
          return {
            at: performance.now(),
            ingestText,
            rows: sampleOf(ingestText, 'cityops_ingest_warehouse_rows_written_total'),
            verdicts: sampleOf(verifierText, 'cityops_verifier_verdicts_total'),
            acked: loadSample.stats.readingsAcked,
            backpressureWaits: sampleOf(ingestText, 'cityops_ingest_backpressure_waits_total'),
          };
        }

        // The sampler: every sampleEveryMs, the city's VmRSS from /proc and its heap from ingest's
        // default metrics (one process: the verifier's and analytics' heap metrics say the same).
        const samples: Sample[] = [];
        let phase = 0;
        let sampling = true;
        const t0 = performance.now();
        const sampler = (async () => {
          let prev = await counters();
          for (let i = 1; sampling; i++) {
            const wait = t0 + i * o.sampleEveryMs - performance.now();
            if (wait > 0) await sleep(wait);
            else continue; // a scrape ran late: skip to the next slot rather than bunch samples
            const now = await counters();
            const { ingestText } = now;
            const dt = (now.at - prev.at) / 1000;
            samples.push({
              t_s: round((now.at - t0) / 1000, 1),
              phase,
              rss_mib: round(processMemoryMiB(upPid).rss, 1),
              heap_used_mib: round(sampleOf(ingestText, 'cityops_ingest_nodejs_heap_size_used_bytes') / MIB, 1),
              heap_total_mib: round(sampleOf(ingestText, 'cityops_ingest_nodejs_heap_size_total_bytes') / MIB, 1),
              external_mib: round(sampleOf(ingestText, 'cityops_ingest_nodejs_external_memory_bytes') / MIB, 1),
              engine_tracked_mib: round(sampleOf(ingestText, 'cityops_warehouse_engine_memory_bytes{kind="tracked"}') / MIB, 1),
              buffered_rows: sampleOf(ingestText, 'cityops_ingest_buffered_rows'),
              readings_per_s: Math.round((now.rows - prev.rows) / dt),
              acked_per_s: Math.round((now.acked - prev.acked) / dt),
              verifications_per_s: Math.round((now.verdicts - prev.verdicts) / dt),
            });
            prev = now;
          }
        })();
        sampler.catch(() => undefined);

        // The phases: each sets the load's rate, the verify load and the insert delay, then runs phaseS.
        const plan: Readonly<Record<(typeof MEMORY_PHASES)[number]['key'], { rate: number; verify: boolean; delayMs: number }>> = {
          idle: { rate: 0, verify: false, delayMs: 0 },
          ingest: { rate: o.offered, verify: false, delayMs: 0 },
          verify: { rate: 0, verify: true, delayMs: 0 },
          both: { rate: o.offered, verify: true, delayMs: 0 },
          slow: { rate: o.offered, verify: false, delayMs: o.slowInsertMs },
          after: { rate: 0, verify: false, delayMs: 0 },
        };
        const bounds: { start: number; end: number; before: Counters; after: Counters }[] = [];
        const verifyRuns: AutocannonResult[] = [];
        const verifierBefore = await verifierCounts(verifierUrl);
        let delayMs = 0;
        for (const [i, { key, label }] of MEMORY_PHASES.entries()) {
          const p = plan[key];
          if (p.delayMs !== delayMs) await setInsertDelay(p.delayMs);
          delayMs = p.delayMs;
          load.setRate(p.rate);
          phase = i;
          const before = await counters();
          const start = (before.at - t0) / 1000;
          log(`memory: ${label} for ${phaseS} s (from ${start.toFixed(1)} s)`);
          const sent = verifyRuns.reduce((n, r) => n + r.requests.total, 0);
          const verifying = p.verify ? cycleBodies(autocannon, verifierUrl, '/v1/verify/batch', bodies, o.verifyConnections, phaseS, sent, authorizations) : undefined;
          verifying?.catch(() => undefined); // awaited below; a failure must not go unhandled while the phase sleeps
          await sleep(phaseS * 1000);
          if (verifying !== undefined) verifyRuns.push(await verifying);
          const after = await counters();
          bounds.push({ start, end: (after.at - t0) / 1000, before, after });
        }
        load.setRate(0);
        sampling = false;
        await sampler;
        const verifierAfter = await verifierCounts(verifierUrl);
        const hwm = processMemoryMiB(upPid).hwm;
        const loadAvg = loadavg();

        const figures: Record<string, number> = {};
        const inPhase = (i: number) => samples.filter((s) => s.phase === i && s.rss_mib! >= 0);
        for (const [i, { key }] of MEMORY_PHASES.entries()) {
          const s = inPhase(i);
          const b = bounds[i]!;
          const span = (b.after.at - b.before.at) / 1000;
          const rss = s.map((x) => x.rss_mib!);
          figures[`${key}_rss_max_mib`] = rss.length === 0 ? -1 : Math.max(...rss);
          figures[`${key}_rss_mean_mib`] = rss.length === 0 ? -1 : round(rss.reduce((a, v) => a + v, 0) / rss.length, 1);
          figures[`${key}_heap_used_max_mib`] = s.length === 0 ? -1 : Math.max(...s.map((x) => x.heap_used_mib!));
          figures[`${key}_readings_per_second`] = Math.round((b.after.rows - b.before.rows) / span);
          figures[`${key}_verifications_per_second`] = Math.round((b.after.verdicts - b.before.verdicts) / span);
        }
        const slowIndex = MEMORY_PHASES.findIndex((p) => p.key === 'slow');
        const slow = bounds[slowIndex]!;
        const slowHalf = (slow.start + slow.end) / 2;
        const slowSecondHalf = samples.filter((s) => s.phase === slowIndex && s.t_s! >= slowHalf);
        const slopeOf = (key: string) => leastSquaresSlope(slowSecondHalf.filter((s) => s[key]! >= 0).map((s) => ({ x: s.t_s! / 3600, y: s[key]! })));
        const rssMax = Math.max(...samples.map((s) => s.rss_mib!));
        const slope = slopeOf('rss_mib');
        const failed = verifyRuns.reduce((n, r) => n + failedRequests(r), 0);
        Object.assign(figures, {
          rss_max_mib: samples.length === 0 ? -1 : rssMax,
          rss_hwm_mib: round(hwm, 1),
          slow_rss_slope_second_half_mib_per_hour: round(slope, 1),
          slow_heap_used_slope_second_half_mib_per_hour: round(slopeOf('heap_used_mib'), 1),
          slow_buffered_rows_max: Math.max(0, ...inPhase(slowIndex).map((s) => s.buffered_rows!)),
          slow_samples_without_acks: inPhase(slowIndex).filter((s) => s.acked_per_s === 0).length,
          slow_samples: inPhase(slowIndex).length,
          slow_backpressure_waits: slow.after.backpressureWaits - slow.before.backpressureWaits,
          slow_load_acked_per_second: Math.round((slow.after.acked - slow.before.acked) / ((slow.after.at - slow.before.at) / 1000)),
          slow_insert_delay_ms: o.slowInsertMs,
          phase_seconds: phaseS,
          offered_readings_per_second: o.offered,
          codes_cycled: codes.length,
          verify_ok_verdicts: verifierAfter.ok - verifierBefore.ok,
          verify_cache_hits: verifierAfter.cacheHits - verifierBefore.cacheHits,
          verify_failed_requests: failed,
          samples: samples.length,
          load_average_1m: round(loadAvg[0]!, 2),
          cores: availableParallelism(),
        });
        const phaseSpans = MEMORY_PHASES.map((p, i) => `${p.key} ${bounds[i]!.start.toFixed(0)}–${bounds[i]!.end.toFixed(0)} s`).join(', ');
        log(`memory: RSS max ${rssMax} MiB (VmHWM ${figures.rss_hwm_mib}); slow phase: buffer max ${figures.slow_buffered_rows_max} rows, RSS slope ${figures.slow_rss_slope_second_half_mib_per_hour} MiB/h`);
        const result: ScenarioResult & { samples: Sample[] } = withCharts(memoryCharts, {
          scenario: 'memory',
          question: QUESTION,
          figures,
          targets: [
            { name: 'city RSS, highest sample of every phase', target: `< ${MEMORY_TARGET_RSS_MIB} MiB`, met: samples.length > 0 && rssMax < MEMORY_TARGET_RSS_MIB },
            { name: 'city RSS growth in the slow phase, least squares over its second half', target: `< ${TARGET_SLOPE_MIB_PER_HOUR} MiB/hour`, met: slope < TARGET_SLOPE_MIB_PER_HOUR },
          ],
          notes: [
            `Phases of ${phaseS} s each, in order (time since the idle phase began): ${phaseSpans}. The charts' x axis is that time; read the phases from here.`,
            `\`cityops up\` (broker, ingest with its fsync'ed log, embedded chDB, verifier with its audit trail, analytics with the shipped rules, ${o.upGateways} gateway agents at ${o.upRate} readings/s, ${o.scanners} scanners at ${o.scanRate} codes/s) in one process. Ingest load: a second process (${o.loadGateways} gateways, ${o.batch}-reading batches, QoS 1, ${o.inflight} in flight each) offering ${o.offered} readings/s, more than the city takes. Verify load: autocannon in the bench process, ${o.verifyConnections} connections of POST /v1/verify/batch with ${o.batchItems} codes each, ${codes.length} distinct codes signed by the city's own issuer (read from <data>/issuer/, as \`cityops codes issue\` would), each connection going round its share (verdicts OK: ${figures.verify_ok_verdicts}; cache hits: ${figures.verify_cache_hits}; failed requests: ${failed}). All share ${availableParallelism()} cores; load average at the end ${loadAvg.map((l) => l.toFixed(1)).join(' ')}.`,
            `Slow warehouse: \`cityops up --slow-inserts-file\`, the bench writes ${o.slowInsertMs} into it for the slow phase and 0 after (up confirms each change on stdout; an insert held when the phase ends still waits its ${o.slowInsertMs} ms); each bulk insert of ingest is then held ${o.slowInsertMs} ms. A flush inserts what is buffered in parts of at most writer.maxInsertRows (100,000), each held; when the city takes more than the held inserts let through, the buffer (cityops_ingest_buffered_rows: admitted, buffered and in flight, set at every batch) grows to ingest's bound writer.maxBufferedRows and acceptance waits, holding PUBACKs: highest in the slow phase ${figures.slow_buffered_rows_max} rows; the load's acknowledged rate fell to ${figures.slow_load_acked_per_second}/s, ${figures.slow_samples_without_acks} of ${figures.slow_samples} samples saw no PUBACK at all, and ingest counted ${figures.slow_backpressure_waits} admissions that waited for room (cityops_ingest_backpressure_waits_total).`,
            `Memory: VmRSS of the city from /proc/<pid>/status every ${o.sampleEveryMs / 1000} s (VmHWM at the end: ${figures.rss_hwm_mib} MiB, startup included); heap used, heap total and external from ingest's default metrics (cityops_ingest_nodejs_*; one process, so the verifier's worker threads' heaps show in RSS only), and chDB's own account of its allocations (cityops_warehouse_engine_memory_bytes{kind="tracked"}). The slope is least squares over the slow phase's second half, in MiB/hour; over a short phase it is mostly GC saw-tooth and says little about a leak (the soak scenario runs long).`,
            `Rates per phase: readings written to the warehouse (cityops_ingest_warehouse_rows_written_total) and verdicts (cityops_verifier_verdicts_total, the scanners' MQTT requests included) over the phase's span.`,
          ],
          tables: [compactTable(samples, o.sampleEveryMs)],
          samples,
        });
        return result;
      } finally {
        await load?.close();
        await up.stop();
      }
    },
  };
}

export const memoryScenario: Scenario = createMemoryScenario(FULL, SMOKE);
