import { deflateSync } from 'node:zlib';
import { createDevelopmentIssuer, encodeBase45, type DccPayload, type DevelopmentIssuer } from '@cityops/protocol';
import type { Reason } from '../src/reasons.ts';
import { cbor, Tagged } from './cbor-bytes.ts';

export const PSEUDONYM_KEY = 'test-pseudonym-key-0123456789abcdef';

/** The issuers a test city trusts, and one it does not. */
export interface TestIssuers {
  /** Health codes only, issuer "city-health", trusted by public key. */
  readonly health: DevelopmentIssuer;
  /** Site codes only, issuer "huangpu-office". */
  readonly site: DevelopmentIssuer;
  /** EU DCC, country XA, certificate limited to vaccinations (extended key usage). */
  readonly dcc: DevelopmentIssuer;
  /** Trusted for site codes only, but mints health codes too. */
  readonly siteOnly: DevelopmentIssuer;
  /** Trusted, but its trust entry names another issuer than its codes do. */
  readonly impostor: DevelopmentIssuer;
  /** Not in the trust list. */
  readonly rogue: DevelopmentIssuer;
}

export function createTestIssuers(now?: () => number): TestIssuers {
  const clock = now === undefined ? {} : { now };
  return {
    health: createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key', ...clock }),
    site: createDevelopmentIssuer({ issuer: 'huangpu-office', kinds: ['site-code'], ...clock }),
    dcc: createDevelopmentIssuer({ issuer: 'XA', kinds: ['eu-dcc'], dccTypes: ['v'], ...clock }),
    siteOnly: createDevelopmentIssuer({ issuer: 'xuhui-office', kinds: ['site-code'], ...clock }),
    impostor: createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], ...clock }),
    rogue: createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], ...clock }),
  };
}

/** Trust-file entries for the trusted issuers (the impostor's entry names another issuer). */
export function trustEntries(issuers: TestIssuers): object[] {
  return [
    issuers.health.trustEntry,
    issuers.site.trustEntry,
    issuers.dcc.trustEntry,
    { ...issuers.siteOnly.trustEntry, kinds: ['site-code'] },
    { ...issuers.impostor.trustEntry, issuer: 'someone-else', region: 'elsewhere' },
  ];
}

export function dccVaccination(): DccPayload {
  return {
    ver: '1.3.0',
    nam: { fn: 'Musterfrau', fnt: 'MUSTERFRAU', gn: 'Erika', gnt: 'ERIKA' },
    dob: '1964-08-12',
    v: [
      {
        tg: '840539006',
        vp: '1119349007',
        mp: 'EU/1/20/1528',
        ma: 'ORG-100030215',
        dn: 2,
        sd: 2,
        dt: '2021-05-29',
        co: 'XA',
        is: 'Ministry of Health',
        ci: 'URN:UVCI:01:XA:DADFCC47C7334E45A906DB12FD859FB7#1',
      },
    ],
  };
}

export function dccTest(): DccPayload {
  return {
    ver: '1.3.0',
    nam: { fn: 'Musterfrau', fnt: 'MUSTERFRAU', gn: 'Erika', gnt: 'ERIKA' },
    dob: '1964-08-12',
    t: [
      {
        tg: '840539006',
        tt: 'LP6464-4',
        sc: '2021-05-30T10:12:22Z',
        tr: '260415000',
        tc: 'Test centre',
        co: 'XA',
        is: 'Ministry of Health',
        ci: 'URN:UVCI:01:XA:TEST0000000000000000000000#5',
      },
    ],
  };
}

function coseSign1(protectedHeader: Map<unknown, unknown>, payload: Buffer): Buffer {
  return cbor(new Tagged(18, [cbor(protectedHeader), new Map(), payload, Buffer.alloc(64, 1)]));
}

const KID = Buffer.from('0123456789abcdef', 'hex');
const T = Math.floor(Date.now() / 1000);

/** One QR text per malformed layer, each broken at exactly that layer. */
export const MALFORMED: readonly { readonly reason: Reason; readonly qr: string }[] = [
  { reason: 'MALFORMED_TOO_LARGE', qr: `CHC1:${'0'.repeat(5000)}` },
  { reason: 'MALFORMED_PREFIX', qr: 'XX1:ABCDEF' },
  // RFC 9285 §4: "GGW" is 65536 + ..., above what two bytes hold.
  { reason: 'MALFORMED_BASE45', qr: 'CHC1:GGW' },
  { reason: 'MALFORMED_ZLIB', qr: `HC1:${encodeBase45(Buffer.from([0x78, 0x9c, 0xff, 0x00, 0x13, 0x37]))}` },
  { reason: 'MALFORMED_INFLATE_LIMIT', qr: `HC1:${encodeBase45(deflateSync(Buffer.alloc(1_000_000)))}` },
  { reason: 'MALFORMED_CBOR', qr: `CHC1:${encodeBase45(Buffer.from([0x1c, 0x00]))}` },
  { reason: 'MALFORMED_COSE', qr: `CHC1:${encodeBase45(cbor([1, 2]))}` },
  { reason: 'MALFORMED_ALG', qr: `CHC1:${encodeBase45(coseSign1(new Map<unknown, unknown>([[1, -999], [4, KID]]), cbor(new Map([[1, 'x']]))))}` },
  { reason: 'MALFORMED_KID', qr: `CHC1:${encodeBase45(coseSign1(new Map<unknown, unknown>([[1, -7]]), cbor(new Map([[1, 'x']]))))}` },
  { reason: 'MALFORMED_CLAIMS', qr: `CHC1:${encodeBase45(coseSign1(new Map<unknown, unknown>([[1, -7], [4, KID]]), cbor(new Map([[1, 'x']]))))}` },
  {
    reason: 'MALFORMED_SCHEMA',
    qr: `HC1:${encodeBase45(
      deflateSync(
        coseSign1(
          new Map<unknown, unknown>([[1, -7], [4, KID]]),
          cbor(new Map<unknown, unknown>([[1, 'XA'], [4, T + 3600], [6, T], [-260, new Map([[1, { ver: 7 }]])]])),
        ),
      ),
    )}`,
  },
];
