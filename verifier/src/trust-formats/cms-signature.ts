import { constants, createHash, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { childrenOf, expectTag, octetsOf, oidOf, readSingle, type DerElement } from './der-reader.ts';

/**
 * Checks the `signature` of an EU DCC Gateway trust-list entry: a CMS SignedData (RFC 5652) over
 * the entry's certificate (rawData, DER), detached or embedding the same bytes, in DER or in the BER
 * BouncyCastle writes (indefinite lengths: the gateway's entries begin `MIAGCSqG`), with exactly one
 * certificate and one SignerInfo, as the gateway's own parser (dgc-lib SignedCertificateMessageParser)
 * demands. Returns the certificate that signed; whether that signer is trusted is the caller's call
 * (the trust anchor for CSCA/UPLOAD entries, the country's UPLOAD certificate for DSCs).
 */
const OID = {
  signedData: '1.2.840.113549.1.7.2',
  data: '1.2.840.113549.1.7.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  rsaPss: '1.2.840.113549.1.1.10',
} as const;

const DIGESTS: Readonly<Record<string, string>> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** Signature algorithms: the hash they imply (undefined: the SignerInfo's digestAlgorithm), and how to verify. */
const SIGNATURES: Readonly<Record<string, { hash?: string; scheme: 'ecdsa' | 'pkcs1' | 'pss' | 'eddsa' }>> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', scheme: 'ecdsa' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', scheme: 'ecdsa' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', scheme: 'ecdsa' },
  // RFC 5753 §2.1.1 allows id-ecPublicKey here, the hash then being the digestAlgorithm.
  '1.2.840.10045.2.1': { scheme: 'ecdsa' },
  '1.2.840.113549.1.1.1': { scheme: 'pkcs1' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', scheme: 'pkcs1' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', scheme: 'pkcs1' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', scheme: 'pkcs1' },
  [OID.rsaPss]: { scheme: 'pss' },
  '1.3.101.112': { scheme: 'eddsa' },
};

interface SignerInfo {
  readonly digest: string;
  readonly signedAttrs?: DerElement;
  readonly algorithm: string;
  readonly algorithmParams?: DerElement;
  readonly signature: Buffer;
}

function readSignerInfo(element: DerElement): SignerInfo {
  const parts = childrenOf(expectTag(element, 0x30, 'SignerInfo'));
  // version, sid, digestAlgorithm, [0] signedAttrs?, signatureAlgorithm, signature, [1] unsignedAttrs?
  let i = 2;
  const digestOid = oidOf(expectTag(childrenOf(expectTag(parts[i++], 0x30, 'digestAlgorithm'))[0], 0x06, 'digestAlgorithm OID'));
  const digest = DIGESTS[digestOid];
  if (digest === undefined) throw new Error(`digest algorithm ${digestOid} not supported`);
  const signedAttrs = parts[i]?.tag === 0xa0 ? parts[i++] : undefined;
  const algorithmParts = childrenOf(expectTag(parts[i++], 0x30, 'signatureAlgorithm'));
  const algorithm = oidOf(expectTag(algorithmParts[0], 0x06, 'signatureAlgorithm OID'));
  const signature = expectTag(parts[i], 0x04, 'signature').body;
  return { digest, algorithm, signature, ...(signedAttrs === undefined ? {} : { signedAttrs }), ...(algorithmParts[1] === undefined ? {} : { algorithmParams: algorithmParts[1] }) };
}

/** RFC 4055 §3.1: RSASSA-PSS-params; the salt length, default 20. */
function pssSaltLength(params: DerElement | undefined): number {
  if (params === undefined || params.tag !== 0x30) return 20;
  const salt = childrenOf(params).find((p) => p.tag === 0xa2);
  if (salt === undefined) return 20;
  const integer = expectTag(childrenOf(salt)[0], 0x02, 'saltLength');
  return integer.body.reduce((n, b) => n * 256 + b, 0);
}

function signatureHolds(info: SignerInfo, signed: Buffer, key: KeyObject): boolean {
  const scheme = SIGNATURES[info.algorithm];
  if (scheme === undefined) throw new Error(`signature algorithm ${info.algorithm} not supported`);
  const hash = scheme.hash ?? info.digest;
  switch (scheme.scheme) {
    case 'ecdsa':
      return verify(hash, signed, { key, dsaEncoding: 'der' }, info.signature);
    case 'pkcs1':
      return verify(hash, signed, { key, padding: constants.RSA_PKCS1_PADDING }, info.signature);
    case 'pss':
      return verify(hash, signed, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pssSaltLength(info.algorithmParams) }, info.signature);
    case 'eddsa':
      return verify(null, signed, key, info.signature);
  }
}

/** RFC 5652 §5.4: with signed attributes, the signature covers their DER with the SET OF tag, and messageDigest must match the content. */
function signedBytes(info: SignerInfo, content: Buffer): Buffer {
  if (info.signedAttrs === undefined) return content;
  let digest: Buffer | undefined;
  let contentType: string | undefined;
  for (const attribute of childrenOf(info.signedAttrs)) {
    const [type, values] = childrenOf(expectTag(attribute, 0x30, 'Attribute'));
    const oid = oidOf(expectTag(type, 0x06, 'attribute type'));
    const first = childrenOf(expectTag(values, 0x31, 'attribute values'))[0];
    if (oid === OID.messageDigest) digest = expectTag(first, 0x04, 'messageDigest').body;
    if (oid === OID.contentType) contentType = oidOf(expectTag(first, 0x06, 'contentType'));
  }
  // RFC 5652 §5.3: both attributes are required when signed attributes are present.
  if (digest === undefined || contentType !== OID.data) throw new Error('signed attributes lack messageDigest or contentType id-data');
  if (!createHash(info.digest).update(content).digest().equals(digest)) throw new Error('messageDigest does not match the certificate');
  return Buffer.concat([Buffer.from([0x31]), info.signedAttrs.raw.subarray(1)]);
}

/** Verifies a base64 CMS SignedData over `content`; returns its signing certificate, or throws saying why not. */
export function verifyCmsSignature(signatureBase64: string, content: Buffer): X509Certificate {
  const contentInfo = childrenOf(expectTag(readSingle(Buffer.from(signatureBase64, 'base64')), 0x30, 'ContentInfo'));
  if (oidOf(expectTag(contentInfo[0], 0x06, 'contentType')) !== OID.signedData) throw new Error('not a CMS SignedData');
  const signedData = childrenOf(expectTag(childrenOf(expectTag(contentInfo[1], 0xa0, 'content'))[0], 0x30, 'SignedData'));
  const encapsulated = childrenOf(expectTag(signedData[2], 0x30, 'encapContentInfo'));
  if (oidOf(expectTag(encapsulated[0], 0x06, 'eContentType')) !== OID.data) throw new Error('the signed content is not id-data');
  if (encapsulated[1] !== undefined) {
    const embedded = childrenOf(expectTag(encapsulated[1], 0xa0, 'eContent'))[0];
    if (embedded === undefined || !octetsOf(embedded).equals(content)) throw new Error('the embedded content is not the certificate');
  }
  const rest = signedData.slice(3);
  const certificates = rest[0]?.tag === 0xa0 ? childrenOf(rest[0]) : [];
  const signerInfos = childrenOf(expectTag(rest.at(-1), 0x31, 'signerInfos'));
  if (certificates.length !== 1) throw new Error(`the signature holds ${certificates.length} certificates, expected 1`);
  if (signerInfos.length !== 1) throw new Error(`the signature holds ${signerInfos.length} signer infos, expected 1`);
  const signer = new X509Certificate(certificates[0]!.raw);
  const info = readSignerInfo(signerInfos[0]!);
  if (!signatureHolds(info, signedBytes(info, content), signer.publicKey)) throw new Error('the signature does not verify');
  return signer;
}
