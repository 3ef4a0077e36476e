import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface DevCertificates {
  readonly caPem: string;
  readonly keyPem: string;
  readonly certPem: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1/localhost, made with Debian's openssl. */
export async function createDevCertificates(dir: string): Promise<DevCertificates> {
  const p = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=cityops test CA']);
  await run('openssl', ['req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost']);
  await writeFile(p('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await run('openssl', ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('server.ext')]);
  const [caPem, keyPem, certPem] = await Promise.all([readFile(p('ca.pem'), 'utf8'), readFile(p('server.key'), 'utf8'), readFile(p('server.pem'), 'utf8')]);
  return { caPem, keyPem, certPem };
}
