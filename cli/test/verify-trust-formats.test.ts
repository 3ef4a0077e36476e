import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCommand } from '../src/commands/verify.ts';
import { dccVaccination } from '../../verifier/test/code-fixtures.ts';
import { createTrustPki, type TrustPki } from '../../verifier/test/trust-pki.ts';

async function run(argv: string[], lines: string[]): Promise<Record<string, unknown>[]> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await verifyCommand(argv, out, Readable.from(lines.map((l) => `${l}\n`)));
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

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

  it('refuses unusable trust options as usage errors', async () => {
    await expect(run(['--trust', path('gateway.json'), '--trust-format', 'xml'], [])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(run(['--trust', path('gateway.json'), '--trust-anchor', path('gateway.json')], [])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE', message: expect.stringMatching(/anchors\/0/) as unknown });
    await expect(run(['--trust', path('gateway.json'), '--trust-csca', path('missing.pem')], [])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
  });
});
