import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GATEWAY_NODE_FLAGS, type AgentBundle } from '../../cli/src/gateway-bundle.ts';
import { startModbusServer } from '../../test-peers/modbus-server.ts';
import type { Mosquitto } from '../../test-peers/mosquitto.ts';
import { startJsonLinesProcess } from './agent-process.ts';
import { createForwardingSubscriber } from './forwarding-subscriber.ts';
import { processCpuSeconds } from './process-cpu.ts';
import { sampleRss } from './process-memory.ts';

export interface ModbusRunOptions {
  /** Modbus units on the pymodbus server, each with `registersPerUnit` holding registers. */
  readonly units: number;
  /** At most 125: all of a unit's registers are read in one request. */
  readonly registersPerUnit: number;
  /** Every register's poll interval: the rate asked for is units x registersPerUnit x 1000 / intervalMs. */
  readonly intervalMs: number;
  readonly warmupS: number;
  readonly durationS: number;
}

export interface ModbusRunResult {
  readonly registers: number;
  readonly askedRegistersPerSecond: number;
  /** Registers read and delivered (each one a reading a subscriber on mosquitto decoded). */
  readonly registersPerSecond: number;
  readonly agentCpuCores: number;
  readonly pymodbusCpuCores: number;
  readonly rssMeanMiB: number;
  readonly rssMaxMiB: number;
}

/**
 * `cityops-gateway.mjs --modbus MAP` (the deployed bundle) polling a pymodbus 3.0.0 Modbus TCP
 * server (Debian's python3-pymodbus) into mosquitto: registers/s delivered, the agent's CPU and
 * RSS over the window, and the server's CPU, so a run says which side set the pace.
 */
export async function modbusRun(gatewayBundle: AgentBundle, broker: Mosquitto, dir: string, o: ModbusRunOptions): Promise<ModbusRunResult> {
  const server = await startModbusServer({ kind: 'tcp' });
  const subscriber = await createForwardingSubscriber({ brokerUrl: broker.url, clientId: 'edge-bench-modbus-subscriber', decodeEvery: 1 });
  let gateway: ReturnType<typeof startJsonLinesProcess> | undefined;
  try {
    const registers = [];
    for (let unit = 1; unit <= o.units; unit++) {
      await server.set(unit, 'hr', 0, Array.from({ length: o.registersPerUnit }, (_, i) => i * 10));
      for (let address = 0; address < o.registersPerUnit; address++) {
        registers.push({ sensor: `u${unit}-r${address}`, metric: 'pm25', unit, table: 'holding', address, type: 'uint16', scale: 0.1, intervalMs: o.intervalMs });
      }
    }
    const mapFile = join(dir, 'modbus-map.json');
    await writeFile(mapFile, JSON.stringify({ connection: { kind: 'tcp', host: '127.0.0.1', port: server.port }, timeoutMs: 1000, registers }));
    gateway = startJsonLinesProcess(
      gatewayBundle.outfile,
      ['--device', 'edge-gw-modbus', '--secret', 'unused', '--broker', broker.url, '--journal', join(dir, 'journal'), '--modbus', mapFile],
      GATEWAY_NODE_FLAGS,
    );
    await gateway.waitFor((l) => l.ready === true, 60_000);
    const pid = gateway.child.pid!;
    await new Promise((resolve) => setTimeout(resolve, o.warmupS * 1000));
    subscriber.reset();
    const rss = sampleRss(pid);
    const cpu0 = processCpuSeconds(pid);
    const serverCpu0 = processCpuSeconds(server.pid);
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, o.durationS * 1000));
    const seconds = (performance.now() - t0) / 1000;
    const agentCpuCores = (processCpuSeconds(pid) - cpu0) / seconds;
    const pymodbusCpuCores = (processCpuSeconds(server.pid) - serverCpu0) / seconds;
    const memory = rss.stop();
    const delivered = subscriber.window();
    return {
      registers: registers.length,
      askedRegistersPerSecond: (registers.length * 1000) / o.intervalMs,
      registersPerSecond: delivered.readings / delivered.seconds,
      agentCpuCores,
      pymodbusCpuCores,
      rssMeanMiB: memory.meanMiB,
      rssMaxMiB: memory.maxMiB,
    };
  } finally {
    await gateway?.stop();
    await subscriber.close();
    await server.stop();
  }
}
