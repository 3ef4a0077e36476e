import { generateKeyPairSync } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { runVerify } from './run-verify.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { scanCommand } from '../src/commands/scan.ts';
import { createShutdown } from '../src/shutdown.ts';
import { dccVaccination } from '../../verifier/test/code-fixtures.ts';
import { createTrustPki, type TrustPki } from '../../verifier/test/trust-pki.ts';

const run = runVerify;

describe('cityops verify --trust in the formats backends publish', () => {
  let dir: string;
  let pki: TrustPki;
  const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const path = (name: string) => join(dir, name);
  const dccOf = (country: string) => pki.countries[country]!.issuer.issueDcc({ payload: { ...dccVaccination(), v: [{ ...dccVaccination().v![0]!, co: country }] } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-verify-trust-'));
    pki = createTrustPki();
    await writeFile(path('gateway.json'), JSON.stringify(pki.gatewayList()));
    await writeFile(path('anchor.pem'), pki.anchorPem);
    await writeFile(path('national.txt'), pki.nationalList(pki.gatewayList(), signer.privateKey));
    await writeFile(path('signer.pem'), signer.publicKey.export({ type: 'spki', format: 'pem' }));
    // DER, not PEM: the option takes either.
    await writeFile(path('signer.der'), signer.publicKey.export({ type: 'spki', format: 'der' }));
    const national = pki.nationalList(pki.gatewayList(), signer.privateKey);
    await writeFile(path('tampered.txt'), national.replace('"XB"', '"XC"'));
  });
  afterAll(async () => {
    pki.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('verifies DCCs through an EU DCC Gateway list checked against its trust anchor', async () => {
    const out = await run(['--trust', path('gateway.json'), '--trust-anchor', path('anchor.pem')], [dccOf('XA'), dccOf('XB')]);
    expect(out).toEqual([
      { valid: true, verdict: 'allow', reason: 'OK', kind: 'eu-dcc' },
      { valid: true, verdict: 'allow', reason: 'OK', kind: 'eu-dcc' },
    ]);
  });

  it('verifies DCCs through a signed national list, and refuses it tampered or without its signer', async () => {
    for (const key of ['signer.pem', 'signer.der']) {
      expect(await run(['--trust', path('national.txt'), '--trust-signer', path(key)], [dccOf('XB')])).toEqual([{ valid: true, verdict: 'allow', reason: 'OK', kind: 'eu-dcc' }]);
    }
    await expect(run(['--trust', path('tampered.txt'), '--trust-signer', path('signer.pem')], [])).rejects.toMatchObject({
      code: 'VERIFIER_ERR_TRUST_LIST',
      message: expect.stringMatching(/signature does not verify/) as unknown,
    });
    await expect(run(['--trust', path('national.txt')], [])).rejects.toMatchObject({ code: 'VERIFIER_ERR_TRUST_LIST', message: expect.stringMatching(/no signer/) as unknown });
    await expect(run(['--trust', path('gateway.json'), '--trust-signer', path('signer.pem')], [])).rejects.toMatchObject({ code: 'VERIFIER_ERR_TRUST_LIST' });
  });

  it('reads --trust from a URL too, as the verifier reads its feeds', async () => {
    const body = pki.nationalList(pki.gatewayList(), signer.privateKey);
    const server = createHttpServer((_req, res) => res.writeHead(200).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/trustList/DSC/`;
      expect(await run(['--trust', url, '--trust-signer', path('signer.pem')], [dccOf('XA')])).toEqual([{ valid: true, verdict: 'allow', reason: 'OK', kind: 'eu-dcc' }]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses unusable trust options as usage errors', async () => {
    await expect(run(['--trust', path('gateway.json'), '--trust-format', 'xml'], [])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(run(['--trust', path('gateway.json'), '--trust-anchor', path('gateway.json')], [])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE', message: expect.stringMatching(/anchors\/0/) as unknown });
    await expect(run(['--trust', path('gateway.json'), '--trust-csca', path('missing.pem')], [])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
  });

  it('cityops scan verifies offline through the same signed list (no broker to be heard)', async () => {
    // A port that was just free: nothing answers there, so every verdict is the scanner's own.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = server.address() as { port: number };
        server.close(() => resolve(free));
      });
    });
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const argv = ['--scanner', 'gate-9', '--broker', `mqtt://127.0.0.1:${port}`, '--data', path('gate-9'), '--connect-wait-ms', '0', '--upload-wait-ms', '0', '--timeout-ms', '50'];
    await scanCommand([...argv, '--trust', path('national.txt'), '--trust-signer', path('signer.pem'), '--trust-anchor', path('anchor.pem')], out, createShutdown(), Readable.from([`${dccOf('XA')}\n`]));
    expect(JSON.parse(text.trim())).toMatchObject({ verdict: 'allow', reason: 'OK', kind: 'eu-dcc', offline: true });
    await expect(scanCommand([...argv, '--trust', path('national.txt'), '--trust-signer', path('gateway.json')], out, createShutdown(), Readable.from([]))).rejects.toMatchObject({ code: 'SCANNER_ERR_CONFIG' });
  });
});
