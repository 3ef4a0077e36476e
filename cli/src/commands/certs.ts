import { execFile } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { cliErrors } from '../cli-errors.ts';

const run = promisify(execFile);

export const certsUsage = `cityops certs dev --out DIR [--hosts localhost,127.0.0.1] [--client NAME] [--days 365] [--force]
  a development CA and a server certificate for those hosts (and a client certificate with --client), made
  with the system's openssl (Debian: apt-get install openssl). Writes ca.pem, ca-key.pem, server.pem,
  server-key.pem [, client.pem, client-key.pem]; keys are mode 0600. Then: cityops ingest --tls-dir DIR
  (MQTT over TLS and HTTPS); clients trust DIR/ca.pem. For development and tests only: the CA key sits beside
  the certificates, so anyone who can read DIR can mint certificates your clients will trust.`;

export interface DevCaOptions {
  readonly out: string;
  /** DNS names and IP addresses the server certificate is valid for (subjectAltName). */
  readonly hosts: readonly string[];
  /** Also a client certificate with this common name (for mutual TLS). */
  readonly client?: string;
  readonly days: number;
  /** Overwrite an existing CA in `out`. */
  readonly force?: boolean;
}

export interface DevCaFiles {
  readonly ca: string;
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') throw cliErrors.CLI_ERR_USAGE('openssl not found: install it (Debian: apt-get install openssl)');
    const raw = (err as { stderr?: unknown }).stderr;
    const stderr = typeof raw === 'string' ? raw.trim() : '';
    throw cliErrors.CLI_ERR_USAGE(`openssl ${args[0] ?? ''} failed: ${stderr.split('\n')[0] ?? ''}`, err);
  }
}

function subjectAltName(hosts: readonly string[]): string {
  return hosts.map((h) => (isIP(h) === 0 ? `DNS:${h}` : `IP:${h}`)).join(',');
}

/**
 * A throwaway CA (EC P-256) that signs a server certificate for `hosts` and optionally a client
 * certificate: what test-peers/dev-certificates.ts does for the tests, as a command for people.
 */
export async function createDevCa(options: DevCaOptions): Promise<DevCaFiles> {
  const out = resolve(options.out);
  const hosts = options.hosts.map((h) => h.trim()).filter((h) => h !== '');
  if (hosts.length === 0) throw cliErrors.CLI_ERR_USAGE('--hosts needs at least one DNS name or IP address');
  for (const h of hosts) {
    if (isIP(h) === 0 && !/^[A-Za-z0-9*]([A-Za-z0-9.-]{0,252})$/.test(h)) throw cliErrors.CLI_ERR_USAGE(`--hosts: ${JSON.stringify(h)} is not a DNS name or IP address`);
  }
  if (options.client !== undefined && !/^[A-Za-z0-9._:-]{1,64}$/.test(options.client)) throw cliErrors.CLI_ERR_USAGE('--client must be 1-64 of A-Z a-z 0-9 . _ : -');
  if (!Number.isInteger(options.days) || options.days < 1 || options.days > 3650) throw cliErrors.CLI_ERR_USAGE('--days must be 1 to 3650');
  await mkdir(out, { recursive: true });
  const exists = await access(join(out, 'ca.pem')).then(
    () => true,
    () => false,
  );
  if (exists && options.force !== true) throw cliErrors.CLI_ERR_USAGE(`${join(out, 'ca.pem')} exists: pass --force to replace the CA`);

  // Work in a private temp dir inside `out`, then move the finished files in: never half a CA.
  const work = await mkdtemp(join(out, '.certs-'));
  const w = (name: string) => join(work, name);
  const days = String(options.days);
  try {
    await openssl(['req', '-x509', ...EC, '-keyout', w('ca-key.pem'), '-out', w('ca.pem'), '-days', days, '-subj', '/CN=cityops development CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const issue = async (name: string, cn: string, extensions: string) => {
      await openssl(['req', ...EC, '-keyout', w(`${name}-key.pem`), '-out', w(`${name}.csr`), '-subj', `/CN=${cn}`]);
      await writeFile(w(`${name}.ext`), extensions);
      await openssl(['x509', '-req', '-in', w(`${name}.csr`), '-CA', w('ca.pem'), '-CAkey', w('ca-key.pem'), '-CAcreateserial',
        '-out', w(`${name}.pem`), '-days', days, '-extfile', w(`${name}.ext`)]);
    };
    await issue('server', hosts[0]!, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${subjectAltName(hosts)}\n`);
    if (options.client !== undefined) {
      await issue('client', options.client, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
    }
    const names = ['ca.pem', 'ca-key.pem', 'server.pem', 'server-key.pem', ...(options.client === undefined ? [] : ['client.pem', 'client-key.pem'])];
    for (const name of names) {
      await chmod(w(name), name.endsWith('-key.pem') ? 0o600 : 0o644);
      await rename(w(name), join(out, name));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return {
    ca: join(out, 'ca.pem'),
    caKey: join(out, 'ca-key.pem'),
    cert: join(out, 'server.pem'),
    key: join(out, 'server-key.pem'),
    ...(options.client === undefined ? {} : { clientCert: join(out, 'client.pem'), clientKey: join(out, 'client-key.pem') }),
  };
}

export async function certsCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      hosts: { type: 'string', default: 'localhost,127.0.0.1' },
      client: { type: 'string' },
      days: { type: 'string', default: '365' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals[0] !== 'dev' || positionals.length !== 1 || values.out === undefined) throw cliErrors.CLI_ERR_USAGE(certsUsage);
  const files = await createDevCa({
    out: values.out,
    hosts: values.hosts.split(','),
    days: Number(values.days),
    force: values.force,
    ...(values.client === undefined ? {} : { client: values.client }),
  });
  if (values.json) {
    out.write(`${JSON.stringify(files)}\n`);
    return;
  }
  out.write(
    [
      `development CA written to ${resolve(values.out)}`,
      `  CA certificate      ${files.ca}   (give this to clients to trust)`,
      `  CA key              ${files.caKey}   (0600; development only)`,
      `  server certificate  ${files.cert}   for ${values.hosts}`,
      `  server key          ${files.key}   (0600)`,
      ...(files.clientCert === undefined ? [] : [`  client certificate  ${files.clientCert}   key ${files.clientKey}`]),
      `Run: cityops ingest --tls-dir ${resolve(values.out)}`,
      '',
    ].join('\n'),
  );
}
