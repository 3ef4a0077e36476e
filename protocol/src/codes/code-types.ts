import type { Place } from '../hierarchy.ts';
import type { DccCertificateType, DccPayload } from './dcc-schema.ts';
import type { DccSchemaVersion } from './dcc-schema-versions.ts';
import type { LicenceClaims } from './licence-schema.ts';

/** The code formats: the EU Digital COVID Certificate, the city's health code, a venue's site code, an electronic licence. */
export const CODE_KINDS = ['eu-dcc', 'health-code', 'site-code', 'licence'] as const;
export type CodeKind = (typeof CODE_KINDS)[number];

/** COSE signature algorithms accepted (RFC 9053 §2.1 ES256, §2.2 EdDSA; RFC 8230 §2 PS256). */
export const CODE_ALGS = ['ES256', 'EdDSA', 'PS256'] as const;
export type CodeAlg = (typeof CODE_ALGS)[number];

export const HEALTH_COLOURS = ['green', 'yellow', 'red'] as const;
export type HealthColour = (typeof HEALTH_COLOURS)[number];

export const SITE_RISKS = ['low', 'medium', 'high'] as const;
export type SiteRisk = (typeof SITE_RISKS)[number];

export interface HealthCodeClaims {
  /** Pseudonymous subject (CWT `sub`): never a name or an identity number. */
  readonly subject: string;
  readonly colour: HealthColour;
  /** Time of the holder's last test, ms since the epoch, when the issuer states it. */
  readonly lastTestAt?: number;
}

export interface SiteCodeClaims {
  /** Venue id (CWT `sub`). */
  readonly venue: string;
  /** Where the venue sits in the hierarchy. */
  readonly place: Place;
  readonly risk: SiteRisk;
}

/** The COSE Sig_structure bytes (RFC 9052 §4.4) and the signature over them. */
export interface CodeSignature {
  readonly toBeSigned: Buffer;
  readonly value: Buffer;
}

interface DecodedCodeBase {
  readonly alg: CodeAlg;
  /** COSE kid (label 4): protected header, else unprotected (HCERT §3.2.3: the protected one wins). */
  readonly kid: Buffer;
  /** CWT `iss` (DCC: the issuing country, optional there, then ''). */
  readonly issuer: string;
  /** CWT `iat`, ms since the epoch. */
  readonly issuedAt: number;
  /** CWT `exp`, ms since the epoch. */
  readonly expiresAt: number;
  /** What revocation by code id matches: the DCC's UVCI (`ci`), a licence's number, else the CWT `cti` as lower-case hex. */
  readonly codeId: string;
  /**
   * What revocation by subject and the status feed match: the health code's pseudonymous `sub`,
   * the site code's venue id, a licence's holder, or for a DCC the hex SHA-256 of its standardised names and date of
   * birth (see `dccSubjectHash`).
   */
  readonly subject: string;
  readonly signature: CodeSignature;
}

export interface DecodedHealthCode extends DecodedCodeBase {
  readonly kind: 'health-code';
  readonly claims: HealthCodeClaims;
}

export interface DecodedSiteCode extends DecodedCodeBase {
  readonly kind: 'site-code';
  readonly claims: SiteCodeClaims;
}

export interface DecodedLicence extends DecodedCodeBase {
  readonly kind: 'licence';
  readonly claims: LicenceClaims;
}

export interface DecodedDcc extends DecodedCodeBase {
  readonly kind: 'eu-dcc';
  readonly claims: DccPayload;
  /**
   * Which certificate type this DCC is (vaccination, test, recovery): what the signer
   * certificate's extended key usage may restrict (see `checkDccKeyUsage`).
   */
  readonly keyUsage: DccCertificateType;
  /** Every certificate type the payload carries (a 1.0.x-1.2.x payload may carry v, t and r together). */
  readonly keyUsages: readonly DccCertificateType[];
  /** The published schema release the payload was validated with (see `dccSchemaVersionFor`). */
  readonly schemaVersion: DccSchemaVersion;
  /** What the payload misses that the schemas treat as advisory (formats, its own release's stricter rules). */
  readonly advisories: readonly string[];
}

/** A decoded code, not yet trusted: its signature is checked with `verifyCodeSignature`. */
export type DecodedCode = DecodedHealthCode | DecodedSiteCode | DecodedLicence | DecodedDcc;
