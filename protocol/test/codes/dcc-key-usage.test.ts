import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkDccKeyUsage,
  createCodeDecoder,
  createSelfSignedCertificate,
  DCC_KEY_USAGE_OIDS,
  dccTypesAllowedBy,
  type DccCertificateType,
} from '@cityops/protocol';
import { dccRecovery, dccTest, dccVaccination } from './dcc-samples.ts';
import { fixtureIssuer, fixtureKey } from './fixture-keys.ts';

const key = fixtureKey('ES256');
const T = Date.UTC(2026, 0, 15, 8);

function certificate(dccTypes: DccCertificateType[], extraKeyUsageOids: string[] = []): X509Certificate {
  const der = createSelfSignedCertificate({
    privateKey: key.privateKey,
    publicKey: key.publicKey,
    commonName: 'DSC test',
    country: 'XA',
    notBefore: T - 86_400_000,
    notAfter: T + 86_400_000,
    dccTypes,
    extraKeyUsageOids,
  });
  return new X509Certificate(der);
}

describe('DCC key usage (HCERT A.2: extended key usage of the document signer)', () => {
  const decoder = createCodeDecoder();
  const issuer = fixtureIssuer('ES256', 'XA');
  const decoded = {
    v: decoder.decode(issuer.issueDcc({ payload: dccVaccination, issuedAt: T })),
    t: decoder.decode(issuer.issueDcc({ payload: dccTest, issuedAt: T })),
    r: decoder.decode(issuer.issueDcc({ payload: dccRecovery, issuedAt: T })),
  };

  it('reads the certificate type of each DCC', () => {
    expect([decoded.v, decoded.t, decoded.r].map((d) => d.kind === 'eu-dcc' && d.keyUsage)).toEqual(['v', 't', 'r']);
  });

  it('lets a signer without DCC key usage OIDs sign every type', () => {
    const cert = certificate([]);
    expect(dccTypesAllowedBy(cert)).toBeUndefined();
    for (const d of Object.values(decoded)) expect(checkDccKeyUsage(d, cert)).toBe(true);
  });

  it('restricts a signer with DCC key usage OIDs to those types', () => {
    const vaccinationOnly = certificate(['v']);
    expect(vaccinationOnly.keyUsage).toEqual([DCC_KEY_USAGE_OIDS.v]);
    expect(checkDccKeyUsage(decoded.v, vaccinationOnly)).toBe(true);
    expect(checkDccKeyUsage(decoded.t, vaccinationOnly)).toBe(false);
    expect(checkDccKeyUsage(decoded.r, vaccinationOnly)).toBe(false);
    const testAndRecovery = certificate(['t', 'r']);
    expect(dccTypesAllowedBy(testAndRecovery)).toEqual(['t', 'r']);
    expect(checkDccKeyUsage(decoded.v, testAndRecovery)).toBe(false);
    expect(checkDccKeyUsage(decoded.t, testAndRecovery)).toBe(true);
    expect(checkDccKeyUsage(decoded.r, testAndRecovery)).toBe(true);
  });

  it('ignores other extended key usages, alone or beside DCC ones', () => {
    const serverAuth = '1.3.6.1.5.5.7.3.1';
    expect(checkDccKeyUsage(decoded.t, certificate([], [serverAuth]))).toBe(true);
    expect(checkDccKeyUsage(decoded.t, certificate(['v'], [serverAuth]))).toBe(false);
  });

  it('honours the misencoded OIDs (1.3.6.1.4.1.0.1847.2021.1.x) some signers carry as restrictions', () => {
    const misencodedTest = certificate([], ['1.3.6.1.4.1.0.1847.2021.1.1']);
    expect(checkDccKeyUsage(decoded.t, misencodedTest)).toBe(true);
    expect(checkDccKeyUsage(decoded.v, misencodedTest)).toBe(false);
  });

  it('puts no DCC restriction on city codes', () => {
    const health = decoder.decode(issuer.issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: T }));
    expect(checkDccKeyUsage(health, certificate(['t']))).toBe(true);
  });
});

describe('self-signed development certificates', () => {
  it('parse, verify, carry digitalSignature and use GeneralizedTime after 2049 (RFC 5280 §4.1.2.5)', () => {
    for (const alg of ['ES256', 'EdDSA', 'PS256'] as const) {
      const k = fixtureKey(alg);
      const der = createSelfSignedCertificate({
        privateKey: k.privateKey,
        publicKey: k.publicKey,
        commonName: `dev ${alg}`,
        notBefore: Date.UTC(2049, 11, 31),
        notAfter: Date.UTC(2060, 0, 1, 12, 30, 15),
      });
      const cert = new X509Certificate(der);
      expect(cert.verify(k.publicKey)).toBe(true);
      expect(cert.subject).toBe(`CN=dev ${alg}`);
      expect(new Date(cert.validTo).toISOString()).toBe('2060-01-01T12:30:15.000Z');
      expect(new Date(cert.validFrom).toISOString()).toBe('2049-12-31T00:00:00.000Z');
      expect(der.includes(Buffer.from('20600101123015Z'))).toBe(true); // GeneralizedTime
      expect(der.includes(Buffer.from('491231000000Z'))).toBe(true); // UTCTime
    }
  });

  it('refuses a country that is not two capital letters', () => {
    expect(() =>
      createSelfSignedCertificate({ privateKey: key.privateKey, publicKey: key.publicKey, commonName: 'x', country: 'Austria', notBefore: T, notAfter: T + 1 }),
    ).toThrow(/ISO 3166/);
  });
});
