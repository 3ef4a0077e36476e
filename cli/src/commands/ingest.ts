import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createIngestService } from '@cityops/ingest';
import { openWarehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { cliErrors } from '../cli-errors.ts';
import { warehouseConfigFrom } from '../store-option.ts';
import type { Shutdown } from '../shutdown.ts';
import { slowInsertsFrom, slowInsertsUsage } from '../slow-inserts-option.ts';
import { tokenFileOption } from '../token-file.ts';

export const ingestUsage = `cityops ingest [--data DIR] [--store URL] [--host H] [--mqtt-port P] [--http-port P] [--admin-token T] [--no-fsync]
                [--redis redis://HOST:PORT --instance NAME [--adopt-wal NAME=DIR]... [--no-shared-claims]]
                [--tls-dir DIR | --tls-key FILE --tls-cert FILE [--tls-ca FILE]] [--mqtts-port 8883] [--no-plain-mqtt]
                [--client-cert off|optional|required] [--limit-exempt ADDR,...] [--slow-inserts-ms N] [--slow-inserts-file FILE]
                [--tokens FILE]
  runs the broker, the telemetry pipeline and the ingest HTTP API alone; prints one JSON line with its addresses when ready.
  --redis shares routing, retained messages and persistent sessions with the other instances on that Redis;
  --instance names this instance's pipeline status (unique among live instances; default "ingest");
  --adopt-wal NAME=DIR: once ready, replays the WAL of dead instance NAME (its --data DIR, e.g. its disk mounted
  here) into the warehouse and resolves its batch claims; prints {"adopted": ...} (docs/OPERATIONS.md);
  --no-shared-claims: benchmarks only (as --no-fsync): no batch claims in Redis, a resend to another instance may be stored twice;
  --tls-dir (server-key.pem, server.pem, ca.pem, as written by 'cityops certs dev') or --tls-key/--tls-cert:
  MQTT over TLS on --mqtts-port and HTTPS (instead of HTTP) on --http-port;
  --no-plain-mqtt (needs TLS): no plain MQTT listener, MQTT over TLS only;
  --client-cert (needs TLS and its CA): device certificates on MQTT over TLS, CN = device id, beside the secret;
  --limit-exempt: addresses never rate-limited or locked out (default 127.0.0.1,::1; e.g. a load balancer's)
  --tokens FILE: API token entries (cityops token new), as on 'cityops up'; edits take effect while running
${slowInsertsUsage}`;

/** PEM text of the server key, certificate and CA, from --tls-dir or --tls-key/--tls-cert/--tls-ca. */
async function tlsFrom(values: { 'tls-dir'?: string | undefined; 'tls-key'?: string | undefined; 'tls-cert'?: string | undefined; 'tls-ca'?: string | undefined }) {
  const dir = values['tls-dir'];
  if (dir !== undefined && (values['tls-key'] ?? values['tls-cert']) !== undefined) throw cliErrors.CLI_ERR_USAGE('--tls-dir or --tls-key/--tls-cert, not both');
  const key = dir === undefined ? values['tls-key'] : join(dir, 'server-key.pem');
  const cert = dir === undefined ? values['tls-cert'] : join(dir, 'server.pem');
  const ca = dir === undefined ? values['tls-ca'] : join(dir, 'ca.pem');
  if (key === undefined && cert === undefined) return undefined;
  if (key === undefined || cert === undefined) throw cliErrors.CLI_ERR_USAGE('--tls-key and --tls-cert go together');
  // Read errors name the file, never its contents.
  const read = (file: string) => readFile(file, 'utf8').catch((err: unknown) => Promise.reject(cliErrors.CLI_ERR_USAGE(`cannot read ${file}`, err)));
  return { key: await read(key), cert: await read(cert), ...(ca === undefined ? {} : { ca: await read(ca) }) };
}

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
      'adopt-wal': { type: 'string', multiple: true },
      'no-shared-claims': { type: 'boolean', default: false },
      'tls-dir': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-ca': { type: 'string' },
      'mqtts-port': { type: 'string', default: '8883' },
      'no-plain-mqtt': { type: 'boolean', default: false },
      'client-cert': { type: 'string', default: 'off' },
      'limit-exempt': { type: 'string' },
      'slow-inserts-ms': { type: 'string' },
      'slow-inserts-file': { type: 'string' },
      tokens: { type: 'string' },
    },
  });
  const adoptions = (values['adopt-wal'] ?? []).map((spec) => {
    const at = spec.indexOf('=');
    if (at <= 0 || at === spec.length - 1) throw cliErrors.CLI_ERR_USAGE(`--adopt-wal ${spec}: expected NAME=DIR`);
    return { instance: spec.slice(0, at), dir: spec.slice(at + 1) };
  });
  if (adoptions.length > 0 && values.redis === undefined) throw cliErrors.CLI_ERR_USAGE('--adopt-wal needs --redis (the claims and leases are there)');
  const tls = await tlsFrom(values);
  if (values['no-plain-mqtt'] && tls === undefined) throw cliErrors.CLI_ERR_USAGE('--no-plain-mqtt needs --tls-dir or --tls-key/--tls-cert');
  const clientCert = values['client-cert'];
  if (clientCert !== 'off' && clientCert !== 'optional' && clientCert !== 'required') throw cliErrors.CLI_ERR_USAGE('--client-cert must be off, optional or required');
  if (clientCert !== 'off' && tls?.ca === undefined) throw cliErrors.CLI_ERR_USAGE('--client-cert needs TLS with a CA (--tls-dir, or --tls-ca)');
  const logger = pino({ name: 'cityops-ingest', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
  const { tokens, store: tokenStore } = await tokenFileOption(values.tokens, shutdown, { logger });
  const warehouse = await openWarehouse(warehouseConfigFrom(values));
  shutdown.add(() => warehouse.close());
  const slowInserts = slowInsertsFrom(values, warehouse, (ms, change) => out.write(`${JSON.stringify({ insertDelayMs: ms, change })}\n`));
  shutdown.add(() => slowInserts.stop());
  const ingest = createIngestService(
    {
      dataDir: values.data,
      mqtt: {
        host: values.host,
        port: Number(values['mqtt-port']),
        plain: !values['no-plain-mqtt'],
        ...(tls === undefined ? {} : { tls: { host: values.host, port: Number(values['mqtts-port']), ...tls, clientCert } }),
      },
      http: {
        host: values.host,
        port: Number(values['http-port']),
        ...(values['admin-token'] === undefined ? {} : { adminToken: values['admin-token'] }),
        tokens,
        ...(tls === undefined ? {} : { tls }),
      },
      wal: { fsync: !values['no-fsync'] },
      ...(values['limit-exempt'] === undefined ? {} : { limits: { exemptAddresses: values['limit-exempt'].split(',').filter((a) => a !== '') } }),
      ...(values['flush-rows'] === undefined ? {} : { writer: { flushRows: Number(values['flush-rows']) } }),
      ...(values.redis === undefined ? {} : { cluster: { redisUrl: values.redis, sharedClaims: !values['no-shared-claims'] } }),
      ...(values.instance === undefined ? {} : { pipelineStatus: { instance: values.instance } }),
    },
    { warehouse: slowInserts.warehouse, logger, ...(tokenStore === undefined ? {} : { tokens: tokenStore }) },
  );
  shutdown.add(() => ingest.stop());
  const addresses = await ingest.start();
  out.write(`${JSON.stringify({ ready: true, pid: process.pid, ...addresses })}\n`);
  for (const { instance, dir } of adoptions) {
    // A failed adoption (the instance is alive, the warehouse down) leaves this instance serving; run it again.
    const line = await ingest.adoptWal(dir, instance).then(
      (report) => ({ adopted: report }),
      (err: unknown) => {
        logger.error({ err, instance }, 'WAL adoption failed');
        return { adoptionFailed: { instance, code: (err as { code?: string }).code ?? 'INGEST_ERR_INTERNAL', message: (err as Error).message } };
      },
    );
    out.write(`${JSON.stringify(line)}\n`);
  }
}
