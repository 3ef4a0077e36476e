import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { buildAgentBundle, buildGatewayBundle, GATEWAY_NODE_FLAGS, type AgentBundle } from '../../../cli/src/gateway-bundle.ts';
import { MOSQUITTO, PYMODBUS } from '../../../test-peers/debian-peers.ts';
import { freePort } from '../../../test-peers/free-port.ts';
import { startMosquitto, type Mosquitto } from '../../../test-peers/mosquitto.ts';
import { startJsonLinesProcess, type JsonLinesProcess } from '../agent-process.ts';
import { modbusRun, type ModbusRunOptions } from '../edge-modbus-run.ts';
import { createForwardingSubscriber } from '../forwarding-subscriber.ts';
import { processCpuSeconds } from '../process-cpu.ts';
import { processMemoryMiB, sampleRss } from '../process-memory.ts';
import { edgeCharts, withCharts } from '../charts/scenario-charts.ts';
import type { Scenario, ScenarioOptions } from '../scenario.ts';

const QUESTION =
  'How much memory (RSS) and CPU does a gateway agent (`cityops gateway` as deployed: one bundled file under plain node) take per 1k readings/s, and after an ' +
  'outage during which it journaled 1 million readings, how fast does it replay them once the broker is back, ' +
  'with what RSS during the outage? And polling Modbus TCP registers (pymodbus), how many registers/s per core, at what RSS?';

const OUTAGE_AGENT = join(import.meta.dirname, '..', 'edge-outage-agent.ts');
const SENSORS = Array.from({ length: 10 }, (_, i) => `pm25-${i}:pm25`).join(',');

export interface EdgeScenarioOptions {
  /** Readings/s of the steady runs, one `cityops gateway` each. */
  readonly rates: readonly number[];
  readonly warmupS: number;
  /** Readings journaled during the outage. */
  readonly outageReadings: number;
  /** The Modbus TCP poller against pymodbus (the map's size and interval; duration from the run). */
  readonly modbus: Omit<ModbusRunOptions, 'durationS' | 'warmupS'>;
}

// Modbus: 8 units x 125 registers every 50 ms asks 20,000 registers/s (the top simulated rate
// above): 160 requests/s, which pymodbus answers with a twentieth of a core on this machine.
const FULL: EdgeScenarioOptions = { rates: [1_000, 5_000, 20_000], warmupS: 3, outageReadings: 1_000_000, modbus: { units: 8, registersPerUnit: 125, intervalMs: 50 } };
const SMOKE: EdgeScenarioOptions = { rates: [1_000], warmupS: 0.5, outageReadings: 20_000, modbus: { units: 2, registersPerUnit: 125, intervalMs: 100 } };

const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);

/** How an agent process is run: the deployed bundle under plain node, or TypeScript source under tsx. */
interface AgentRunner {
  readonly file: string;
  readonly nodeArgs: readonly string[];
}

/** One `cityops-gateway.mjs --source simulated` at `rate`: its RSS and CPU over the window, and the readings mosquitto delivered. */
async function steadyRun(gatewayBundle: AgentBundle, broker: Mosquitto, journalDir: string, rate: number, warmupS: number, durationS: number) {
  const subscriber = await createForwardingSubscriber({ brokerUrl: broker.url, clientId: 'edge-bench-subscriber', decodeEvery: 1 });
  const gateway = startJsonLinesProcess(gatewayBundle.outfile, [
    '--device', `edge-gw-${rate}`, '--secret', 'unused', '--broker', broker.url, '--journal', journalDir,
    '--source', 'simulated', '--sensors', SENSORS, '--rate', String(rate),
  ], GATEWAY_NODE_FLAGS);
  try {
    await gateway.waitFor((l) => l.ready === true, 60_000);
    const pid = gateway.child.pid!;
    await new Promise((resolve) => setTimeout(resolve, warmupS * 1000));
    subscriber.reset();
    const rss = sampleRss(pid);
    const cpu0 = processCpuSeconds(pid);
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, durationS * 1000));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (processCpuSeconds(pid) - cpu0) / seconds;
    const memory = rss.stop();
    const delivered = subscriber.window();
    return { cpuCores: cpu, rssMeanMiB: memory.meanMiB, rssMaxMiB: memory.maxMiB, deliveredPerSecond: delivered.readings / delivered.seconds };
  } finally {
    await gateway.stop();
    await subscriber.close();
  }
}

/** The outage: the agent journals while nothing listens on its broker's port, then mosquitto starts there and it replays. */
async function outageRun(runner: AgentRunner, journalDir: string, readings: number, log: (line: string) => void) {
  const port = await freePort();
  const agent: JsonLinesProcess = startJsonLinesProcess(runner.file, [
    '--journal', journalDir, '--broker', `mqtt://127.0.0.1:${port}`, '--readings', String(readings),
  ], runner.nodeArgs);
  let broker: Mosquitto | undefined;
  try {
    const ready = await agent.waitFor((l) => l.ready === true, 60_000);
    const pid = Number(ready.pid);
    const idleRss = processMemoryMiB(pid).rss;
    const outageRss = sampleRss(pid);
    const cpu0 = processCpuSeconds(pid);
    const journaled = await agent.waitFor((l) => l.journaled === true, 600_000);
    const outage = outageRss.stop();
    const outageHwm = processMemoryMiB(pid).hwm;
    const cpu1 = processCpuSeconds(pid);
    const stats = journaled.stats as { readingsJournaled: number; journal: { bytes: number } };
    log(`edge: ${basename(runner.file)}: ${stats.readingsJournaled} readings journaled in ${Number(journaled.seconds).toFixed(1)} s; RSS max ${outage.maxMiB.toFixed(1)} MiB; broker back`);

    const replayRss = sampleRss(pid);
    broker = await startMosquitto({ port });
    const brokerPid = broker.pid;
    const brokerCpu0 = processCpuSeconds(brokerPid);
    const replayed = await agent.waitFor((l) => l.replayed === true, 600_000);
    const replay = replayRss.stop();
    const cpu2 = processCpuSeconds(pid);
    const brokerCpu = processCpuSeconds(brokerPid) - brokerCpu0;
    const after = replayed.stats as { batchesAcked: number; batchesJournaled: number; readingsJournaled: number; journal: { dropped: Record<string, { readings: number }> } };
    const seconds = Number(replayed.seconds);
    const dropped = Object.values(after.journal.dropped).reduce((sum, d) => sum + d.readings, 0);
    return {
      idleRssMiB: idleRss,
      outageRssMaxMiB: outage.maxMiB,
      outageRssMeanMiB: outage.meanMiB,
      outageHwmMiB: outageHwm,
      outageHeapMiB: Number(journaled.heapMiB),
      journalSeconds: Number(journaled.seconds),
      journalBytes: stats.journal.bytes,
      journalCpuSeconds: cpu1 - cpu0,
      readingsJournaled: after.readingsJournaled,
      readingsDropped: dropped,
      batchesAcked: after.batchesAcked,
      batchesJournaled: after.batchesJournaled,
      replaySeconds: seconds,
      replayReadingsPerSecond: (after.readingsJournaled - dropped) / seconds,
      replayRssMaxMiB: replay.maxMiB,
      replayAgentCpuCores: (cpu2 - cpu1) / seconds,
      replayBrokerCpuCores: brokerCpu / seconds,
    };
  } finally {
    await agent.stop();
    await broker?.stop();
  }
}

/** The floors: RSS of a `node` doing nothing, bare or with the tsx loader the CLI runs under, on this machine, in this run. */
async function idleNodeRssMiB(loader: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...loader, '-e', 'setInterval(() => {}, 1000); console.log("up")'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    await once(child.stdout, 'data');
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let start-up settle
    return processMemoryMiB(child.pid!).rss;
  } finally {
    child.kill('SIGKILL');
  }
}

export function createEdgeScenario(full: EdgeScenarioOptions, smokeOptions: EdgeScenarioOptions): Scenario {
  return {
    name: 'edge',
    peers: [MOSQUITTO, PYMODBUS],
    question: QUESTION,
    async run({ durationS, smoke, workDir, log }: ScenarioOptions) {
      const o = smoke ? smokeOptions : full;
      const d = smoke ? 1 : durationS;
      const figures: Record<string, number> = {};
      // Built afresh from the working tree, as `npm run build:gateway` builds it; the outage agent
      // below is bundled the same way, so it runs the agent's code as the gateway does.
      const gatewayBundle = await buildGatewayBundle(join(workDir, 'cityops-gateway.mjs'));
      const deployed: AgentRunner = {
        file: (await buildAgentBundle(OUTAGE_AGENT, join(workDir, 'edge-outage-agent.mjs'))).outfile,
        nodeArgs: GATEWAY_NODE_FLAGS,
      };
      const fromSource: AgentRunner = { file: OUTAGE_AGENT, nodeArgs: ['--import', 'tsx'] };
      const broker = await startMosquitto();
      let modbusRssMax = Number.NaN;
      try {
        for (const rate of o.rates) {
          const dir = join(workDir, `journal-${rate}`);
          await mkdir(dir, { recursive: true });
          log(`edge: cityops-gateway.mjs at ${rate} readings/s for ${d} s`);
          const r = await steadyRun(gatewayBundle, broker, dir, rate, o.warmupS, d);
          Object.assign(figures, {
            [`gateway_${rate}_delivered_readings_per_second`]: Math.round(r.deliveredPerSecond),
            [`gateway_${rate}_rss_mean_mib`]: round(r.rssMeanMiB, 1),
            [`gateway_${rate}_rss_max_mib`]: round(r.rssMaxMiB, 1),
            [`gateway_${rate}_cpu_cores`]: round(r.cpuCores, 3),
            [`gateway_${rate}_cpu_cores_per_1k_readings_per_second`]: round(r.cpuCores / (rate / 1000), 4),
          });
        }
        const modbusDir = join(workDir, 'modbus');
        await mkdir(modbusDir, { recursive: true });
        log(`edge: cityops-gateway.mjs --modbus polling ${o.modbus.units * o.modbus.registersPerUnit} pymodbus registers every ${o.modbus.intervalMs} ms for ${d} s`);
        const m = await modbusRun(gatewayBundle, broker, modbusDir, { ...o.modbus, warmupS: o.warmupS, durationS: d });
        Object.assign(figures, {
          modbus_registers: m.registers,
          modbus_asked_registers_per_second: Math.round(m.askedRegistersPerSecond),
          modbus_registers_per_second: Math.round(m.registersPerSecond),
          modbus_agent_cpu_cores: round(m.agentCpuCores, 3),
          modbus_registers_per_second_per_core: Math.round(m.registersPerSecond / Math.max(m.agentCpuCores, 0.001)),
          modbus_pymodbus_cpu_cores: round(m.pymodbusCpuCores, 3),
          modbus_rss_mean_mib: round(m.rssMeanMiB, 1),
          modbus_rss_max_mib: round(m.rssMaxMiB, 1),
        });
        modbusRssMax = m.rssMaxMiB;
      } finally {
        await broker.stop();
      }
      log(`edge: outage of ${o.outageReadings} readings, bundled agent under node ${GATEWAY_NODE_FLAGS.join(' ')}`);
      const outage = await outageRun(deployed, join(workDir, 'outage-journal'), o.outageReadings, log);
      log(`edge: outage of ${o.outageReadings} readings, agent from source under tsx`);
      const source = await outageRun(fromSource, join(workDir, 'outage-journal-source'), o.outageReadings, log);
      const load = loadavg();
      Object.assign(figures, {
        bare_node_rss_mib: round(await idleNodeRssMiB([]), 1),
        tsx_node_rss_mib: round(await idleNodeRssMiB(['--import', 'tsx']), 1),
        outage_readings: o.outageReadings,
        outage_readings_journaled: outage.readingsJournaled,
        outage_readings_dropped: outage.readingsDropped,
        outage_journal_seconds: round(outage.journalSeconds, 2),
        outage_journal_readings_per_second: Math.round(outage.readingsJournaled / outage.journalSeconds),
        outage_journal_mib: round(outage.journalBytes / 2 ** 20, 1),
        outage_agent_idle_rss_mib: round(outage.idleRssMiB, 1),
        outage_rss_max_mib: round(outage.outageRssMaxMiB, 1),
        outage_rss_mean_mib: round(outage.outageRssMeanMiB, 1),
        outage_rss_hwm_mib: round(outage.outageHwmMiB, 1),
        outage_heap_used_mib: round(outage.outageHeapMiB, 1),
        replay_seconds: round(outage.replaySeconds, 2),
        replay_readings_per_second: Math.round(outage.replayReadingsPerSecond),
        replay_batches_acked: outage.batchesAcked,
        replay_rss_max_mib: round(outage.replayRssMaxMiB, 1),
        replay_agent_cpu_cores: round(outage.replayAgentCpuCores, 2),
        replay_broker_cpu_cores: round(outage.replayBrokerCpuCores, 2),
        source_outage_agent_idle_rss_mib: round(source.idleRssMiB, 1),
        source_outage_rss_max_mib: round(source.outageRssMaxMiB, 1),
        source_outage_rss_hwm_mib: round(source.outageHwmMiB, 1),
        source_replay_readings_per_second: Math.round(source.replayReadingsPerSecond),
        gateway_bundle_kib: Math.round(gatewayBundle.bytes / 1024),
        load_average_1m: round(load[0]!, 1),
      });
      const rssDuringOutage = Math.max(outage.outageRssMaxMiB, outage.outageHwmMiB);
      log(`edge: outage RSS max ${rssDuringOutage.toFixed(1)} MiB, replay ${Math.round(outage.replayReadingsPerSecond)} readings/s`);
      return withCharts(edgeCharts, {
        scenario: 'edge',
        question: QUESTION,
        figures,
        targets: [
          { name: `agent RSS during an outage of ${o.outageReadings.toLocaleString('en')} readings (max sampled and VmHWM)`, target: '< 80 MiB', met: rssDuringOutage < 80 },
          { name: 'journal replay after the outage', target: '>= 100000 readings/s', met: outage.replayReadingsPerSecond >= 100_000 && outage.readingsDropped === 0 },
          { name: 'agent RSS while polling Modbus TCP (max sampled)', target: '< 80 MiB', met: modbusRssMax < 80 },
        ],
        notes: [
          `Broker: Debian's mosquitto (anonymous, no persistence), so the agent is what is measured; how fast our ingest accepts is the ingest and broker scenarios' business. Everything shares ${availableParallelism()} cores; load average at the end ${load.map((l) => l.toFixed(1)).join(' ')}.`,
          `Steady runs: the gateway as deployed, \`node ${GATEWAY_NODE_FLAGS.join(' ')} cityops-gateway.mjs --source simulated\` (\`npm run build:gateway\`'s single file, built from this tree; 10 PM2.5 sensors, the shipped sensor models; journal with fsync per batch, 100-reading batches, QoS 1, window 32) at ${o.rates.join(', ')} readings/s, each a fresh process, ${o.warmupS} s warm-up then ${d} s measured: CPU from /proc/<pid>/stat, RSS from /proc/<pid>/status every 200 ms; delivered = readings a subscriber on mosquitto decoded over the window.`,
          `Outage: the agent (\`bench/src/edge-outage-agent.ts\` bundled as the gateway is and run by \`node ${GATEWAY_NODE_FLAGS.join(' ')}\`; the \`source_\` figures: the same from TypeScript source under \`node --import tsx\`; createGatewayAgent with the defaults: 64 MiB journal, fsync per batch, 100-reading batches; reconnects capped at 1 s apart instead of 60 s) in its own process, pointed at a port where nothing listens; ${o.outageReadings.toLocaleString('en')} readings pushed through agent.push() as fast as it accepts them (back-pressure from the journal). RSS sampled every 200 ms from start to the last reading on disk, plus VmHWM. Then mosquitto starts on that port; replay time runs from the agent's connect to all batches PUBACKed and their segments deleted (waitForIdle).`,
          `Modbus: the same bundle with \`--modbus MAP\` (bench/src/edge-modbus-run.ts) polling ${o.modbus.units} units x ${o.modbus.registersPerUnit} holding registers (uint16, scaled; one request per unit per poll, the protocol's 125-register maximum) every ${o.modbus.intervalMs} ms from Debian's pymodbus 3.0.0 over TCP on this machine, into the same mosquitto; registers/s = readings a subscriber decoded over the window; per core = over the agent's own CPU; the pymodbus server's CPU beside it says whether the Python peer set the pace (near 1 core) or the agent did.`,
          'RSS includes Node: `outage_agent_idle_rss_mib` is the outage agent just started, before any reading, `bare_node_rss_mib` a bare `node -e` doing nothing (the floor of any Node agent) and `tsx_node_rss_mib` the same under `--import tsx` (Node 20 runs the loader hooks on their own thread), which the `source_` figures carry. The bundle holds only what the gateway uses (no scanner, verifier or QR code modules; `gateway_bundle_kib`); `--optimize-for-size` keeps V8\'s young generation small (see cli/src/gateway-bundle.ts).',
        ],
      });
    },
  };
}

export const edgeScenario: Scenario = createEdgeScenario(FULL, SMOKE);
