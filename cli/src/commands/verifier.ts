import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createVerifierService } from '@cityops/verifier';
import { openWarehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { cliErrors } from '../cli-errors.ts';
import { serviceSecret, sharedSecretFile } from '../service-credentials.ts';
import type { Shutdown } from '../shutdown.ts';
import { warehouseConfigFrom } from '../store-option.ts';
import { tokenFileOption } from '../token-file.ts';

export const verifierUsage = `cityops verifier --trust FILE|URL [--revocation FILE|URL] [--mqtt mqtt://HOST:PORT] [--service-id ID]
                  [--data DIR] [--store URL] [--host H] [--http-port 8081] [--pseudonym-key-file FILE] [--group NAME]
                  [--tokens FILE] [--open-verification] [--push-key FILE]
  runs the verifier alone (a scaled deployment runs several): HTTP, and MQTT request/response through the broker as
  service device ID (default cityops-verifier; provisioned in the store's registry on first start, its secret kept in
  DIR/ID-credentials.json); audit events go to the store, pseudonymised with the key in --pseudonym-key-file (made if
  absent; default DIR/pseudonym-key; share it between verifiers). Prints one JSON line when ready
  --tokens FILE: API token entries (cityops token new), as on 'cityops up'; edits take effect while running (without it GET /v1/audit is closed)
  POST /v1/verify takes a scanner's device credentials (HTTP Basic) or a token of role venue; --open-verification (a development
  city only) also answers without credentials, recorded for no venue
  --push-key FILE: an Ed25519 or EC private key (PEM; openssl genpkey -algorithm ed25519): with --mqtt, the trust list and
  revocation filter are pushed to scanners, signed, retained on cityops/v1/reference/* (scanners: cityops scan --push-key)`;

export async function verifierCommand(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      trust: { type: 'string' },
      revocation: { type: 'string' },
      mqtt: { type: 'string' },
      'service-id': { type: 'string', default: 'cityops-verifier' },
      data: { type: 'string', default: '.cityops' },
      store: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'http-port': { type: 'string', default: '8081' },
      'pseudonym-key-file': { type: 'string' },
      group: { type: 'string' },
      tokens: { type: 'string' },
      'open-verification': { type: 'boolean', default: false },
      'push-key': { type: 'string' },
    },
  });
  if (values.trust === undefined) throw cliErrors.CLI_ERR_USAGE(`--trust is required\n\n${verifierUsage}`);
  const dataDir = resolve(values.data);
  const id = values['service-id'];
  const logger = pino({ name: 'cityops-verifier', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
  const { tokens, store: tokenStore } = await tokenFileOption(values.tokens, shutdown, { logger });
  const warehouse = await openWarehouse(warehouseConfigFrom({ store: values.store, data: dataDir }));
  shutdown.add(() => warehouse.close());
  const pseudonymKey = await sharedSecretFile(values['pseudonym-key-file'] ?? join(dataDir, 'pseudonym-key'));
  const mqtt =
    values.mqtt === undefined
      ? undefined
      : {
          url: values.mqtt,
          username: id,
          password: await serviceSecret(warehouse, id, join(dataDir, `${id}-credentials.json`)),
          clientId: id,
          ...(values.group === undefined ? {} : { group: values.group }),
        };
  const verifier = createVerifierService(
    {
      trust: { source: values.trust },
      ...(values.revocation === undefined ? {} : { revocation: { source: values.revocation } }),
      http: { host: values.host, port: Number(values['http-port']), tokens, verifyAccess: values['open-verification'] ? 'open' : 'credentials' },
      ...(mqtt === undefined ? {} : { mqtt }),
      audit: { pseudonymKey },
      ...(values['push-key'] === undefined ? {} : { referencePush: { signingKey: await readFile(values['push-key'], 'utf8') } }),
    },
    { warehouse, logger, ...(tokenStore === undefined ? {} : { tokens: tokenStore }) },
  );
  shutdown.add(() => verifier.stop());
  const addresses = await verifier.start();
  out.write(`${JSON.stringify({ ready: true, pid: process.pid, id, ...addresses })}\n`);
}
