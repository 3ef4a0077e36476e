import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { topics } from '@cityops/protocol';
import {
  createGatewayAgent,
  createRemoteConfig,
  createSourceSlot,
  gatewayLogSink,
  isMetric,
  loadGatewayConfigFile,
  loadRegisterMapFile,
  validateRegisterMap,
  type GatewayAgentConfigInput,
  type Metric,
} from '@cityops/edge-agent';
import { pino } from 'pino';
import { cliErrors } from '../cli-errors.ts';
import type { Shutdown } from '../shutdown.ts';
import { gatewayCheck } from './gateway-check.ts';
import { gatewaySourceBuilder, type BaseSource } from './gateway-sources.ts';

export const gatewayUsage = `cityops gateway --device ID --secret S [--broker mqtt://127.0.0.1:1883] [--journal DIR] [--ca FILE]
                [--source stdin | --source simulated --sensors pm25-1:pm25,wl-1:water_level --rate R | --modbus MAP.json]
                [--remote-config on|off] [--check]
cityops gateway --config FILE [--remote-config on|off] [--check]
                (an installed gateway: /etc/cityops/gateway.json, see edge-agent/README.md)
  runs one gateway agent: readings from JSON lines on stdin ({"sensor","metric","value","ts"?,"alarm"?}),
  simulated sensors, or Modbus TCP/RTU registers polled as a register map says (--modbus; see
  edge-agent/examples/), journaled on disk, published with QoS 1, replayed after outages.
  With --source stdin it exits once stdin ends and everything journaled is acknowledged.
  --check validates the configuration and the map, reads every register once and prints each
  outcome as a JSON line; it publishes nothing and exits 1 on any problem.
  Remote configuration (on by default): versions set with \`cityops device config\` arrive over MQTT,
  are applied or rejected and reported; the last one applied is kept in DIR/remote-config.json.`;

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
      modbus: { type: 'string' },
      config: { type: 'string' },
      check: { type: 'boolean', default: false },
      'remote-config': { type: 'string', default: 'on' },
    },
  });
  if (!['on', 'off'].includes(values['remote-config'])) throw cliErrors.CLI_ERR_USAGE('--remote-config takes on or off');
  const remote = values['remote-config'] === 'on';
  // An installed gateway: everything from the file (validated once), journald-aware logs.
  const file = values.config === undefined ? undefined : await gatewayFileSettings(values, process.env);
  if (file === undefined && (values.device === undefined || values.secret === undefined)) throw cliErrors.CLI_ERR_USAGE('--device and --secret are required (or --config FILE)');
  const logger = pino({ name: 'cityops-gateway', level: file?.logLevel ?? process.env.LOG_LEVEL ?? 'info' }, gatewayLogSink(process.env, pino.destination(2)));
  const config: GatewayAgentConfigInput = file?.agent ?? {
    deviceId: values.device!,
    journalDir: resolve(values.journal ?? `.cityops-gateway/${values.device}`),
    mqtt: {
      url: values.broker ?? 'mqtt://127.0.0.1:1883',
      password: values.secret,
      ...(values.ca === undefined ? {} : { tls: { ca: await readFile(values.ca, 'utf8') } }),
    },
  };
  const deviceId = config.deviceId;
  const journalDir = config.journalDir;
  const mapFile = file?.source.kind === 'modbus' ? file.source.mapFile : values.modbus;
  if (values.check) return gatewayCheck(config, mapFile, out);
  const sourceKind = file?.source.kind ?? values.source ?? 'stdin';
  let base: BaseSource;
  if (mapFile !== undefined) {
    base = { kind: 'modbus', map: await loadRegisterMapFile(mapFile) };
  } else if (file?.source.kind === 'simulated') {
    base = { kind: 'simulated', config: file.source.config };
  } else if (sourceKind === 'stdin') {
    base = { kind: 'stdin', input };
  } else if (sourceKind === 'simulated') {
    const sensors = (values.sensors ?? 'pm25-1:pm25').split(',').map((pair) => {
      const [id, metric] = pair.split(':');
      if (id === undefined || metric === undefined || !isMetric(metric)) throw cliErrors.CLI_ERR_USAGE(`--sensors: ${pair} is not id:metric with a known metric`);
      return { id, metric: metric satisfies Metric };
    });
    base = { kind: 'simulated', config: { sensors, ratePerSecond: Number(values.rate ?? '10') } };
  } else {
    throw cliErrors.CLI_ERR_USAGE(`--source must be stdin or simulated, not ${sourceKind}`);
  }
  const agent = createGatewayAgent(config, { logger, ...(remote ? { subscriptions: [topics.config(deviceId)] } : {}) });
  const buildSource = gatewaySourceBuilder(base, logger);
  const slot = createSourceSlot({ consume: (source) => agent.consume(source), logger });
  const validateModbus = (map: unknown) => {
    const result = validateRegisterMap(map);
    return result.ok ? [] : result.problems;
  };
  const remoteConfig = remote ? createRemoteConfig({ deviceId, file: join(journalDir, 'remote-config.json') }, { agent, slot, buildSource, validateModbus, logger }) : undefined;
  // Run in reverse: no version applied any more, then the source stopped and drained, then the agent.
  shutdown.add(() => agent.stop());
  shutdown.add(() => slot.stop());
  shutdown.add(() => remoteConfig?.stop());
  await agent.start();
  const ended = slot.ended();
  if (remoteConfig === undefined) await slot.swap(buildSource({}));
  else await remoteConfig.start();
  out.write(`${JSON.stringify({ ready: true, device: deviceId, boot: agent.boot, configVersion: remoteConfig?.version() ?? 0 })}\n`);
  await ended;
  if (base.kind !== 'stdin') return;
  // stdin ended: send what is left and wait for the acknowledgements, then report and stop.
  agent.flush();
  await agent.waitForIdle();
  const { batchesAcked, ingestErrors } = agent.stats();
  out.write(`${JSON.stringify({ done: true, ...slot.current()?.stats?.(), batchesAcked, ingestErrors })}\n`);
  await shutdown.run();
}

/** `--config FILE` stands alone: flags that would say the same thing again are refused, not merged. */
async function gatewayFileSettings(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv) {
  const clashing = ['device', 'secret', 'broker', 'journal', 'ca', 'source', 'sensors', 'rate', 'modbus'].filter((flag) => values[flag] !== undefined);
  if (clashing.length > 0) throw cliErrors.CLI_ERR_USAGE(`--config takes everything from the file; drop ${clashing.map((f) => `--${f}`).join(', ')}`);
  return loadGatewayConfigFile(resolve(values.config as string), env);
}
