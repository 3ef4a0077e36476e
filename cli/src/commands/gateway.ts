import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createGatewayAgent, createJsonLinesSource, createModbusSource, createSimulatedSource, isMetric, loadRegisterMapFile, type GatewayAgentConfigInput, type Metric } from '@cityops/edge-agent';
import { pino } from 'pino';
import { cliErrors } from '../cli-errors.ts';
import type { Shutdown } from '../shutdown.ts';
import { gatewayCheck } from './gateway-check.ts';

export const gatewayUsage = `cityops gateway --device ID --secret S [--broker mqtt://127.0.0.1:1883] [--journal DIR] [--ca FILE]
                [--source stdin | --source simulated --sensors pm25-1:pm25,wl-1:water_level --rate R | --modbus MAP.json]
                [--check]
  runs one gateway agent: readings from JSON lines on stdin ({"sensor","metric","value","ts"?,"alarm"?}),
  simulated sensors, or Modbus TCP/RTU registers polled as a register map says (--modbus; see
  edge-agent/examples/), journaled on disk, published with QoS 1, replayed after outages.
  With --source stdin it exits once stdin ends and everything journaled is acknowledged.
  --check validates the configuration and the map, reads every register once and prints each
  outcome as a JSON line; it publishes nothing and exits 1 on any problem.`;

export async function gatewayCommand(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown, input: Readable = process.stdin): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      device: { type: 'string' },
      secret: { type: 'string' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      journal: { type: 'string' },
      ca: { type: 'string' },
      source: { type: 'string', default: 'stdin' },
      sensors: { type: 'string' },
      rate: { type: 'string', default: '10' },
      modbus: { type: 'string' },
      check: { type: 'boolean', default: false },
    },
  });
  if (values.device === undefined || values.secret === undefined) throw cliErrors.CLI_ERR_USAGE('--device and --secret are required');
  const logger = pino({ name: 'cityops-gateway', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
  const config: GatewayAgentConfigInput = {
    deviceId: values.device,
    journalDir: resolve(values.journal ?? `.cityops-gateway/${values.device}`),
    mqtt: {
      url: values.broker,
      password: values.secret,
      ...(values.ca === undefined ? {} : { tls: { ca: await readFile(values.ca, 'utf8') } }),
    },
  };
  if (values.check) return gatewayCheck(config, values.modbus, out);
  const agent = createGatewayAgent(config, { logger });
  let source;
  if (values.modbus !== undefined) {
    source = createModbusSource(await loadRegisterMapFile(values.modbus), { logger });
  } else if (values.source === 'stdin') {
    source = createJsonLinesSource(input, {}, { logger });
  } else if (values.source === 'simulated') {
    const sensors = (values.sensors ?? 'pm25-1:pm25').split(',').map((pair) => {
      const [id, metric] = pair.split(':');
      if (id === undefined || metric === undefined || !isMetric(metric)) throw cliErrors.CLI_ERR_USAGE(`--sensors: ${pair} is not id:metric with a known metric`);
      return { id, metric: metric satisfies Metric };
    });
    source = createSimulatedSource({ sensors, ratePerSecond: Number(values.rate) });
  } else {
    throw cliErrors.CLI_ERR_USAGE(`--source must be stdin or simulated, not ${values.source}`);
  }
  shutdown.add(() => agent.stop());
  const run: { consuming?: Promise<void> } = {};
  // The source first; the agent takes what it had already read before the agent stops.
  shutdown.add(async () => {
    await source.stop();
    await run.consuming?.catch(() => undefined);
  });
  await agent.start();
  out.write(`${JSON.stringify({ ready: true, device: values.device, boot: agent.boot })}\n`);
  run.consuming = agent.consume(source);
  await run.consuming;
  if (values.source !== 'stdin' || values.modbus !== undefined) return;
  // stdin ended: send what is left and wait for the acknowledgements, then report and stop.
  agent.flush();
  await agent.waitForIdle();
  const { batchesAcked, ingestErrors } = agent.stats();
  out.write(`${JSON.stringify({ done: true, ...source.stats(), batchesAcked, ingestErrors })}\n`);
  await shutdown.run();
}
