import { parseArgs } from 'node:util';
import { createDirectPublisher, readCredentialsFile, summarizeLatencies } from '@cityops/simulators';
import { cliErrors } from '../cli-errors.ts';
import type { Shutdown } from '../shutdown.ts';

export const simulateUsage = `cityops simulate --credentials FILE --broker URL [--gateways N] [--rate R] [--mode direct] [--batch 100] [--duration S]
  drives provisioned gateways from this process: R readings per second in all;
  --mode direct: journal-less publishers for load tests (prints a JSON summary when --duration ends)`;

export async function simulateCommand(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      credentials: { type: 'string' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      gateways: { type: 'string' },
      rate: { type: 'string', default: '1000' },
      batch: { type: 'string', default: '100' },
      inflight: { type: 'string', default: '16' },
      mode: { type: 'string', default: 'direct' },
      duration: { type: 'string' },
    },
  });
  if (values.credentials === undefined) throw cliErrors.CLI_ERR_USAGE('--credentials FILE is required (written by `cityops up` or a benchmark)');
  const all = await readCredentialsFile(values.credentials);
  const devices = values.gateways === undefined ? all : all.slice(0, Number(values.gateways));
  if (values.mode !== 'direct') throw cliErrors.CLI_ERR_USAGE(`unknown --mode ${values.mode}`);
  const publisher = createDirectPublisher({
    brokerUrl: values.broker,
    devices,
    readingsPerSecond: Number(values.rate),
    readingsPerBatch: Number(values.batch),
    inflight: Number(values.inflight),
  });
  shutdown.add(() => publisher.stop());
  await publisher.start();
  out.write(`${JSON.stringify({ ready: true, gateways: devices.length, rate: Number(values.rate) })}\n`);
  if (values.duration === undefined) return;
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, Number(values.duration) * 1000));
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
  process.exit(0);
}
