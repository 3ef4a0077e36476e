import type { KeyObject } from 'node:crypto';
import {
  certificateValidity,
  checkDccKeyUsage,
  dccSignerValidAt,
  isCityopsError,
  licenceTypesCovered,
  verifyCodeSignature,
  type DecodedCode,
  type DecodedLicence,
  type LicenceHolderKind,
  type LicenceStatus,
} from '@cityops/protocol';
import { identifierHash, pseudonym } from './identifier-hashes.ts';
import { malformedReason, type Reason } from './reasons.ts';
import type { TrustKey, TrustView } from './trust-list.ts';
import type { CodeKind, Colour, DccType } from './verdict.ts';

/**
 * The first, CPU-bound half of a verification: decode, find the keys of the kid, check the key may
 * sign this kind, check the signature and the DCC key usage. Synchronous and free of clocks and
 * lists that change often, so it runs the same on the main thread, in a pool worker or in the CLI.
 * What it returns is plain data (structured-clone friendly) and never holds the raw subject or
 * code id: only their SHA-256 digests and the keyed pseudonym.
 */
export interface AuthenticCode {
  readonly ok: true;
  readonly kind: CodeKind;
  readonly issuer: string;
  /** ms since the epoch. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly codeIdHash: string;
  readonly subjectHash: string;
  /** HMAC of the subject with the audit key; '' without a key. */
  readonly pseudonym: string;
  readonly colour?: Colour;
  /** The DCC's certificate type (its first group). */
  readonly dccType?: DccType;
  /** Every group a DCC carries (several only in schema 1.0.x-1.2.x payloads). */
  readonly dccTypes?: readonly DccType[];
  readonly licence?: AuthenticLicence;
}

/** What the judging half needs of a licence whose signer may issue it (never the holder: subjectHash). */
export interface AuthenticLicence {
  /** Its own type and every single licence it integrates. */
  readonly types: readonly string[];
  readonly holderKind: LicenceHolderKind;
  readonly region: string;
  readonly scope?: string;
  readonly status: LicenceStatus;
  /** The signer's trust entry recognises its licences beyond the verifier's home region. */
  readonly crossRegion: boolean;
}

export interface Unauthentic {
  readonly ok: false;
  readonly reason: Reason;
  readonly kind: CodeKind | null;
  readonly detail?: string;
  readonly issuer?: string;
  readonly pseudonym?: string;
}

export type Authentication = AuthenticCode | Unauthentic;

/** What decodes a QR text: the protocol's createCodeDecoder(). */
export interface CodeDecoder {
  decode(qr: string): DecodedCode;
}

function signatureHolds(decoded: DecodedCode, key: KeyObject): boolean {
  try {
    return verifyCodeSignature(decoded, key);
  } catch {
    // A key of another type than the code's alg, a malformed signature: it does not hold.
    return false;
  }
}

function refused(decoded: DecodedCode, reason: Reason, pseudonymOf: string, detail?: string): Unauthentic {
  return {
    ok: false,
    reason,
    kind: decoded.kind,
    issuer: decoded.issuer,
    pseudonym: pseudonymOf,
    ...(detail === undefined ? {} : { detail }),
  };
}

export function authenticateCode(qr: string, trust: TrustView, decoder: CodeDecoder, pseudonymKey?: string): Authentication {
  let decoded: DecodedCode;
  try {
    decoded = decoder.decode(qr);
  } catch (err) {
    const code = isCityopsError(err) ? err.code : undefined;
    return { ok: false, reason: malformedReason(code), kind: null, detail: code ?? (err as Error).name };
  }
  try {
    return authenticateDecoded(decoded, trust, pseudonymKey);
  } catch (err) {
    return { ok: false, reason: 'INTERNAL_ERROR', kind: decoded.kind, detail: (err as Error).message.slice(0, 200) };
  }
}

function authenticateDecoded(decoded: DecodedCode, trust: TrustView, pseudonymKey: string | undefined): Authentication {
  const subjectHash = identifierHash(decoded.subject);
  const subjectPseudonym = pseudonymKey === undefined ? '' : pseudonym(pseudonymKey, subjectHash);
  const keys = trust.keysFor(decoded.kid.toString('base64'));
  if (keys === undefined || keys.length === 0) return refused(decoded, 'UNKNOWN_KEY', subjectPseudonym);
  const allowed = keys.filter((k) => k.kinds.includes(decoded.kind));
  if (allowed.length === 0) return refused(decoded, 'KEY_NOT_ALLOWED_FOR_KIND', subjectPseudonym);
  let signer: TrustKey | undefined;
  for (const key of allowed) {
    if (signatureHolds(decoded, key.publicKey)) {
      signer = key;
      break;
    }
  }
  if (signer === undefined) return refused(decoded, 'BAD_SIGNATURE', subjectPseudonym);
  // A trusted key vouches for its own issuer only (a DCC may omit `iss`: then the key decides).
  if (signer.issuer !== undefined && decoded.issuer !== '' && decoded.issuer !== signer.issuer) {
    return refused(decoded, 'ISSUER_MISMATCH', subjectPseudonym, `key of ${signer.issuer}`);
  }
  if (decoded.kind === 'eu-dcc' && signer.certificate !== undefined) {
    if (!checkDccKeyUsage(decoded, signer.certificate)) {
      return refused(decoded, 'KEY_USAGE_MISMATCH', subjectPseudonym, `type ${decoded.keyUsages.join(',')}`);
    }
    if (!dccSignerValidAt(signer.certificate, decoded.issuedAt)) {
      const { notBefore, notAfter } = certificateValidity(signer.certificate);
      const detail = `iat ${new Date(decoded.issuedAt).toISOString()} outside ${new Date(notBefore).toISOString()}..${new Date(notAfter).toISOString()}`;
      return refused(decoded, 'SIGNER_NOT_VALID_AT_ISSUE', subjectPseudonym, detail);
    }
  }
  let licence: AuthenticLicence | undefined;
  if (decoded.kind === 'licence') {
    const judged = licenceOf(decoded, signer);
    if (typeof judged === 'string') return refused(decoded, judged === 'type' ? 'LICENCE_TYPE_NOT_ALLOWED' : 'LICENCE_REGION_NOT_ALLOWED', subjectPseudonym, refusedDetail(decoded, signer, judged));
    licence = judged;
  }
  return {
    ok: true,
    kind: decoded.kind,
    issuer: decoded.issuer,
    issuedAt: decoded.issuedAt,
    expiresAt: decoded.expiresAt,
    codeIdHash: identifierHash(decoded.codeId),
    subjectHash,
    pseudonym: subjectPseudonym,
    ...(decoded.kind === 'health-code' ? { colour: decoded.claims.colour } : {}),
    ...(decoded.kind === 'eu-dcc' ? { dccType: decoded.keyUsage, dccTypes: decoded.keyUsages } : {}),
    ...(licence === undefined ? {} : { licence }),
  };
}

/**
 * A licence its signer may issue: every type it stands for (a comprehensive licence's singles too,
 * else it would widen what the authority may license) within the entry's types, its region within
 * the entry's regions. An entry without `licence` may issue none.
 */
function licenceOf(decoded: DecodedLicence, signer: TrustKey): AuthenticLicence | 'type' | 'region' {
  const types = licenceTypesCovered(decoded.claims);
  const authority = signer.licence;
  if (authority === undefined || types.some((t) => !authority.types.includes(t))) return 'type';
  if (!authority.regions.includes(decoded.claims.region)) return 'region';
  const { holderKind, region, scope, status } = decoded.claims;
  return { types, holderKind, region, ...(scope === undefined ? {} : { scope }), status, crossRegion: authority.crossRegion === true };
}

function refusedDetail(decoded: DecodedLicence, signer: TrustKey, what: 'type' | 'region'): string {
  if (what === 'region') return `region ${decoded.claims.region}`;
  const outside = licenceTypesCovered(decoded.claims).filter((t) => !(signer.licence?.types ?? []).includes(t));
  return `type ${outside.slice(0, 4).join(',')}`;
}
