import { describe, expect, it } from 'vitest';
import {
  createCodeDecoder,
  createCodeIssuer,
  decodeBase45,
  encodeBase45,
  verifyCodeSignature,
  type CodeAlg,
  type CodeKind,
  type DecodedCode,
} from '@cityops/protocol';
import { dccRecovery, dccTest, dccVaccination } from './dcc-samples.ts';
import { fixtureIssuer, fixtureKey } from './fixture-keys.ts';

const T = Date.UTC(2026, 0, 15, 8);
const ALGS: readonly CodeAlg[] = ['ES256', 'EdDSA', 'PS256'];

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

function issueAll(alg: CodeAlg): { kind: CodeKind; qr: string }[] {
  const issuer = fixtureIssuer(alg, alg === 'EdDSA' ? 'cityops-test' : 'XA');
  const codes: { kind: CodeKind; qr: string }[] = [
    { kind: 'health-code', qr: issuer.issueHealthCode({ subject: 'p-1', colour: 'yellow', validMinutes: 15, issuedAt: T }) },
    { kind: 'site-code', qr: issuer.issueSiteCode({ venue: 'v-1', place: 'a/b/c', risk: 'medium', issuedAt: T }) },
  ];
  if (alg !== 'EdDSA') {
    for (const payload of [dccVaccination, dccTest, dccRecovery]) codes.push({ kind: 'eu-dcc', qr: issuer.issueDcc({ payload, issuedAt: T }) });
  }
  return codes;
}

describe('code formats round-trip: issue -> decode -> verifyCodeSignature', () => {
  const decoder = createCodeDecoder();

  for (const alg of ALGS) {
    it(`every kind allowed for ${alg} decodes and verifies with its key, and only with it`, () => {
      const own = fixtureKey(alg);
      const others = ALGS.filter((a) => a !== alg).map(fixtureKey);
      const codes = issueAll(alg);
      expect(codes.map((c) => c.kind)).toEqual(alg === 'EdDSA' ? ['health-code', 'site-code'] : ['health-code', 'site-code', 'eu-dcc', 'eu-dcc', 'eu-dcc']);
      for (const { kind, qr } of codes) {
        const decoded = decoder.decode(qr);
        expect(decoded.kind).toBe(kind);
        expect(decoded.alg).toBe(alg);
        expect(decoded.issuedAt).toBe(T);
        expect(verifyCodeSignature(decoded, own.publicKey)).toBe(true);
        for (const other of others) expect(verifyCodeSignature(decoded, other.publicKey)).toBe(false);
      }
    });
  }

  it('verifies a structured clone of the decoded code (as a worker thread receives it)', () => {
    const issuer = fixtureIssuer('ES256');
    const decoded = decoder.decode(issuer.issueHealthCode({ subject: 'p-2', colour: 'green', issuedAt: T }));
    const cloned = structuredClone({ alg: decoded.alg, signature: decoded.signature });
    expect(Buffer.isBuffer(cloned.signature.value)).toBe(false);
    expect(verifyCodeSignature(cloned, issuer.publicKey)).toBe(true);
  });

  it('hands a worker exactly the signed bytes: a structured clone carries no pooled memory of other codes', () => {
    const issuer = fixtureIssuer('ES256', 'XA');
    for (const qr of [issuer.issueHealthCode({ subject: 'p-9', colour: 'green', issuedAt: T }), issuer.issueDcc({ payload: dccTest, issuedAt: T })]) {
      const decoded = decoder.decode(qr);
      const { toBeSigned, value } = decoded.signature;
      const cloned = structuredClone({ signature: decoded.signature, kid: decoded.kid });
      expect(cloned.signature.toBeSigned.buffer).toBe(cloned.signature.value.buffer);
      expect(cloned.signature.toBeSigned.buffer.byteLength).toBe(toBeSigned.length + value.length);
      expect(cloned.kid.buffer.byteLength).toBe(decoded.kid.length);
    }
  });

  it('fails the signature of a code whose payload was altered after signing', () => {
    const issuer = fixtureIssuer('ES256');
    const decoded = decoder.decode(issuer.issueHealthCode({ subject: 'p-3', colour: 'red', issuedAt: T }));
    const toBeSigned = Buffer.from(decoded.signature.toBeSigned);
    // The colour is the last byte of the CWT payload, which ends the Sig_structure: red (2) -> green (0).
    expect(toBeSigned.at(-1)).toBe(2);
    toBeSigned[toBeSigned.length - 1] = 0;
    expect(verifyCodeSignature({ alg: decoded.alg, signature: { ...decoded.signature, toBeSigned } }, issuer.publicKey)).toBe(false);
  });

  it('fails a tampered QR text that still decodes (the colour byte flipped inside the base45)', () => {
    const issuer = fixtureIssuer('EdDSA');
    const qr = issuer.issueHealthCode({ subject: 'p-4', colour: 'red', issuedAt: T });
    const bytes = decodeBase45(qr, 5);
    const at = bytes.lastIndexOf(Buffer.from([0xa1, 0x01, 0x02])); // {1: 2}: colour red
    expect(at).toBeGreaterThan(0);
    bytes[at + 2] = 0x00; // green
    const forged = decoder.decode(`CHC1:${encodeBase45(bytes)}`) as Extract<DecodedCode, { kind: 'health-code' }>;
    expect(forged.claims.colour).toBe('green');
    expect(verifyCodeSignature(forged, issuer.publicKey)).toBe(false);
  });

  it('refuses a key of another algorithm than the code says, and a signature of the wrong length', () => {
    const es = fixtureIssuer('ES256');
    const decoded = decoder.decode(es.issueHealthCode({ subject: 'p-5', colour: 'green', issuedAt: T }));
    expect(verifyCodeSignature({ ...decoded, alg: 'EdDSA' }, fixtureKey('EdDSA').publicKey)).toBe(false);
    expect(verifyCodeSignature({ ...decoded, alg: 'PS256' }, es.publicKey)).toBe(false);
    const short = { ...decoded.signature, value: decoded.signature.value.subarray(0, 63) };
    expect(verifyCodeSignature({ alg: 'ES256', signature: short }, es.publicKey)).toBe(false);
  });

  it('does not let a site code pass as a health code by changing its prefix', () => {
    const issuer = fixtureIssuer('ES256');
    const site = issuer.issueSiteCode({ venue: 'v-1', place: 'a/b/c', risk: 'low', issuedAt: T });
    expect(codeOf(() => decoder.decode(site.replace('CSC1:', 'CHC1:')))).toBe('CODE_ERR_CLAIMS');
    const health = issuer.issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: T });
    expect(codeOf(() => decoder.decode(health.replace('CHC1:', 'CSC1:')))).toBe('CODE_ERR_CLAIMS');
  });

  it('will not issue an EdDSA DCC (HCERT §3.2.2: ES256 or PS256)', () => {
    const issuer = fixtureIssuer('EdDSA', 'XA');
    expect(codeOf(() => issuer.issueDcc({ payload: dccVaccination }))).toBe('CODE_ERR_ALG');
  });

  it('refuses to build an issuer whose key does not fit its algorithm', () => {
    const { privateKey } = fixtureKey('EdDSA');
    expect(codeOf(() => createCodeIssuer({ kid: Buffer.from([1]), privateKey, alg: 'ES256', issuer: 'x' }))).toBe('CODE_ERR_ALG');
    expect(codeOf(() => createCodeIssuer({ kid: Buffer.from([1]), privateKey: fixtureKey('EdDSA').publicKey, alg: 'EdDSA', issuer: 'x' }))).toBe('CODE_ERR_ISSUE');
    expect(codeOf(() => createCodeIssuer({ kid: Buffer.alloc(0), privateKey, alg: 'EdDSA', issuer: 'x' }))).toBe('CODE_ERR_KID');
  });

  it('validates what it is asked to issue', () => {
    const issuer = fixtureIssuer('EdDSA');
    expect(codeOf(() => issuer.issueHealthCode({ subject: 'has space', colour: 'green' }))).toBe('CODE_ERR_ISSUE');
    expect(codeOf(() => issuer.issueHealthCode({ subject: 'p', colour: 'blue' as 'green' }))).toBe('CODE_ERR_ISSUE');
    expect(codeOf(() => issuer.issueHealthCode({ subject: 'p', colour: 'green', validMinutes: 0 }))).toBe('CODE_ERR_ISSUE');
    expect(codeOf(() => issuer.issueHealthCode({ subject: 'p', colour: 'green', validMinutes: 8 * 24 * 60 }))).toBe('CODE_ERR_ISSUE');
    expect(codeOf(() => issuer.issueSiteCode({ venue: 'v', place: 'Not/A/Place', risk: 'low' }))).toBe('CODE_ERR_ISSUE');
    expect(codeOf(() => issuer.issueSiteCode({ venue: 'v', place: 'a/b/c', risk: 'extreme' as 'low' }))).toBe('CODE_ERR_ISSUE');
    expect(codeOf(() => fixtureIssuer('ES256', 'XA').issueDcc({ payload: { ...dccVaccination, dob: '1850-01-01' } }))).toBe('CODE_ERR_SCHEMA');
    expect(codeOf(() => fixtureIssuer('ES256', ' padded').issueHealthCode({ subject: 'p', colour: 'green' }))).toBe('CODE_ERR_ISSUE');
  });

  it('compresses a city code only when that makes it shorter, and always compresses a DCC', () => {
    const issuer = fixtureIssuer('ES256', 'XA');
    const small = issuer.issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: T });
    expect(decodeBase45(small, 5)[0]).toBe(0xd2); // tag 18, uncompressed
    const dcc = issuer.issueDcc({ payload: dccVaccination, issuedAt: T });
    expect(decodeBase45(dcc, 4)[0]).toBe(0x78); // zlib
  });

  it('keeps health codes small enough for a low-density QR code', () => {
    const qr = fixtureIssuer('ES256').issueHealthCode({ subject: 'p-7f3a9c21', colour: 'green', lastTestAt: T, issuedAt: T });
    expect(qr.length).toBeLessThan(230);
  });
});
