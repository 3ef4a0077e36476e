import { createHash, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { codeErrors } from './code-errors.ts';
import { createCodeIssuer, type CodeIssuer } from './code-issuer.ts';
import { CODE_KINDS, type CodeAlg, type CodeKind } from './code-types.ts';
import { keyFitsAlg } from './cose-algorithms.ts';
import type { DccCertificateType } from './dcc-schema.ts';
import { createSelfSignedCertificate } from './x509-self-signed.ts';

/**
 * One entry of a trust file: `{"kid": base64, "certificate": base64 DER X.509}` or
 * `{"kid": base64, "publicKey": base64 DER SPKI}`, with optional `issuer`, `kinds` and, for a licensing
 * authority, `licence`. (The verifier owns reading trust files; this is what our issuers write.)
 */
export interface IssuerTrustEntry {
  readonly kid: string;
  readonly certificate?: string;
  readonly publicKey?: string;
  readonly issuer?: string;
  readonly kinds?: readonly CodeKind[];
  readonly licence?: LicenceAuthority;
}

/** What a licensing authority's trust entry lets it sign: these types, for these regions. */
export interface LicenceAuthority {
  readonly types: readonly string[];
  readonly regions: readonly string[];
  /** Its licences for a region other than the verifier's home region are recognised there. */
  readonly crossRegion?: boolean;
}

export interface DevelopmentIssuerOptions {
  /** Default ES256 (or what `privateKey` is a key of). */
  readonly alg?: CodeAlg | undefined;
  /** CWT `iss`; default "cityops-dev". */
  readonly issuer?: string | undefined;
  /** What the trust entry lets this key sign; default all kinds (licences only with `licence`). */
  readonly kinds?: readonly CodeKind[] | undefined;
  /** The licence types and regions the trust entry lets this key sign (needed for the kind licence). */
  readonly licence?: LicenceAuthority | undefined;
  /** Sign with this key instead of a new one (the checked-in test vector keys). */
  readonly privateKey?: KeyObject | undefined;
  /** Use this DER certificate (of `privateKey`) instead of making one. */
  readonly certificate?: Buffer | undefined;
  /** Restrict the made certificate to these DCC types (extended key usage); default none: all types. */
  readonly dccTypes?: readonly DccCertificateType[] | undefined;
  /** The certificate's country (C); default the issuer when it is a two-letter code. */
  readonly country?: string | undefined;
  /** Trust by certificate (kid per HCERT A.1) or by bare public key (kid over the SPKI). Default certificate. */
  readonly trustForm?: 'certificate' | 'public-key' | undefined;
  readonly certificateValidDays?: number | undefined;
  readonly now?: (() => number) | undefined;
}

export interface DevelopmentIssuer extends CodeIssuer {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Self-signed X.509 (DER) of the key. */
  readonly certificate: Buffer;
  readonly kinds: readonly CodeKind[];
  /** What a verifier's trust file needs to accept this issuer's codes. */
  readonly trustEntry: IssuerTrustEntry;
  privateKeyPem(): string;
}

/** The COSE algorithm a key signs with: P-256 -> ES256, Ed25519/Ed448 -> EdDSA, RSA >= 2048 -> PS256. */
export function algForKey(key: KeyObject): CodeAlg | undefined {
  return (['ES256', 'EdDSA', 'PS256'] as const).find((alg) => keyFitsAlg(key, alg));
}

/** HCERT A.1: the kid is the first 8 bytes of the SHA-256 of the DER the key is trusted by. */
export function kidOf(der: Uint8Array): Buffer {
  return createHash('sha256').update(der).digest().subarray(0, 8);
}

function generateKey(alg: CodeAlg): KeyObject {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'EdDSA':
      return generateKeyPairSync('ed25519').privateKey;
    case 'PS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  }
}

const DAY_MS = 86_400_000;

/**
 * A local issuer for demos and tests: a key (new, or given), a self-signed certificate, the trust
 * entry that makes a verifier accept it, and the issue* methods. Never for production codes.
 */
export function createDevelopmentIssuer(options: DevelopmentIssuerOptions = {}): DevelopmentIssuer {
  const now = options.now ?? Date.now;
  const issuer = options.issuer ?? 'cityops-dev';
  const kinds = [...(options.kinds ?? CODE_KINDS.filter((k) => k !== 'licence' || options.licence !== undefined))];
  if (kinds.length === 0 || kinds.some((k) => !CODE_KINDS.includes(k))) throw codeErrors.CODE_ERR_ISSUE(`kinds must be some of ${CODE_KINDS.join(', ')}`);
  if (kinds.includes('licence') && (options.licence === undefined || options.licence.types.length === 0 || options.licence.regions.length === 0)) {
    throw codeErrors.CODE_ERR_ISSUE('an issuer of licences needs the licence types and regions its trust entry allows');
  }
  const alg = options.alg ?? (options.privateKey === undefined ? 'ES256' : algForKey(options.privateKey));
  if (alg === undefined) throw codeErrors.CODE_ERR_ALG('the key fits none of ES256, EdDSA, PS256');
  const privateKey = options.privateKey ?? generateKey(alg);
  const publicKey = createPublicKey(privateKey);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const certificate =
    options.certificate ??
    createSelfSignedCertificate({
      privateKey,
      publicKey,
      commonName: `cityops development issuer ${issuer}`.slice(0, 64),
      country: options.country ?? (/^[A-Z]{2}$/.test(issuer) ? issuer : undefined),
      notBefore: now() - DAY_MS,
      notAfter: now() + (options.certificateValidDays ?? 730) * DAY_MS,
      dccTypes: options.dccTypes,
    });
  if (!new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' }).equals(spki)) {
    throw codeErrors.CODE_ERR_ISSUE('the certificate is not of this key');
  }
  const byCertificate = (options.trustForm ?? 'certificate') === 'certificate';
  const kid = kidOf(byCertificate ? certificate : spki);
  const codeIssuer = createCodeIssuer({ kid, privateKey, alg, issuer }, { now });
  const trustEntry: IssuerTrustEntry = {
    kid: kid.toString('base64'),
    ...(byCertificate ? { certificate: certificate.toString('base64') } : { publicKey: spki.toString('base64') }),
    issuer,
    kinds,
    ...(options.licence === undefined || !kinds.includes('licence') ? {} : { licence: { ...options.licence } }),
  };
  return {
    ...codeIssuer,
    privateKey,
    publicKey,
    certificate,
    kinds,
    trustEntry,
    privateKeyPem: () => privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
