import { constants, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { codeErrors } from './code-errors.ts';
import type { DccCertificateType } from './dcc-schema.ts';
import {
  derBitString,
  derBoolean,
  derExplicit,
  derNull,
  derOctetString,
  derOid,
  derPrintableString,
  derSequence,
  derSet,
  derSmallInteger,
  derTime,
  derUnsignedInteger,
  derUtf8String,
} from './der-writer.ts';

/**
 * HCERT Appendix A.2 (eHealth Network DSC profile): extended key usage OIDs that restrict which
 * DCC types a document signer may sign. Absent all three, it may sign every type.
 */
export const DCC_KEY_USAGE_OIDS: Readonly<Record<DccCertificateType, string>> = Object.freeze({
  t: '1.3.6.1.4.1.1847.2021.1.1',
  v: '1.3.6.1.4.1.1847.2021.1.2',
  r: '1.3.6.1.4.1.1847.2021.1.3',
});

const OID = {
  countryName: '2.5.4.6',
  commonName: '2.5.4.3',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
} as const;

export interface SelfSignedCertificateOptions {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly commonName: string;
  /** ISO 3166-1 alpha-2, the DSC's country (HCERT §5); omitted when not given. */
  readonly country?: string | undefined;
  readonly notBefore: number;
  readonly notAfter: number;
  /** DCC types the certificate may sign; undefined or empty: no restriction (no DCC OIDs). */
  readonly dccTypes?: readonly DccCertificateType[] | undefined;
  /** Further extended key usage OIDs (e.g. 1.3.6.1.5.5.7.3.1), written after the DCC ones. */
  readonly extraKeyUsageOids?: readonly string[] | undefined;
}

function signatureAlgorithm(privateKey: KeyObject): { id: Buffer; sign: (tbs: Buffer) => Buffer } {
  switch (privateKey.asymmetricKeyType) {
    // RFC 5758 §3.2: ecdsa-with-SHA256 has no parameters; the signature is a DER Ecdsa-Sig-Value.
    case 'ec':
      return { id: derSequence(derOid(OID.ecdsaWithSha256)), sign: (tbs) => sign('sha256', tbs, privateKey) };
    // RFC 8410 §3: Ed25519 and Ed448 have absent parameters.
    case 'ed25519':
      return { id: derSequence(derOid(OID.ed25519)), sign: (tbs) => sign(null, tbs, privateKey) };
    case 'ed448':
      return { id: derSequence(derOid(OID.ed448)), sign: (tbs) => sign(null, tbs, privateKey) };
    // RFC 4055 §5: sha256WithRSAEncryption with NULL parameters.
    case 'rsa':
      return {
        id: derSequence(derOid(OID.sha256WithRsa), derNull()),
        sign: (tbs) => sign('sha256', tbs, { key: privateKey, padding: constants.RSA_PKCS1_PADDING }),
      };
    default:
      throw codeErrors.CODE_ERR_ISSUE(`cannot self-sign a certificate with a ${privateKey.asymmetricKeyType ?? 'secret'} key`);
  }
}

function name(commonName: string, country: string | undefined): Buffer {
  const rdn = (oid: string, value: Buffer) => derSet(derSequence(derOid(oid), value));
  return derSequence(
    ...(country === undefined ? [] : [rdn(OID.countryName, derPrintableString(country))]),
    rdn(OID.commonName, derUtf8String(commonName)),
  );
}

/**
 * A self-signed X.509 v3 certificate (RFC 5280 §4.1) for a development document signer:
 * key usage digitalSignature (critical), and the DCC extended key usages when restricted.
 * Returns DER.
 */
export function createSelfSignedCertificate(options: SelfSignedCertificateOptions): Buffer {
  if (options.country !== undefined && !/^[A-Z]{2}$/.test(options.country)) {
    throw codeErrors.CODE_ERR_ISSUE(`country ${JSON.stringify(options.country)} is not ISO 3166-1 alpha-2`);
  }
  const algorithm = signatureAlgorithm(options.privateKey);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // RFC 5280 §4.1.2.2: positive, at most 20 octets
  const subject = name(options.commonName, options.country);
  const extensions = [
    // RFC 5280 §4.2.1.3: keyUsage, bit 0 digitalSignature (one bit used: 7 unused).
    derSequence(derOid(OID.keyUsage), derBoolean(true), derOctetString(derBitString(Buffer.from([0x80]), 7))),
  ];
  const oids = [...(options.dccTypes ?? []).map((t) => DCC_KEY_USAGE_OIDS[t]), ...(options.extraKeyUsageOids ?? [])];
  if (oids.length > 0) {
    // RFC 5280 §4.2.1.12; HCERT A.2 defines the DCC ones as non-critical.
    extensions.push(derSequence(derOid(OID.extKeyUsage), derOctetString(derSequence(...oids.map(derOid)))));
  }
  const tbs = derSequence(
    derExplicit(0, derSmallInteger(2)), // v3
    derUnsignedInteger(serial),
    algorithm.id,
    subject,
    derSequence(derTime(options.notBefore), derTime(options.notAfter)),
    subject,
    options.publicKey.export({ type: 'spki', format: 'der' }),
    derExplicit(3, derSequence(...extensions)),
  );
  const der = derSequence(tbs, algorithm.id, derBitString(algorithm.sign(tbs)));
  // Parse it back: a certificate node:crypto cannot read is a defect here, not a surprise later.
  const parsed = new X509Certificate(der);
  if (!parsed.verify(options.publicKey)) throw codeErrors.CODE_ERR_ISSUE('self-signed certificate does not verify');
  return der;
}
