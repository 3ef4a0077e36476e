import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemTimers } from '../src/agent-deps.ts';
import { parseScannerAgentConfig } from '../src/index.ts';
import { createOfflineVerifier } from '../src/scanner/offline-verifier.ts';
import { createReferenceCache } from '../src/scanner/reference-cache.ts';
import { dccVaccination } from '../../verifier/test/code-fixtures.ts';
import { createTrustPki, type TrustPki } from '../../verifier/test/trust-pki.ts';

const silent = pino({ level: 'silent' });
const LOCAL = { clockSkewMs: 30_000, staleAction: 'warn', maxQrChars: 4296, maxInflatedBytes: 65_536 } as const;

describe("the scanner's cached trust in the formats backends publish", () => {
  let dir: string;
  let pki: TrustPki;
  const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signerPem = signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const dccOf = (country: string) => pki.countries[country]!.issuer.issueDcc({ payload: { ...dccVaccination(), v: [{ ...dccVaccination().v![0]!, co: country }] } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-scanner-trust-'));
    pki = createTrustPki();
  });
  afterAll(async () => {
    pki.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  function cache(source: string) {
    return createReferenceCache(
      {
        dir: join(dir, 'reference'),
        trust: { source, refreshMs: 3_600_000, maxAgeMs: 3_600_000, signer: { publicKey: signerPem }, anchors: [pki.anchorPem] },
        maxSourceBytes: 1024 * 1024,
        sourceTimeoutMs: 1000,
      },
      { now: Date.now, logger: silent, timers: systemTimers },
    );
  }

  it('verifies offline through a signed national list, keeps it through a tampered refresh and a restart without the source', async () => {
    const source = join(dir, 'dsc-list.txt');
    const good = pki.nationalList(pki.gatewayList(), signer.privateKey);
    await writeFile(source, good);
    const first = cache(source);
    await first.start();
    const local = createOfflineVerifier(LOCAL, { context: () => first.current() });
    expect(local.verify(dccOf('XA'), undefined, Date.now()).verdict).toMatchObject({ verdict: 'allow', reason: 'OK', kind: 'eu-dcc' });

    await writeFile(source, good.replace('"XA"', '"XQ"'));
    await expect(first.refresh('trust')).rejects.toMatchObject({ code: 'SCANNER_ERR_REFERENCE', cause: { code: 'VERIFIER_ERR_TRUST_LIST' } });
    expect(local.verify(dccOf('XB'), undefined, Date.now()).verdict.reason).toBe('OK');
    expect(first.stats().trust).toMatchObject({ loaded: true, refreshes: 1, failures: 1 });
    // The copy on disk is the good list, as it came (its signature line included).
    expect(await readFile(join(dir, 'reference', 'trust.json'), 'utf8')).toBe(good);
    await first.stop();

    // Restarted with the source gone: the persisted copy is checked again with the signer, and used.
    const second = cache(join(dir, 'gone.txt'));
    await second.start();
    expect(second.stats().trust).toMatchObject({ loaded: true, failures: 1 });
    expect(createOfflineVerifier(LOCAL, { context: () => second.current() }).verify(dccOf('XA'), undefined, Date.now()).verdict.reason).toBe('OK');
    await second.stop();

    // A persisted copy altered on disk is refused at the next start, like a fetched one.
    await writeFile(join(dir, 'reference', 'trust.json'), good.replace('"XB"', '"XQ"'));
    const third = cache(join(dir, 'gone.txt'));
    await third.start();
    expect(third.stats().trust).toMatchObject({ loaded: false });
    expect(createOfflineVerifier(LOCAL, { context: () => third.current() }).verify(dccOf('XA'), undefined, Date.now()).verdict.reason).toBe('UNKNOWN_KEY');
    await third.stop();
  });

  it('validates the trust key material with the rest of the scanner config', () => {
    const config = (trust: object) => ({ scannerId: 'gate-1', dataDir: '/tmp/x', mqtt: { url: 'mqtt://h:1883' }, reference: { trust: { source: 't', ...trust } } });
    expect(parseScannerAgentConfig(config({ signer: { publicKey: signerPem }, anchors: [pki.anchorPem] })).reference.trust.format).toBe('auto');
    expect(() => parseScannerAgentConfig(config({ signer: { certificate: 'bm90IGEgY2VydGlmaWNhdGU=' }, cscas: ['QUJDREVGR0hJSktMTU5PUA=='] }))).toThrow(
      expect.objectContaining({ code: 'SCANNER_ERR_CONFIG', message: expect.stringMatching(/\/reference\/trust\/signer: .*\/reference\/trust\/cscas\/0: /) as unknown }),
    );
  });
});
