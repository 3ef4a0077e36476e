import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { REDIS_SERVER } from '../../../test-peers/debian-peers.ts';
import { loadAutocannon } from '../autocannon-load.ts';
import { scalingCharts, withCharts } from '../charts/scenario-charts.ts';
import type { CpuWindowResult } from '../cpu-window.ts';
import { mintCodes } from '../mint-codes.ts';
import { checkStores, measureIngestRun, prepareIngestCluster, untilWritten, type IngestRun } from '../scaling-ingest.ts';
import { measureVerifierThreads, type VerifierThreadsRun } from '../scaling-verify.ts';
import type { Scenario, ScenarioOptions, ScenarioResult } from '../scenario.ts';

const QUESTION =
  'How does the cost grow with the work: the same load through the verifier with 1 and with 2 pool threads, and through ' +
  '1 and 2 ingest instances sharing routing through Redis (2 also without the shared batch claim, to show its cost); for each, ' +
  'the rate, p99, the CPU seconds of every process, the work per CPU-second, and which resource runs out first?';

export interface ScalingOptions {
  /** Gateways of the ingest load (two load processes, half each), their batch size and QoS 1 window. */
  readonly gateways: number;
  readonly batch: number;
  readonly inflight: number;
  /** Readings/s each load process offers: far above what ingest takes, so the windows stay full. */
  readonly offeredPerHalf: number;
  readonly ingestWarmupS: number;
  /** Distinct codes at most (a full run mints 6k per core and second, as the verify scenario), and the verifier's warm-up on other codes. */
  readonly codes: number;
  readonly warmCodes: number;
  readonly verifyWarmupS: number;
  /** Smoke runs use this per configuration whatever --duration says. */
  readonly smokeSecondsPerConfiguration?: number;
}

const FULL: ScalingOptions = {
  gateways: 100, batch: 100, inflight: 8, offeredPerHalf: 400_000, ingestWarmupS: 3, codes: 200_000, warmCodes: 8 * 64 * 8, verifyWarmupS: 1,
};
const SMOKE: ScalingOptions = {
  gateways: 8, batch: 100, inflight: 8, offeredPerHalf: 20_000, ingestWarmupS: 1, codes: 2048, warmCodes: 0, verifyWarmupS: 0, smokeSecondsPerConfiguration: 1,
};

const BATCH_ITEMS = 64;
const CONNECTIONS = 8;
/** Informative target: work per CPU-second with 2 may fall this far below with 1. */
const EFFICIENCY_TARGET = 0.8;
/** A thread or the machine at this share of its cores is called saturated. */
const SATURATED = 0.9;

const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);
const sum = (values: Readonly<Record<string, number>>, keys: readonly string[]) => keys.reduce((n, k) => n + (values[k] ?? 0), 0);

/** CPU seconds of all the processes of ours in a window: the named ones and the bench itself. */
function ourCpuSeconds(cpu: CpuWindowResult): number {
  return Object.values(cpu.cpuSeconds).reduce((a, b) => a + b, 0) + cpu.benchCpuSeconds;
}

/** What ran out first in a window: one thread of `threadOf` at a core, and/or all the machine's cores. */
function saturation(cpu: CpuWindowResult, threadOf: readonly string[]): string {
  const found: string[] = [];
  const busiest = threadOf.map((name) => ({ name, cores: (cpu.busiestThreadCpuSeconds[name] ?? 0) / cpu.seconds })).sort((a, b) => b.cores - a.cores)[0];
  const ours = ourCpuSeconds(cpu) / cpu.seconds;
  if (cpu.machineBusyCores >= SATURATED * cpu.cores) found.push(`the machine's ${cpu.cores} cores (${cpu.machineBusyCores.toFixed(2)} busy, ${ours.toFixed(2)} of them our processes')`);
  if (busiest !== undefined && busiest.cores >= SATURATED) found.push(`one thread of ${busiest.name} (${busiest.cores.toFixed(2)} of a core)`);
  return found.length === 0 ? `nothing measured here (machine ${cpu.machineBusyCores.toFixed(2)} of ${cpu.cores} cores busy, ours ${ours.toFixed(2)}; latency- or load-generator-bound)` : found.join(' and ');
}

function verifyFigures(run: VerifierThreadsRun): Record<string, number> {
  const verifierCpu = run.cpu.cpuSeconds.verifier ?? Number.NaN;
  const verifications = run.verificationsPerSecond * run.seconds;
  const p = `verify_threads_${run.threads}`;
  return {
    [`${p}_verifications_per_second`]: Math.round(run.verificationsPerSecond),
    [`${p}_p50_ms`]: run.p50Ms,
    [`${p}_p99_ms`]: run.p99Ms,
    [`${p}_seconds`]: round(run.seconds, 2),
    [`${p}_verifier_cpu_seconds`]: round(verifierCpu, 2),
    [`${p}_verifier_busiest_thread_cores`]: round((run.cpu.busiestThreadCpuSeconds.verifier ?? Number.NaN) / run.cpu.seconds, 2),
    [`${p}_load_generator_cpu_seconds`]: round(run.cpu.benchCpuSeconds, 2),
    [`${p}_verifications_per_verifier_cpu_second`]: Math.round(verifications / verifierCpu),
    [`${p}_verifications_per_cpu_second_with_load_generator`]: Math.round(verifications / (verifierCpu + run.cpu.benchCpuSeconds)),
    [`${p}_our_processes_cores`]: round(ourCpuSeconds(run.cpu) / run.cpu.seconds, 2),
    [`${p}_machine_busy_cores`]: round(run.cpu.machineBusyCores, 2),
    [`${p}_failed_requests`]: run.failedRequests,
    [`${p}_cache_hits`]: run.cacheHits,
  };
}

function ingestFigures(run: IngestRun, instanceNames: readonly string[], p = `ingest_instances_${run.instances}`): Record<string, number> {
  const c = run.cpu.cpuSeconds;
  const ingestCpu = sum(c, instanceNames);
  const allCpu = ingestCpu + sum(c, ['load-1', 'load-2', 'redis']) + run.cpu.benchCpuSeconds;
  const readings = run.readingsPerSecond * run.cpu.seconds;
  const figures: Record<string, number> = {
    [`${p}_readings_per_second`]: Math.round(run.readingsPerSecond),
    [`${p}_acked_readings_per_second`]: Math.round(run.ackedReadingsPerSecond),
    [`${p}_puback_p50_ms`]: round(run.pubackP50Ms),
    [`${p}_puback_p99_ms`]: round(run.pubackP99Ms),
    [`${p}_seconds`]: round(run.cpu.seconds, 2),
    [`${p}_ingest_cpu_seconds`]: round(ingestCpu, 2),
  };
  instanceNames.forEach((name, i) => {
    figures[`${p}_ingest_${i + 1}_cpu_seconds`] = round(c[name] ?? Number.NaN, 2);
    figures[`${p}_ingest_${i + 1}_busiest_thread_cores`] = round((run.cpu.busiestThreadCpuSeconds[name] ?? Number.NaN) / run.cpu.seconds, 2);
  });
  Object.assign(figures, {
    [`${p}_load_cpu_seconds`]: round(sum(c, ['load-1', 'load-2']), 2),
    [`${p}_redis_cpu_seconds`]: round(c.redis ?? Number.NaN, 2),
    [`${p}_bench_cpu_seconds`]: round(run.cpu.benchCpuSeconds, 2),
    [`${p}_readings_per_ingest_cpu_second`]: Math.round(readings / ingestCpu),
    [`${p}_readings_per_cpu_second_all_processes`]: Math.round(readings / allCpu),
    [`${p}_our_processes_cores`]: round(allCpu / run.cpu.seconds, 2),
    [`${p}_machine_busy_cores`]: round(run.cpu.machineBusyCores, 2),
    [`${p}_publish_errors`]: run.publishErrors + run.connectErrors,
  });
  return figures;
}

export function createScalingScenario(full: ScalingOptions, smokeOptions: ScalingOptions): Scenario {
  return {
    name: 'scaling',
    peers: [REDIS_SERVER],
    question: QUESTION,
    async run({ durationS, smoke, workDir, log }: ScenarioOptions): Promise<ScenarioResult> {
      const o = smoke ? smokeOptions : full;
      const seconds = smoke ? (o.smokeSecondsPerConfiguration ?? durationS) : Math.max(1, durationS);
      const cores = availableParallelism();

      // (a) The verifier: the same batches of distinct codes to a fresh verifier with 1, then 2 pool threads.
      const issuer = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key' });
      const trustPath = join(workDir, 'trust.json');
      await writeFile(trustPath, JSON.stringify([issuer.trustEntry]));
      const count = smoke ? o.codes : Math.min(o.codes, Math.ceil(seconds * cores * 6000));
      log(`scaling: minting ${count + o.warmCodes} distinct codes on ${cores} threads`);
      const all = await mintCodes(issuer, count + o.warmCodes, cores);
      const batches = (codes: readonly string[]) => {
        const bodies: string[] = [];
        for (let i = 0; i + BATCH_ITEMS <= codes.length; i += BATCH_ITEMS) bodies.push(JSON.stringify({ items: codes.slice(i, i + BATCH_ITEMS).map((qr) => ({ qr })) }));
        return bodies;
      };
      const warmBodies = batches(all.slice(0, o.warmCodes));
      const bodies = batches(all.slice(o.warmCodes));
      const autocannon = loadAutocannon();
      const verifyRuns: VerifierThreadsRun[] = [];
      for (const threads of [1, 2]) {
        log(`scaling: verifier with ${threads} pool thread(s), ${CONNECTIONS} connections of ${BATCH_ITEMS}-code batches for ${seconds} s`);
        verifyRuns.push(
          await measureVerifierThreads({
            autocannon, trustPath, threads, bodies, itemsPerBody: BATCH_ITEMS, warmBodies, warmupS: o.verifyWarmupS, connections: CONNECTIONS, seconds,
          }),
        );
      }

      // (b) Ingest: the same fleet and offered load on one instance, then spread over two.
      const cluster = await prepareIngestCluster(workDir, o.gateways, log);
      const ingestRuns: IngestRun[] = [];
      const names: string[][] = [];
      try {
        const a = await cluster.startInstance(0);
        const common = { halves: cluster.halves, redisPid: cluster.redis.pid, offeredPerHalf: o.offeredPerHalf, batch: o.batch, inflight: o.inflight, warmupS: o.ingestWarmupS, seconds };
        log(`scaling: 1 ingest instance, ${cluster.gateways} gateways in two load processes for ${o.ingestWarmupS} + ${seconds} s`);
        ingestRuns.push(await measureIngestRun({ ...common, targets: [a, a] }));
        names.push([a.name]);
        await untilWritten(a, smoke ? 20_000 : 60_000);
        const b = await cluster.startInstance(1);
        log(`scaling: 2 ingest instances, half the gateways on each, for ${o.ingestWarmupS} + ${seconds} s`);
        ingestRuns.push(await measureIngestRun({ ...common, targets: [a, b] }));
        names.push([a.name, b.name]);
        await Promise.all([untilWritten(a, 60_000), untilWritten(b, 60_000)]);
        await b.stop();
        await a.stop();
        // The same two instances without the shared claim (issue 22): one Redis round trip per
        // batch before its WAL append, and the "stored" marks after, are what this run leaves out.
        const [a2, b2] = [await cluster.startInstance(0, ['--no-shared-claims']), await cluster.startInstance(1, ['--no-shared-claims'])];
        log(`scaling: 2 ingest instances without the shared claim, for ${o.ingestWarmupS} + ${seconds} s`);
        ingestRuns.push(await measureIngestRun({ ...common, targets: [a2, b2] }));
        names.push([a2.name, b2.name]);
        await Promise.all([untilWritten(a2, 60_000), untilWritten(b2, 60_000)]);
        await b2.stop();
        await a2.stop();
      } finally {
        await cluster.stop();
      }
      const check = await checkStores(ingestRuns, o.batch);

      const [v1, v2] = verifyRuns as [VerifierThreadsRun, VerifierThreadsRun];
      const [i1, i2, i3] = ingestRuns as [IngestRun, IngestRun, IngestRun];
      const figures: Record<string, number> = { cores, verify_items_per_request: BATCH_ITEMS, verify_connections: CONNECTIONS, ...verifyFigures(v1), ...verifyFigures(v2) };
      const vEff1 = figures.verify_threads_1_verifications_per_verifier_cpu_second!;
      const vEff2 = figures.verify_threads_2_verifications_per_verifier_cpu_second!;
      figures.verify_ratio_rate_2_to_1_threads = round(v2.verificationsPerSecond / v1.verificationsPerSecond, 3);
      figures.verify_ratio_per_cpu_second_2_to_1_threads = round(vEff2 / vEff1, 3);
      Object.assign(figures, { ingest_gateways: cluster.gateways, ingest_offered_readings_per_second: 2 * o.offeredPerHalf, ...ingestFigures(i1, names[0]!), ...ingestFigures(i2, names[1]!) });
      const iEff1 = figures.ingest_instances_1_readings_per_ingest_cpu_second!;
      const iEff2 = figures.ingest_instances_2_readings_per_ingest_cpu_second!;
      figures.ingest_ratio_rate_2_to_1_instances = round(i2.readingsPerSecond / i1.readingsPerSecond, 3);
      figures.ingest_ratio_per_cpu_second_2_to_1_instances = round(iEff2 / iEff1, 3);
      Object.assign(figures, ingestFigures(i3, names[2]!, 'ingest_instances_2_no_claims'));
      figures.ingest_ratio_rate_claims_to_no_claims = round(i2.readingsPerSecond / i3.readingsPerSecond, 3);
      figures.ingest_ratio_per_cpu_second_claims_to_no_claims = round(iEff2 / figures.ingest_instances_2_no_claims_readings_per_ingest_cpu_second!, 3);
      Object.assign(figures, { acked_readings: check.ackedReadings, lost_readings: check.lostReadings, duplicate_rows: check.duplicateRows, stored_unacked_readings: check.storedUnacked });
      const load = loadavg();
      figures.load_average_1m = round(load[0]!, 2);
      log(`scaling: verifier 2/1 threads rate ${figures.verify_ratio_rate_2_to_1_threads}, per CPU-second ${figures.verify_ratio_per_cpu_second_2_to_1_threads}; ingest 2/1 instances rate ${figures.ingest_ratio_rate_2_to_1_instances}, per CPU-second ${figures.ingest_ratio_per_cpu_second_2_to_1_instances}; lost ${check.lostReadings}`);

      const verifyOk = verifyRuns.every((r) => r.failedRequests === 0 && r.cacheHits === 0 && r.okVerdicts === r.verdicts && r.verdicts > 0);
      return withCharts(scalingCharts, {
        scenario: 'scaling',
        question: QUESTION,
        figures,
        targets: [
          { name: 'verifications per verifier CPU-second, 2 threads / 1 thread (informative)', target: `>= ${EFFICIENCY_TARGET}`, met: vEff2 / vEff1 >= EFFICIENCY_TARGET },
          { name: 'readings per ingest CPU-second, 2 instances / 1 instance (informative)', target: `>= ${EFFICIENCY_TARGET}`, met: iEff2 / iEff1 >= EFFICIENCY_TARGET },
          { name: 'verifier: every verdict OK, no cache hit, no failed request', target: 'all OK', met: verifyOk },
          { name: 'ingest: acknowledged readings in the warehouse exactly once', target: '0 lost, 0 duplicated', met: check.ackedReadings > 0 && check.lostReadings === 0 && check.duplicateRows === 0 },
        ],
        notes: [
          `Everything shares this machine's ${cores} cores: the verifier or the ingest instances, their load generators (autocannon in the bench process; two forked load processes), redis-server, and other users' work (\`*_machine_busy_cores\` is the whole machine from /proc/stat; load average at the end ${load.map((l) => l.toFixed(1)).join(' ')}). So a second thread or instance cannot get a core of its own: the rate ratio shows how much more the same cores get done, and work per CPU-second (CPU from /proc/<pid>/stat, all threads) shows whether the second one costs more per unit of work. ${seconds} s per configuration.`,
          `Verifier: a fresh process per thread count (empty verdict cache, ${o.warmCodes > 0 ? `warmed for ${o.verifyWarmupS} s on other codes` : 'no warm-up'}), the same ${bodies.length} POST /v1/verify/batch bodies of ${BATCH_ITEMS} distinct codes over ${CONNECTIONS} connections, each sent at most once; p50/p99 are per batch request. The main thread parses HTTP and JSON and decodes; the pool threads check ES256 signatures. 2 threads / 1: rate ${figures.verify_ratio_rate_2_to_1_threads}, verifications per verifier CPU-second ${figures.verify_ratio_per_cpu_second_2_to_1_threads}.`,
          `Verifier, what ran out first: 1 thread: ${saturation(v1.cpu, ['verifier'])}; 2 threads: ${saturation(v2.cpu, ['verifier'])}. With one pool thread the verifier can use at most a core for signatures, leaving the other to its main thread and autocannon; with two, the pool, the main thread and autocannon compete for the same 2 cores.`,
          `Ingest: \`cityops ingest --redis … --instance …\` processes (fsync'ed write-ahead log, auth, ACL, validation, dedup) sharing one redis-server for routing, retained messages and sessions. They do not share one warehouse: libchdb binds a data directory to one process, and Debian's clickhouse-server 18.16 cannot hold the schema, so each instance writes its own embedded chDB store, a copy of the store the ${cluster.gateways} gateways were provisioned on (every instance knows every gateway). With two instances the storage is therefore doubled too (two chDB engines, each with half the rows); a deployment on one ClickHouse server would share that part.`,
          `Ingest load: two load processes, each with half of the gateways (${o.batch}-reading msgpack batches, QoS 1, ${o.inflight} in flight each, ${o.offeredPerHalf} readings/s offered each: more than is taken, so the windows stay full); with one instance both publish to it, with two each publishes to its own. Readings/s = rows written to the warehouse(s) (cityops_ingest_warehouse_rows_written_total, summed) over the ${seconds} s window after ${o.ingestWarmupS} s of warm-up; PUBACK p50/p99 over the window are the larger of the two load processes'. Every publish also goes through Redis pub/sub to every instance (mqemitter-redis), so with two instances each message is received twice: a cost of the cluster that one instance does not pay. Afterwards each store is opened and every acknowledged batch looked for in the store of the instance that acknowledged it: ${check.ackedReadings} acknowledged, ${check.lostReadings} missing, ${check.duplicateRows} duplicated, ${check.storedUnacked} stored without a PUBACK heard (allowed).`,
          `Ingest, what ran out first: 1 instance: ${saturation(i1.cpu, names[0]!)}; 2 instances: ${saturation(i2.cpu, names[1]!)}. 2 instances / 1: rate ${figures.ingest_ratio_rate_2_to_1_instances}, readings per ingest CPU-second ${figures.ingest_ratio_per_cpu_second_2_to_1_instances}.`,
          `The shared batch claim (issue 22: every batch key claimed in Redis before its WAL append, marked stored after): the 1- and 2-instance runs have it (both are clustered), the third run is the same 2 instances with \`--no-shared-claims\`. With / without: rate ${figures.ingest_ratio_rate_claims_to_no_claims}, readings per ingest CPU-second ${figures.ingest_ratio_per_cpu_second_claims_to_no_claims}; redis-server CPU ${figures.ingest_instances_2_redis_cpu_seconds} vs ${figures.ingest_instances_2_no_claims_redis_cpu_seconds} s, PUBACK p99 ${figures.ingest_instances_2_puback_p99_ms} vs ${figures.ingest_instances_2_no_claims_puback_p99_ms} ms.`,
          `\`*_our_processes_cores\` is the CPU all our processes of a configuration used per second of it, beside \`*_machine_busy_cores\`: on a machine busy with other work (as here when the two differ), the scheduler shares the cores among all runnable threads, ours and everybody else's, so each configuration gets whatever share the rest of the machine leaves it (more processes of ours may get more of it, or not), and its rate follows that share as much as its own capacity; work per CPU-second depends much less on the share, so it is the figure to compare. The work-per-CPU-second targets (>= ${EFFICIENCY_TARGET} of one) are informative only (issue 7 asks to show how the cost grows, not for a figure).`,
        ],
      });
    },
  };
}

export const scalingScenario: Scenario = createScalingScenario(FULL, SMOKE);
