import { access, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  createAgentFleet,
  createDirectPublisher,
  generateCity,
  provisionGateways,
  readCredentialsFile,
  summarizeLatencies,
  writeCredentialsFile,
  type DeviceCredentials,
} from '@cityops/simulators';
import { pino } from 'pino';
import { cliErrors } from '../cli-errors.ts';
import type { Shutdown } from '../shutdown.ts';

export const simulateUsage = `cityops simulate [--gateways N] [--rate R] [--broker URL] [--api URL --token T] [--credentials FILE] [--dir DIR]
                 [--mode agents|direct] [--batch 100] [--duration S]
  drives N simulated gateways from this process, R readings per second in all.
  Gateways are provisioned through a running cityops's API (--api, --token: the admin token that
  'cityops up' printed) the first time, their credentials kept in --credentials (default DIR/credentials.json).
  --mode agents (default): real gateway agents, journals on disk in DIR/journals, replay after outages.
  --mode direct: journal-less publishers for load tests; prints a JSON summary when --duration ends.`;

async function loadOrProvision(options: {
  credentials: string;
  gateways: number;
  api?: string | undefined;
  token?: string | undefined;
}): Promise<DeviceCredentials[]> {
  const exists = await access(options.credentials).then(
    () => true,
    () => false,
  );
  const known = exists ? await readCredentialsFile(options.credentials) : [];
  if (known.length >= options.gateways) return known.slice(0, options.gateways);
  if (options.api === undefined || options.token === undefined) {
    throw cliErrors.CLI_ERR_USAGE(
      `${options.credentials} holds ${known.length} gateways, ${options.gateways} wanted: give --api and --token to provision the rest`,
    );
  }
  const city = generateCity({ gateways: options.gateways, seed: 11, idPrefix: 'sim-gw-' });
  const fresh = await provisionGateways(options.api, options.token, city.gateways.slice(known.length));
  const all = [...known, ...fresh];
  await mkdir(dirname(options.credentials), { recursive: true });
  await writeCredentialsFile(options.credentials, all);
  return all;
}

export async function simulateCommand(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string', default: '.cityops-sim' },
      credentials: { type: 'string' },
      api: { type: 'string' },
      token: { type: 'string' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      gateways: { type: 'string', default: '100' },
      rate: { type: 'string', default: '1000' },
      batch: { type: 'string', default: '100' },
      inflight: { type: 'string', default: '16' },
      mode: { type: 'string', default: 'agents' },
      duration: { type: 'string' },
    },
  });
  const dir = resolve(values.dir);
  const gateways = Number(values.gateways);
  const rate = Number(values.rate);
  if (!(gateways > 0) || !(rate > 0)) throw cliErrors.CLI_ERR_USAGE('--gateways and --rate must be positive numbers');
  if (values.mode !== 'agents' && values.mode !== 'direct') throw cliErrors.CLI_ERR_USAGE(`unknown --mode ${values.mode}`);
  const devices = await loadOrProvision({
    credentials: values.credentials ?? join(dir, 'credentials.json'),
    gateways,
    api: values.api,
    token: values.token,
  });

  if (values.mode === 'agents') {
    const logger = pino({ name: 'cityops-simulate', level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2));
    const fleet = createAgentFleet({ brokerUrl: values.broker, devices, journalRoot: join(dir, 'journals'), readingsPerSecond: rate }, { logger });
    shutdown.add(() => fleet.stop());
    await fleet.start();
    out.write(`${JSON.stringify({ ready: true, mode: 'agents', gateways: devices.length, rate })}\n`);
    const timer = setInterval(() => out.write(`${JSON.stringify({ stats: fleet.stats() })}\n`), 10_000);
    timer.unref();
    shutdown.add(() => clearInterval(timer));
    return;
  }

  const publisher = createDirectPublisher({
    brokerUrl: values.broker,
    devices,
    readingsPerSecond: rate,
    readingsPerBatch: Number(values.batch),
    inflight: Number(values.inflight),
  });
  shutdown.add(() => publisher.stop());
  await publisher.start();
  out.write(`${JSON.stringify({ ready: true, mode: 'direct', gateways: devices.length, rate })}\n`);
  if (values.duration === undefined) return;
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  await new Promise((resolveTimer) => setTimeout(resolveTimer, Number(values.duration) * 1000));
  await publisher.stop();
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const stats = publisher.stats();
  out.write(
    `${JSON.stringify({
      done: true,
      seconds,
      published: stats.published,
      acked: stats.acked,
      readingsAcked: stats.readingsAcked,
      errors: stats.errors,
      ackLatencyMs: summarizeLatencies(stats.ackLatenciesMs),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    })}\n`,
  );
  await shutdown.run();
  process.exit(0);
}
