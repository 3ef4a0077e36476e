import type { CodeAlg, CodeIssuer, CodeKind, DccInput, HealthCodeInput, LicenceClaims, LicenceInput, SiteCodeInput } from '@cityops/protocol';
import { dccRecovery, dccTest, dccVaccination } from './dcc-samples.ts';

/** Issue time of every vector: 2026-01-15T08:00:00Z. */
export const FIXTURE_TIME = Date.UTC(2026, 0, 15, 8, 0, 0);
export const FIXTURE_ALGS: readonly CodeAlg[] = ['ES256', 'EdDSA', 'PS256'];
const MINUTE = 60_000;

type Input =
  | ({ kind: 'health-code' } & HealthCodeInput)
  | ({ kind: 'site-code' } & SiteCodeInput)
  | ({ kind: 'eu-dcc' } & DccInput)
  | ({ kind: 'licence' } & LicenceInput);

/** What a vector must decode to, written out by hand (not computed by the decoder under test). */
export interface Expected {
  readonly issuer: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly codeId: string;
  readonly subject: string;
  readonly claims: unknown;
  readonly keyUsage?: string;
}

export interface VectorSpec {
  readonly name: string;
  readonly alg: CodeAlg;
  readonly issuer: string;
  readonly input: Input;
  readonly expected: Expected;
}

export interface Vector {
  readonly name: string;
  readonly kind: CodeKind;
  readonly alg: CodeAlg;
  /** base64 */
  readonly kid: string;
  /** base64 DER SPKI */
  readonly publicKey: string;
  readonly qr: string;
  readonly expected: Expected;
}

const cti = (n: number) => Buffer.from(`c1d0c0de0000000${n}`, 'hex');
/** sha256("cityops-dcc-subject-v1\n" + fnt + "\n" + gnt + "\n" + dob), see dccSubjectHash. */
const DCC_SUBJECT = {
  vaccination: 'dd1b13ff480caef0ed63602429b1287cb2e9bf9ace6aa60770dd578d5f62fcbd',
  test: '06e794efbeb858fa0572f93c85ea6cd6c8f792683021b0e3479f67de34e3c621',
  recovery: '7e66f23fd64bab551b021e07986edc41456915fe5a474f1ddb6ca0af3e7bac94',
};

const FOOD_BUSINESS = {
  holder: '91310101MA1FPX1234',
  holderKind: 'business',
  type: 'food-business',
  number: 'JY13101010000123',
  region: 'CN-SH',
  scope: 'rest-0001',
  status: 'valid',
} as const;
const FOOD_HANDLER = { holder: 'p-5e1c0a77', holderKind: 'person', type: 'food-handler-health', number: 'SH-FH-2026-000042', region: 'CN-SH', status: 'valid' } as const;
const COMPREHENSIVE: LicenceClaims = {
  holder: '91320500MA1XYZ0001',
  holderKind: 'business',
  type: 'restaurant-comprehensive',
  integrates: ['food-business', 'public-place-hygiene', 'liquor-retail'],
  number: 'JS-ZH-0007',
  region: 'CN-JS',
  scope: 'rest-0002',
  status: 'valid',
};

export const VECTOR_SPECS: readonly VectorSpec[] = [
  {
    name: 'health code, ES256, green, with last test',
    alg: 'ES256',
    issuer: 'cityops-test',
    input: {
      kind: 'health-code',
      subject: 'p-7f3a9c21',
      colour: 'green',
      validMinutes: 60,
      lastTestAt: FIXTURE_TIME - 20 * 60 * MINUTE,
      issuedAt: FIXTURE_TIME,
      codeId: cti(1),
    },
    expected: {
      issuer: 'cityops-test',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 60 * MINUTE,
      codeId: 'c1d0c0de00000001',
      subject: 'p-7f3a9c21',
      claims: { subject: 'p-7f3a9c21', colour: 'green', lastTestAt: FIXTURE_TIME - 20 * 60 * MINUTE },
    },
  },
  {
    name: 'health code, EdDSA, yellow',
    alg: 'EdDSA',
    issuer: 'cityops-test',
    input: { kind: 'health-code', subject: 'p-0b1c2d3e', colour: 'yellow', validMinutes: 30, issuedAt: FIXTURE_TIME, codeId: cti(2) },
    expected: {
      issuer: 'cityops-test',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 30 * MINUTE,
      codeId: 'c1d0c0de00000002',
      subject: 'p-0b1c2d3e',
      claims: { subject: 'p-0b1c2d3e', colour: 'yellow' },
    },
  },
  {
    name: 'health code, PS256, red',
    alg: 'PS256',
    issuer: 'cityops-test',
    input: { kind: 'health-code', subject: 'p-99aa88bb', colour: 'red', validMinutes: 1440, issuedAt: FIXTURE_TIME, codeId: cti(3) },
    expected: {
      issuer: 'cityops-test',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 1440 * MINUTE,
      codeId: 'c1d0c0de00000003',
      subject: 'p-99aa88bb',
      claims: { subject: 'p-99aa88bb', colour: 'red' },
    },
  },
  {
    name: 'site code, ES256, building level, low risk',
    alg: 'ES256',
    issuer: 'huangpu-office',
    input: {
      kind: 'site-code',
      venue: 'venue-0042',
      place: 'huangpu/nanjing-east/grid-07/mall-3',
      risk: 'low',
      validMinutes: 30 * 24 * 60,
      issuedAt: FIXTURE_TIME,
      codeId: cti(4),
    },
    expected: {
      issuer: 'huangpu-office',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 30 * 24 * 60 * MINUTE,
      codeId: 'c1d0c0de00000004',
      subject: 'venue-0042',
      claims: {
        venue: 'venue-0042',
        place: { district: 'huangpu', subdistrict: 'nanjing-east', grid: 'grid-07', building: 'mall-3' },
        risk: 'low',
      },
    },
  },
  {
    name: 'site code, EdDSA, grid level, high risk',
    alg: 'EdDSA',
    issuer: 'xuhui-office',
    input: { kind: 'site-code', venue: 'venue-0043', place: 'xuhui/tianping/grid-11', risk: 'high', validMinutes: 1440, issuedAt: FIXTURE_TIME, codeId: cti(5) },
    expected: {
      issuer: 'xuhui-office',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 1440 * MINUTE,
      codeId: 'c1d0c0de00000005',
      subject: 'venue-0043',
      claims: { venue: 'venue-0043', place: { district: 'xuhui', subdistrict: 'tianping', grid: 'grid-11', building: '' }, risk: 'high' },
    },
  },
  {
    name: 'site code, PS256, medium risk',
    alg: 'PS256',
    issuer: 'pudong-office',
    input: { kind: 'site-code', venue: 'venue-0044', place: 'pudong/lujiazui/grid-02/tower-1', risk: 'medium', validMinutes: 1440, issuedAt: FIXTURE_TIME, codeId: cti(6) },
    expected: {
      issuer: 'pudong-office',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 1440 * MINUTE,
      codeId: 'c1d0c0de00000006',
      subject: 'venue-0044',
      claims: {
        venue: 'venue-0044',
        place: { district: 'pudong', subdistrict: 'lujiazui', grid: 'grid-02', building: 'tower-1' },
        risk: 'medium',
      },
    },
  },
  {
    name: 'EU DCC, ES256, vaccination',
    alg: 'ES256',
    issuer: 'XA',
    input: { kind: 'eu-dcc', payload: dccVaccination, validMinutes: 365 * 24 * 60, issuedAt: FIXTURE_TIME },
    expected: {
      issuer: 'XA',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 365 * 24 * 60 * MINUTE,
      codeId: 'URN:UVCI:01:XA:CITYOPS0000000000000000001#A',
      subject: DCC_SUBJECT.vaccination,
      claims: dccVaccination,
      keyUsage: 'v',
    },
  },
  {
    name: 'EU DCC, PS256, test',
    alg: 'PS256',
    issuer: 'XA',
    input: { kind: 'eu-dcc', payload: dccTest, validMinutes: 72 * 60, issuedAt: FIXTURE_TIME },
    expected: {
      issuer: 'XA',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 72 * 60 * MINUTE,
      codeId: 'URN:UVCI:01:XA:CITYOPS0000000000000000002#B',
      subject: DCC_SUBJECT.test,
      claims: dccTest,
      keyUsage: 't',
    },
  },
  {
    name: 'EU DCC, ES256, recovery (forename only, unknown date of birth)',
    alg: 'ES256',
    issuer: 'XA',
    input: { kind: 'eu-dcc', payload: dccRecovery, validMinutes: 180 * 24 * 60, issuedAt: FIXTURE_TIME },
    expected: {
      issuer: 'XA',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 180 * 24 * 60 * MINUTE,
      codeId: 'URN:UVCI:01:XA:CITYOPS0000000000000000003#C',
      subject: DCC_SUBJECT.recovery,
      claims: dccRecovery,
      keyUsage: 'r',
    },
  },
  {
    name: 'licence, ES256, a venue’s food business licence (Shanghai)',
    alg: 'ES256',
    issuer: 'sh-market-authority',
    input: { kind: 'licence', licence: FOOD_BUSINESS, validMinutes: 5 * 365 * 24 * 60, issuedAt: FIXTURE_TIME, codeId: cti(7) },
    expected: {
      issuer: 'sh-market-authority',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 5 * 365 * 24 * 60 * MINUTE,
      codeId: 'JY13101010000123',
      subject: '91310101MA1FPX1234',
      claims: FOOD_BUSINESS,
    },
  },
  {
    name: 'licence, EdDSA, a food handler’s health certificate (a pseudonymised person)',
    alg: 'EdDSA',
    issuer: 'sh-health-authority',
    input: { kind: 'licence', licence: FOOD_HANDLER, validMinutes: 365 * 24 * 60, issuedAt: FIXTURE_TIME, codeId: cti(8) },
    expected: {
      issuer: 'sh-health-authority',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 365 * 24 * 60 * MINUTE,
      codeId: 'SH-FH-2026-000042',
      subject: 'p-5e1c0a77',
      claims: FOOD_HANDLER,
    },
  },
  {
    name: 'licence, EdDSA, a comprehensive restaurant licence (Jiangsu) integrating three singles',
    alg: 'EdDSA',
    issuer: 'js-market-authority',
    input: { kind: 'licence', licence: COMPREHENSIVE, validMinutes: 3 * 365 * 24 * 60, issuedAt: FIXTURE_TIME, codeId: cti(9) },
    expected: {
      issuer: 'js-market-authority',
      issuedAt: FIXTURE_TIME,
      expiresAt: FIXTURE_TIME + 3 * 365 * 24 * 60 * MINUTE,
      codeId: 'JS-ZH-0007',
      subject: '91320500MA1XYZ0001',
      claims: COMPREHENSIVE,
    },
  },
];

export function issueVector(spec: VectorSpec, issuer: CodeIssuer & { publicKey: { export(o: { type: 'spki'; format: 'der' }): Buffer } }): Vector {
  const { kind, ...input } = spec.input;
  const qr =
    kind === 'health-code'
      ? issuer.issueHealthCode(input as HealthCodeInput)
      : kind === 'site-code'
        ? issuer.issueSiteCode(input as SiteCodeInput)
        : kind === 'licence'
          ? issuer.issueLicence(input as LicenceInput)
          : issuer.issueDcc(input as DccInput);
  return {
    name: spec.name,
    kind,
    alg: spec.alg,
    kid: issuer.kid.toString('base64'),
    publicKey: issuer.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    qr,
    expected: spec.expected,
  };
}
