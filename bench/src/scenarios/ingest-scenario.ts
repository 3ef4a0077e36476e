import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { generateCity, provisionGateways, summarizeLatencies, writeCredentialsFile } from '@cityops/simulators';
import { startCityops } from '../../../test-peers/cityops-process.ts';
import { measureChdbCeiling } from '../chdb-ceiling.ts';
import { startCpuWindow } from '../cpu-window.ts';
import { metricValue, scrape } from '../prometheus-text.ts';
import { ingestCharts, withCharts } from '../charts/scenario-charts.ts';

import type { Scenario } from '../scenario.ts';
import { createVisibilityProbe } from '../visibility-probe.ts';

const QUESTION =
  'How many readings per second go from simulated gateways in another process, through MQTT (auth, ACL, ' +
  'validation, dedup, fsync\'ed write-ahead log), into the warehouse; how long until a reading is queryable; ' +
  "and how does that compare with chDB's best insert rate for the same rows, measured in the same run?";

export const ingestScenario: Scenario = {
  name: 'ingest',
  question: QUESTION,
  async run({ durationS, smoke, workDir, log }) {
    const dataDir = join(workDir, 'ingest');
    await mkdir(dataDir, { recursive: true });
    const token = randomBytes(16).toString('hex');
    const gateways = smoke ? 4 : 100;
    const offeredRate = smoke ? 5_000 : 600_000;
    const warmupS = smoke ? 1 : 3;

    const ingest = await startCityops(['ingest', '--data', dataDir, '--mqtt-port', '0', '--http-port', '0', '--admin-token', token]);
    const httpUrl = String(ingest.ready.httpUrl);
    const mqttUrl = String(ingest.ready.mqttUrl);
    try {
      const city = generateCity({ gateways: gateways + 1, seed: 7 });
      const [probeDevice, ...fleet] = await provisionGateways(httpUrl, token, city.gateways);
      const credentials = join(workDir, 'credentials.json');
      await writeCredentialsFile(credentials, fleet);
      log(`ingest: ${fleet.length} gateways provisioned; offering ${offeredRate} readings/s for ${warmupS + durationS} s`);

      const sim = await startCityops([
        'simulate', '--mode', 'direct', '--credentials', credentials, '--gateways', String(fleet.length), '--broker', mqttUrl,
        '--rate', String(offeredRate), '--batch', '100', '--inflight', '8', '--duration', String(warmupS + durationS),
      ]);
      const probe = await createVisibilityProbe(mqttUrl, httpUrl, probeDevice!);
      const visible: number[] = [];
      await new Promise((resolve) => setTimeout(resolve, warmupS * 1000));
      const t0 = performance.now();
      const rows0 = metricValue(await scrape(`${httpUrl}/metrics`), 'cityops_ingest_warehouse_rows_written_total');
      const cpuWindow = startCpuWindow({ ingest: ingest.child.pid! });
      const until = t0 + durationS * 1000;
      while (performance.now() < until) {
        visible.push(await probe.measure());
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const rows1 = metricValue(await scrape(`${httpUrl}/metrics`), 'cityops_ingest_warehouse_rows_written_total');
      const cpu = cpuWindow.stop();
      const seconds = (performance.now() - t0) / 1000;
      const done = await sim.waitForJson((v) => v.done === true, 120_000);
      await probe.close();
      const rate = (rows1 - rows0) / seconds;
      const vis = summarizeLatencies(visible);
      const ack = done.ackLatencyMs as { p99: number; p50: number };
      await ingest.stop();

      log('ingest: measuring the chDB ceiling on the same machine');
      const ceiling = await measureChdbCeiling({ dir: join(workDir, 'ceiling'), rows: smoke ? 100_000 : 1_000_000, batchRows: 50_000 });
      const ratio = rate / ceiling.best.rowsPerSec;
      // The physics: chDB's own CPU per row (engine alone, all its threads) and the cores the load
      // generator leaves. Were everything around the insert free, ingest could store at most
      // (cores left) / (engine CPU per row): that over the ceiling is the best ratio this machine allows.
      const engine = ceiling.formats.find((f) => f.name === 'engine-rowbinary') ?? ceiling.best;
      const rowsWritten = rows1 - rows0;
      const ingestCpuMicrosPerReading = rowsWritten > 0 ? (cpu.cpuSeconds.ingest! * 1e6) / rowsWritten : 0;
      const simulatorCores = Number(done.cpuSeconds) / Number(done.seconds);
      const coresLeft = cpu.cores - simulatorCores;
      const engineOnlyRate = (coresLeft * 1e6) / engine.cpuMicrosPerRow;
      return withCharts(ingestCharts, {
        scenario: 'ingest',
        question: QUESTION,
        figures: {
          gateways: fleet.length,
          offered_readings_per_second: offeredRate,
          readings_per_second: Math.round(rate),
          visible_p50_ms: Math.round(vis.p50),
          visible_p99_ms: Math.round(vis.p99),
          visible_samples: vis.count,
          puback_p50_ms: Math.round(ack.p50),
          puback_p99_ms: Math.round(ack.p99),
          simulator_cpu_seconds_per_second: simulatorCores,
          ingest_cpu_seconds_per_second: cpu.cpuSeconds.ingest! / cpu.seconds,
          ingest_busiest_thread_cpu_seconds_per_second: cpu.busiestThreadCpuSeconds.ingest! / cpu.seconds,
          machine_busy_cores: cpu.machineBusyCores,
          ingest_cpu_us_per_reading: ingestCpuMicrosPerReading,
          chdb_engine_cpu_us_per_reading: engine.cpuMicrosPerRow,
          engine_share_of_ingest_cpu: engine.cpuMicrosPerRow / ingestCpuMicrosPerReading,
          ratio_bound_if_only_the_engine_cost_cpu: engineOnlyRate / ceiling.best.rowsPerSec,
          chdb_ceiling_readings_per_second: Math.round(ceiling.best.rowsPerSec),
          ...Object.fromEntries(ceiling.formats.map((f) => [`chdb_${f.name.replace(/-/g, '_')}_readings_per_second`, Math.round(f.rowsPerSec)])),
          ...Object.fromEntries(ceiling.formats.map((f) => [`chdb_${f.name.replace(/-/g, '_')}_cpu_us_per_reading`, f.cpuMicrosPerRow])),
          ratio_to_ceiling: ratio,
        },
        targets: [
          { name: 'readings/s', target: '>= 300000', met: rate >= 300_000 },
          { name: 'share of chDB ceiling', target: '>= 0.5', met: ratio >= 0.5 },
          { name: 'publish -> queryable p99', target: '< 2000 ms', met: vis.p99 < 2000 },
        ],
        notes: [
          `chDB ceiling format: ${ceiling.best.name}; all formats: ${ceiling.formats.map((f) => `${f.name} ${Math.round(f.rowsPerSec)}/s`).join(', ')}`,
          'The simulator shares the 2 cores with ingest; its CPU use is listed.',
          `Ingest CPU over the window (/proc, every thread): ${cpu.cpuSeconds.ingest!.toFixed(1)} s in ${cpu.seconds.toFixed(1)} s, by thread name ` +
            `${Object.entries(cpu.cpuSecondsByThreadName.ingest ?? {}).sort((a, b) => b[1] - a[1]).map(([n, s]) => `${n} ${s.toFixed(1)}`).join(', ')} s ` +
            `(the busiest thread ${cpu.busiestThreadCpuSeconds.ingest!.toFixed(1)} s); the simulator ${simulatorCores.toFixed(2)} cores over its run. ` +
            `${ingestCpuMicrosPerReading.toFixed(2)} µs of ingest CPU per stored reading, of which chDB's engine alone needs ${engine.cpuMicrosPerRow.toFixed(2)} (engine-rowbinary, all the bench process's threads over its inserts). ` +
            `With the ${coresLeft.toFixed(2)} cores the simulator leaves, and nothing but the engine costing CPU, ingest could store ${Math.round(engineOnlyRate)}/s: ` +
            `${(engineOnlyRate / ceiling.best.rowsPerSec).toFixed(2)} of the ceiling, the most this machine allows with the load generator on it.`,
        ],
      });
    } finally {
      await ingest.stop();
    }
  },
};
