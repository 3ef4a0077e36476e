import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevelopmentIssuer, type LicenceClaims } from '@cityops/protocol';
import { createBloomFilter, identifierHash, revocationFilterKey } from '@cityops/verifier';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemTimers } from '../src/agent-deps.ts';
import { parseScannerAgentConfig } from '../src/index.ts';
import { createOfflineVerifier } from '../src/scanner/offline-verifier.ts';
import { createReferenceCache, type ReferenceCache } from '../src/scanner/reference-cache.ts';

/** Issue 23: a scanner offline judges licences as the verifier does, from its cached trust list and revocation filter. */
const silent = pino({ level: 'silent' });
const shanghai = createDevelopmentIssuer({ alg: 'EdDSA', issuer: 'sh-market', kinds: ['licence'], licence: { types: ['food-business'], regions: ['CN-SH'] } });
const jiangsu = createDevelopmentIssuer({ alg: 'EdDSA', issuer: 'js-market', kinds: ['licence'], licence: { types: ['food-business'], regions: ['CN-JS'] } });
const licence = (extra: Partial<LicenceClaims> = {}): LicenceClaims => ({
  holder: '91310101MA1FPX1234',
  holderKind: 'business',
  type: 'food-business',
  number: 'JY1',
  region: 'CN-SH',
  scope: 'rest-1',
  status: 'valid',
  ...extra,
});

describe('offline verification of licences', () => {
  let dir: string;
  let cache: ReferenceCache;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-scanner-licences-'));
    const trustPath = join(dir, 'trust.json');
    const filterPath = join(dir, 'filter.cbf');
    await writeFile(trustPath, JSON.stringify([shanghai.trustEntry, jiangsu.trustEntry]));
    const filter = createBloomFilter(10, 1e-6);
    filter.add(revocationFilterKey.code(identifierHash('JY-REVOKED')));
    await writeFile(filterPath, filter.toBytes());
    cache = createReferenceCache(
      {
        dir: join(dir, 'reference'),
        trust: { source: trustPath, refreshMs: 3_600_000, maxAgeMs: 3_600_000 },
        revocation: { source: filterPath, refreshMs: 3_600_000, maxAgeMs: 3_600_000 },
        maxSourceBytes: 1024 * 1024,
        sourceTimeoutMs: 1000,
      },
      { now: Date.now, logger: silent, timers: systemTimers },
    );
    await cache.start();
  });
  afterAll(async () => {
    await cache.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the verifier’s reasons, and keeps only the holder’s digest in the event', () => {
    const local = createOfflineVerifier({ clockSkewMs: 30_000, staleAction: 'warn', maxQrChars: 4296, maxInflatedBytes: 65_536 }, { context: () => cache.current() });
    const at = Date.now();
    expect(local.verify(shanghai.issueLicence({ licence: licence() }), 'rest-1', at)).toMatchObject({
      verdict: { verdict: 'allow', reason: 'OK', kind: 'licence', licenceScope: 'rest-1' },
      event: { kind: 'licence', verdict: 'allow', reason: 'OK', issuer: 'sh-market', subjectHash: identifierHash('91310101MA1FPX1234') },
    });
    expect(JSON.stringify(local.verify(shanghai.issueLicence({ licence: licence() }), 'rest-1', at).event)).not.toContain('JY1');
    expect(local.verify(shanghai.issueLicence({ licence: licence({ number: 'JY-REVOKED' }) }), 'rest-1', at).verdict).toMatchObject({ reason: 'REVOKED', detail: 'code' });
    expect(local.verify(shanghai.issueLicence({ licence: licence({ type: 'liquor-retail' }) }), 'rest-1', at).verdict.reason).toBe('LICENCE_TYPE_NOT_ALLOWED');
    expect(local.verify(jiangsu.issueLicence({ licence: licence({ region: 'CN-JS' }) }), 'rest-1', at).verdict.reason).toBe('LICENCE_NOT_RECOGNISED');
    expect(local.verify(shanghai.issueLicence({ licence: licence(), issuedAt: at - 3 * 86_400_000, validMinutes: 24 * 60 }), 'rest-1', at).verdict.reason).toBe('EXPIRED');
  });

  it('takes its home region from its configuration, as the verifier does', () => {
    const config = parseScannerAgentConfig({ scannerId: 'scn-1', dataDir: dir, mqtt: { url: 'mqtt://127.0.0.1:1' }, reference: { trust: { source: 'trust.json' } }, local: { homeRegion: 'CN-JS' } });
    expect(config.local.homeRegion).toBe('CN-JS');
    expect(parseScannerAgentConfig({ scannerId: 'scn-1', dataDir: dir, mqtt: { url: 'mqtt://127.0.0.1:1' }, reference: { trust: { source: 'trust.json' } } }).local.homeRegion).toBe('CN-SH');
    expect(() => parseScannerAgentConfig({ scannerId: 'scn-1', dataDir: dir, mqtt: { url: 'mqtt://127.0.0.1:1' }, reference: { trust: { source: 'trust.json' } }, local: { homeRegion: 'jiangsu' } })).toThrow(
      expect.objectContaining({ code: 'SCANNER_ERR_CONFIG' }),
    );
    const local = createOfflineVerifier(config.local, { context: () => cache.current() });
    const at = Date.now();
    expect(local.verify(jiangsu.issueLicence({ licence: licence({ region: 'CN-JS' }) }), 'rest-1', at).verdict.reason).toBe('OK');
    expect(local.verify(shanghai.issueLicence({ licence: licence() }), 'rest-1', at).verdict.reason).toBe('LICENCE_NOT_RECOGNISED');
  });
});
