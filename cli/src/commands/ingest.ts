import { parseArgs } from 'node:util';
import { createIngestService } from '@cityops/ingest';
import { openWarehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { warehouseConfigFrom } from '../store-option.ts';
import type { Shutdown } from '../shutdown.ts';

export const ingestUsage = `cityops ingest [--data DIR] [--store URL] [--host H] [--mqtt-port P] [--http-port P] [--admin-token T] [--no-fsync]
                [--redis redis://HOST:PORT --instance NAME]
  runs the broker, the telemetry pipeline and the ingest HTTP API alone; prints one JSON line with its addresses when ready.
  --redis shares routing, retained messages and persistent sessions with the other instances on that Redis;
  --instance names this instance's pipeline status (unique among live instances; default "ingest")`;

export async function ingestCommand(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string', default: '.cityops' },
      store: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'mqtt-port': { type: 'string', default: '1883' },
      'http-port': { type: 'string', default: '8080' },
      'admin-token': { type: 'string' },
      'no-fsync': { type: 'boolean', default: false },
      'flush-rows': { type: 'string' },
      redis: { type: 'string' },
      instance: { type: 'string' },
    },
  });
  const logger = pino({ name: 'cityops-ingest', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
  const warehouse = await openWarehouse(warehouseConfigFrom(values));
  shutdown.add(() => warehouse.close());
  const ingest = createIngestService(
    {
      dataDir: values.data,
      mqtt: { host: values.host, port: Number(values['mqtt-port']) },
      http: {
        host: values.host,
        port: Number(values['http-port']),
        ...(values['admin-token'] === undefined ? {} : { adminToken: values['admin-token'] }),
      },
      wal: { fsync: !values['no-fsync'] },
      ...(values['flush-rows'] === undefined ? {} : { writer: { flushRows: Number(values['flush-rows']) } }),
      ...(values.redis === undefined ? {} : { cluster: { redisUrl: values.redis } }),
      ...(values.instance === undefined ? {} : { pipelineStatus: { instance: values.instance } }),
    },
    { warehouse, logger },
  );
  shutdown.add(() => ingest.stop());
  const addresses = await ingest.start();
  out.write(`${JSON.stringify({ ready: true, pid: process.pid, ...addresses })}\n`);
}
