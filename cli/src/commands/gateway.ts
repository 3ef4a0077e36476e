import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createGatewayAgent, createJsonLinesSource, createSimulatedSource, gatewayLogSink, isMetric, loadGatewayConfigFile, type Metric } from '@cityops/edge-agent';
import { pino } from 'pino';
import { cliErrors } from '../cli-errors.ts';
import type { Shutdown } from '../shutdown.ts';

export const gatewayUsage = `cityops gateway --device ID --secret S [--broker mqtt://127.0.0.1:1883] [--journal DIR] [--ca FILE]
                [--source stdin | --source simulated --sensors pm25-1:pm25,wl-1:water_level --rate R]
cityops gateway --config FILE   (an installed gateway: /etc/cityops/gateway.json, see edge-agent/README.md)
  runs one gateway agent: readings from JSON lines on stdin ({"sensor","metric","value","ts"?,"alarm"?})
  or simulated sensors, journaled on disk, published with QoS 1, replayed after outages.
  With --source stdin it exits once stdin ends and everything journaled is acknowledged.`;

export async function gatewayCommand(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown, input: Readable = process.stdin): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      device: { type: 'string' },
      secret: { type: 'string' },
      broker: { type: 'string' },
      journal: { type: 'string' },
      ca: { type: 'string' },
      source: { type: 'string' },
      sensors: { type: 'string' },
      rate: { type: 'string' },
      config: { type: 'string' },
    },
  });
  // An installed gateway: everything from the file (validated once), journald-aware logs.
  const file = values.config === undefined ? undefined : await gatewayFileSettings(values, process.env);
  if (file === undefined && (values.device === undefined || values.secret === undefined)) throw cliErrors.CLI_ERR_USAGE('--device and --secret are required (or --config FILE)');
  const logger = pino({ name: 'cityops-gateway', level: file?.logLevel ?? process.env.LOG_LEVEL ?? 'info' }, gatewayLogSink(process.env, pino.destination(2)));
  const agent = createGatewayAgent(
    file?.agent ?? {
      deviceId: values.device!,
      journalDir: resolve(values.journal ?? `.cityops-gateway/${values.device}`),
      mqtt: {
        url: values.broker ?? 'mqtt://127.0.0.1:1883',
        password: values.secret,
        ...(values.ca === undefined ? {} : { tls: { ca: await readFile(values.ca, 'utf8') } }),
      },
    },
    { logger },
  );
  const sourceKind = file?.source.kind ?? values.source ?? 'stdin';
  let source;
  if (file?.source.kind === 'simulated') {
    source = createSimulatedSource(file.source.config);
  } else if (sourceKind === 'stdin') {
    source = createJsonLinesSource(input, {}, { logger });
  } else if (sourceKind === 'simulated') {
    const sensors = (values.sensors ?? 'pm25-1:pm25').split(',').map((pair) => {
      const [id, metric] = pair.split(':');
      if (id === undefined || metric === undefined || !isMetric(metric)) throw cliErrors.CLI_ERR_USAGE(`--sensors: ${pair} is not id:metric with a known metric`);
      return { id, metric: metric satisfies Metric };
    });
    source = createSimulatedSource({ sensors, ratePerSecond: Number(values.rate ?? '10') });
  } else {
    throw cliErrors.CLI_ERR_USAGE(`--source must be stdin or simulated, not ${sourceKind}`);
  }
  shutdown.add(() => agent.stop());
  shutdown.add(() => source.stop());
  await agent.start();
  out.write(`${JSON.stringify({ ready: true, device: agent.config.deviceId, boot: agent.boot })}\n`);
  await agent.consume(source);
  if (sourceKind !== 'stdin') return;
  // stdin ended: send what is left and wait for the acknowledgements, then report and stop.
  agent.flush();
  await agent.waitForIdle();
  const { batchesAcked, ingestErrors } = agent.stats();
  out.write(`${JSON.stringify({ done: true, ...source.stats(), batchesAcked, ingestErrors })}\n`);
  await shutdown.run();
}

/** `--config FILE` stands alone: flags that would say the same thing again are refused, not merged. */
async function gatewayFileSettings(values: Record<string, string | undefined>, env: NodeJS.ProcessEnv) {
  const clashing = ['device', 'secret', 'broker', 'journal', 'ca', 'source', 'sensors', 'rate'].filter((flag) => values[flag] !== undefined);
  if (clashing.length > 0) throw cliErrors.CLI_ERR_USAGE(`--config takes everything from the file; drop ${clashing.map((f) => `--${f}`).join(', ')}`);
  return loadGatewayConfigFile(resolve(values.config!), env);
}
