import { createDevelopmentIssuer, type LicenceClaims } from '@cityops/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identifierHash } from '../src/identifier-hashes.ts';
import { parseVerifierConfig } from '../src/verifier-config.ts';
import { createVerifierService, type VerifierAddresses, type VerifierService } from '../src/verifier-service.ts';
import { createDataDir, post } from './service-harness.ts';

/**
 * Licences through the service as scanners reach it (issue 23): decoded, authenticated and checked
 * against their authority's trust entry in the piscina pool's worker threads, judged on the main
 * thread with the status feed and the restaurant's policy, over HTTP. Times relative to now.
 */
const shMarket = createDevelopmentIssuer({ alg: 'EdDSA', issuer: 'sh-market', kinds: ['licence'], licence: { types: ['food-business', 'restaurant-comprehensive'], regions: ['CN-SH'] } });
const shHealth = createDevelopmentIssuer({ alg: 'EdDSA', issuer: 'sh-health', kinds: ['licence'], licence: { types: ['food-handler-health'], regions: ['CN-SH'] } });
const jsHealth = createDevelopmentIssuer({ alg: 'EdDSA', issuer: 'js-health', kinds: ['licence'], licence: { types: ['food-handler-health'], regions: ['CN-JS'], crossRegion: true } });
const zjHealth = createDevelopmentIssuer({ alg: 'EdDSA', issuer: 'zj-health', kinds: ['licence'], licence: { types: ['food-handler-health'], regions: ['CN-ZJ'] } });
const RESTAURANT = 'huangpu/nanjing-east/g001/rest-1';
const staff = (region: string, number: string): LicenceClaims => ({ holder: `p-${number}`, holderKind: 'person', type: 'food-handler-health', number, region, status: 'valid' });
const venueLicence = (extra: Partial<LicenceClaims> = {}): LicenceClaims => ({
  holder: '91310101MA1FPX1234',
  holderKind: 'business',
  type: 'restaurant-comprehensive',
  integrates: ['food-business'],
  number: 'ZH-1',
  region: 'CN-SH',
  scope: RESTAURANT,
  status: 'valid',
  ...extra,
});

describe('licences through the verifier service (pool, status feed, policies)', () => {
  let data: Awaited<ReturnType<typeof createDataDir>>;
  let service: VerifierService;
  let addresses: VerifierAddresses;
  const verify = async (qr: string, venue = RESTAURANT) => (await post(`${addresses.httpUrl}/v1/verify`, { qr, venue })).body;

  beforeAll(async () => {
    data = await createDataDir('cityops-verifier-licences-');
    await data.write('trust.json', [shMarket.trustEntry, shHealth.trustEntry, jsHealth.trustEntry, zjHealth.trustEntry]);
    await data.write('revocation.json', { codes: [identifierHash('FH-REVOKED')] });
    await data.write('status.json', { entries: [], licences: [{ licence: identifierHash('FH-SUSPENDED'), status: 'suspended', since: Date.now() - 60_000 }] });
    await data.write('policies.json', {
      venues: {
        [RESTAURANT]: {
          licences: [
            { types: ['food-handler-health'], holder: 'person' },
            { types: ['food-business'], holder: 'business', scope: 'venue' },
          ],
        },
      },
    });
    service = createVerifierService(
      {
        http: { port: 0, verifyAccess: 'open' },
        trust: { source: data.path('trust.json'), refreshMs: 3_600_000 },
        revocation: { source: data.path('revocation.json'), refreshMs: 3_600_000 },
        status: { source: data.path('status.json'), refreshMs: 3_600_000 },
        policies: { source: data.path('policies.json'), refreshMs: 3_600_000 },
        pool: { threads: 2 },
        rates: { enabled: false },
      },
      { logger: pino({ level: 'silent' }) },
    );
    addresses = await service.start();
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await data?.remove();
  });

  it('gives each licence its reason through the worker threads', async () => {
    const day = { issuedAt: Date.now() - 3_600_000 };
    const cases: [string, string][] = [
      [shHealth.issueLicence({ licence: staff('CN-SH', 'FH-1'), ...day }), 'OK'],
      [jsHealth.issueLicence({ licence: staff('CN-JS', 'FH-2'), ...day }), 'OK'],
      [shMarket.issueLicence({ licence: venueLicence(), ...day }), 'OK'],
      [zjHealth.issueLicence({ licence: staff('CN-ZJ', 'FH-3'), ...day }), 'LICENCE_NOT_RECOGNISED'],
      [shHealth.issueLicence({ licence: venueLicence({ number: 'ZH-2' }), ...day }), 'LICENCE_TYPE_NOT_ALLOWED'],
      [shHealth.issueLicence({ licence: staff('CN-JS', 'FH-4'), ...day }), 'LICENCE_REGION_NOT_ALLOWED'],
      [shHealth.issueLicence({ licence: staff('CN-SH', 'FH-REVOKED'), ...day }), 'REVOKED'],
      [shHealth.issueLicence({ licence: staff('CN-SH', 'FH-SUSPENDED'), ...day }), 'LICENCE_SUSPENDED'],
      [shHealth.issueLicence({ licence: staff('CN-SH', 'FH-SUSPENDED') }), 'OK'],
      [shMarket.issueLicence({ licence: venueLicence({ number: 'ZH-3', scope: 'elsewhere' }), ...day }), 'POLICY_DENIED'],
      [shHealth.issueLicence({ licence: staff('CN-SH', 'FH-5'), issuedAt: Date.now() - 3 * 86_400_000, validMinutes: 24 * 60 }), 'EXPIRED'],
      ['CLC1:not base45 at all', 'MALFORMED_BASE45'],
    ];
    const verdicts = await Promise.all(cases.map(([qr]) => verify(qr)));
    expect(verdicts.map((v) => v.reason)).toEqual(cases.map(([, reason]) => reason));
    expect(verdicts[2]).toMatchObject({ verdict: 'allow', kind: 'licence', licenceTypes: ['restaurant-comprehensive', 'food-business'], licenceScope: RESTAURANT });
    expect(verdicts[9]).toMatchObject({ detail: 'licence-scope' });
  });

  it('refuses a home region that is not ISO 3166-2, with every problem', () => {
    expect(() => parseVerifierConfig({ trust: { source: 'x' }, homeRegion: 'shanghai' })).toThrow(/homeRegion/);
    expect(parseVerifierConfig({ trust: { source: 'x' } }).homeRegion).toBe('CN-SH');
  });
});
