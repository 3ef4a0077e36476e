import { sign } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { createCodeDecoder, createDevelopmentIssuer, encodeBase45, sigStructure, type DccCertificateType, type DevelopmentIssuer } from '@cityops/protocol';
import { describe, expect, it } from 'vitest';
import { buildRevocationSnapshot } from '../src/revocation-list.ts';
import { buildStatusSnapshot } from '../src/status-feed.ts';
import { parseTrustList } from '../src/trust-list.ts';
import { buildPolicySnapshot } from '../src/venue-policies.ts';
import type { VerificationContext } from '../src/verification-context.ts';
import { verifyCode } from '../src/verify-code.ts';
import { cbor, Tagged } from './cbor-bytes.ts';
import { dccTest, dccVaccination } from './code-fixtures.ts';

/**
 * The verifier's judgement of DCCs as the HCERT specification has it: key usage (A.2), the signer
 * certificate's validity against the code's iat (§3.2.6), fractional NumericDates (RFC 8392 §2),
 * older schema releases. Times are relative to one fixed instant; no test reads today's date.
 */
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const DAY = 86_400_000;
const decoder = createCodeDecoder();
const options = { now: NOW, clockSkewMs: 0, staleAction: 'warn' as const };

function issuerFor(dccTypes?: DccCertificateType[], now = () => NOW): DevelopmentIssuer {
  return createDevelopmentIssuer({ issuer: 'XA', kinds: ['eu-dcc'], ...(dccTypes === undefined ? {} : { dccTypes }), now });
}

function contextFor(issuer: DevelopmentIssuer, dccTypes: DccCertificateType[] = ['v', 't', 'r']): VerificationContext {
  return {
    generation: 1,
    trust: parseTrustList([issuer.trustEntry], 1),
    revocation: buildRevocationSnapshot({ codes: [], subjects: [] }, 1, 1e-6),
    status: buildStatusSnapshot([], 1),
    policies: buildPolicySnapshot({ default: { kinds: ['eu-dcc'], dccTypes } }, 1),
    freshness: {},
  };
}

/** A DCC signed by `issuer` with claims written here: float dates and any payload, as real issuers did. */
function craftDcc(issuer: DevelopmentIssuer, payload: object, iat: number, exp: number): string {
  const protectedBytes = cbor(new Map<number, unknown>([[1, -7], [4, issuer.kid]]));
  const claims = cbor(new Map<number, unknown>([[1, 'XA'], [4, exp], [6, iat], [-260, new Map([[1, payload]])]]));
  const signature = sign('sha256', sigStructure(protectedBytes, claims), { key: issuer.privateKey, dsaEncoding: 'ieee-p1363' });
  return 'HC1:' + encodeBase45(deflateSync(cbor(new Tagged(18, [protectedBytes, new Map(), claims, signature]))));
}

const seconds = (ms: number) => ms / 1000;
const verdictOf = (qr: string, context: VerificationContext, now = NOW) => verifyCode(qr, context, decoder, { ...options, now }).verdict;

describe('DCC key usage at the verifier (HCERT A.2)', () => {
  const payloads = { v: dccVaccination(), t: dccTest(), r: recovery() };

  it('lets a signer certificate without DCC key usage OIDs sign every type', () => {
    const issuer = issuerFor();
    for (const payload of Object.values(payloads)) {
      expect(verdictOf(issuer.issueDcc({ payload }), contextFor(issuer))).toMatchObject({ verdict: 'allow', reason: 'OK' });
    }
  });

  it('restricts a signer certificate with one OID to that type', () => {
    const issuer = issuerFor(['t']);
    expect(verdictOf(issuer.issueDcc({ payload: payloads.t }), contextFor(issuer))).toMatchObject({ reason: 'OK', dccType: 't' });
    expect(verdictOf(issuer.issueDcc({ payload: payloads.v }), contextFor(issuer))).toMatchObject({ reason: 'KEY_USAGE_MISMATCH', detail: 'type v' });
    expect(verdictOf(issuer.issueDcc({ payload: payloads.r }), contextFor(issuer))).toMatchObject({ reason: 'KEY_USAGE_MISMATCH', detail: 'type r' });
  });

  it('needs every group of a 1.0.0 certificate carrying v, t and r covered, and a venue accepting one of them', () => {
    const all = { ...payloads.v, ver: '1.0.0', t: payloads.t.t, r: payloads.r.r };
    const unrestricted = issuerFor();
    const qr = craftDcc(unrestricted, all, seconds(NOW - DAY), seconds(NOW + DAY));
    expect(verdictOf(qr, contextFor(unrestricted))).toMatchObject({ verdict: 'allow', dccType: 'v' });
    expect(verdictOf(qr, contextFor(unrestricted, ['t']))).toMatchObject({ verdict: 'allow' });
    const vaccinationOnly = issuerFor(['v']);
    const restricted = craftDcc(vaccinationOnly, all, seconds(NOW - DAY), seconds(NOW + DAY));
    expect(verdictOf(restricted, contextFor(vaccinationOnly))).toMatchObject({ reason: 'KEY_USAGE_MISMATCH', detail: 'type v,t,r' });
  });
});

describe('signer certificate validity against the code, not the clock (HCERT §3.2.5, §3.2.6)', () => {
  // The development issuer's certificate is valid from its now() - 1 day for 730 days.
  const issuer = issuerFor(undefined, () => NOW);

  it('denies a DCC issued before its signer certificate was valid', () => {
    const early = issuer.issueDcc({ payload: dccVaccination(), issuedAt: NOW - 2 * DAY });
    const verdict = verdictOf(early, contextFor(issuer));
    expect(verdict).toMatchObject({ verdict: 'deny', reason: 'SIGNER_NOT_VALID_AT_ISSUE' });
    expect(verdict.detail).toMatch(/^iat \S+ outside \S+\.\.\S+$/);
  });

  it('denies a DCC issued after its signer certificate expired', () => {
    const late = issuer.issueDcc({ payload: dccVaccination(), issuedAt: NOW + 800 * DAY });
    expect(verdictOf(late, contextFor(issuer), NOW + 801 * DAY)).toMatchObject({ reason: 'SIGNER_NOT_VALID_AT_ISSUE' });
  });

  it('allows a DCC signed while the certificate was valid, after the certificate has expired', () => {
    const qr = craftDcc(issuer, dccVaccination(), seconds(NOW + 700 * DAY), seconds(NOW + 1000 * DAY));
    expect(verdictOf(qr, contextFor(issuer), NOW + 900 * DAY)).toMatchObject({ verdict: 'allow', reason: 'OK' });
    // ... and an exp beyond the certificate's notAfter (the issuer's fault) is not held against it.
    expect(verdictOf(qr, contextFor(issuer), NOW + 999 * DAY)).toMatchObject({ verdict: 'allow' });
  });
});

describe('fractional NumericDates (RFC 8392 §2, RFC 7519 §2)', () => {
  const issuer = issuerFor();
  const iat = 1_780_315_200.78; // 2026-06-01T12:00:00.78Z
  const exp = iat + 3600.5;

  it('verifies a DCC whose iat and exp are CBOR floats, and compares them to the millisecond', () => {
    const qr = craftDcc(issuer, dccVaccination(), iat, exp);
    const decoded = decoder.decode(qr);
    expect(decoded.issuedAt).toBeCloseTo(iat * 1000, 3);
    expect(decoded.expiresAt).toBeCloseTo(exp * 1000, 3);
    expect(verdictOf(qr, contextFor(issuer), iat * 1000 - 1)).toMatchObject({ reason: 'NOT_YET_VALID' });
    expect(verdictOf(qr, contextFor(issuer), iat * 1000 + 1)).toMatchObject({ reason: 'OK', expiresAt: exp * 1000 });
    expect(verdictOf(qr, contextFor(issuer), Math.floor(exp * 1000))).toMatchObject({ reason: 'OK' });
    expect(verdictOf(qr, contextFor(issuer), Math.ceil(exp * 1000) + 1)).toMatchObject({ reason: 'EXPIRED' });
  });
});

describe('older schema releases at the verifier', () => {
  const issuer = issuerFor();
  const window = [seconds(NOW - DAY), seconds(NOW + DAY)] as const;

  it('allows a 1.2.1 test certificate, a 1.3.1 one without tc, a 1.3.0 recovery and a 1.0.0 vaccination with a year-only dob', () => {
    const { tc: _tc, ...test } = dccTest().t![0]!;
    const cases = [
      { ...dccTest(), ver: '1.2.1', t: [{ ...test, tc: 'Test centre' }] },
      { ...dccTest(), ver: '1.3.1', t: [test] },
      recovery(),
      { ...dccVaccination(), ver: '1.0.0', dob: '1964' },
    ];
    for (const payload of cases) {
      expect(verdictOf(craftDcc(issuer, payload, ...window), contextFor(issuer))).toMatchObject({ verdict: 'allow', reason: 'OK' });
    }
  });

  it('denies a payload no release allows', () => {
    const payload = { ...dccVaccination(), nam: { fn: 'no standardised name' } };
    expect(verdictOf(craftDcc(issuer, payload, ...window), contextFor(issuer))).toMatchObject({ reason: 'MALFORMED_SCHEMA', detail: 'CODE_ERR_SCHEMA' });
  });
});

function recovery(): ReturnType<typeof dccVaccination> {
  return {
    ver: '1.3.0',
    nam: { fnt: 'WANG', gnt: 'FANG' },
    dob: '1990-01-01',
    r: [{ tg: '840539006', fr: '2021-03-01', co: 'XA', is: 'Ministry of Health', df: '2021-03-12', du: '2021-08-28', ci: 'URN:UVCI:01:XA:REC#1' }],
  };
}
