import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject, type PrivateKeyInput, type PublicKeyInput } from 'node:crypto';
import { compileSchemaCheck, REFERENCE_TOPIC_KINDS, type ReferenceTopicKind } from '@cityops/protocol';
import { verifierErrors } from './errors.ts';

/**
 * The envelope in which reference data travels to scanners over retained MQTT
 * (`cityops/v1/reference/{kind}`): the body as the scanner would read it from its HTTP source (the
 * trust list as the verifier read it; the revocation filter in CBF2), a header that names the kind,
 * a version that only grows, when the data was last known current, and the body's SHA-256, and a
 * signature over magic and header by the publisher's key (Ed25519, or ECDSA P-256/384 with SHA-256,
 * DER). A scanner applies a body only when the signature holds with the key it is configured with,
 * the digest matches and the version is above the one it holds: a forged, altered or replayed older
 * copy is refused before it is parsed.
 *
 *   0      "CRP1"   magic and format version
 *   4      u16 H    header length (big-endian)
 *   6      header   JSON {"kind","version","freshAt","sha256","bytes"}
 *   6+H    u16 S    signature length
 *   8+H    sig      signature over bytes [0, 6+H)
 *   8+H+S  body
 */
export interface ReferenceHeader {
  readonly kind: ReferenceTopicKind;
  /** Grows with every change the publisher sees (ms since the epoch of its clock, or one more than the last). */
  readonly version: number;
  /** When the publisher last knew the data current, ms since the epoch. */
  readonly freshAt: number;
  readonly sha256: string;
  readonly bytes: number;
}

export interface OpenedReference {
  readonly header: ReferenceHeader;
  readonly body: Buffer;
}

const MAGIC = Buffer.from('CRP1', 'latin1');
const MAX_HEADER_BYTES = 1024;
/** Far above an Ed25519 (64) or a DER ECDSA P-384 signature (~104). */
const MAX_SIGNATURE_BYTES = 256;

const headerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'version', 'freshAt', 'sha256', 'bytes'],
  properties: {
    kind: { enum: REFERENCE_TOPIC_KINDS },
    version: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
    freshAt: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    bytes: { type: 'integer', minimum: 0 },
  },
} as const;
const checkHeader = compileSchemaCheck(headerSchema);

/** PEM, or base64 of the DER (PKCS#8 for a private key, SPKI for a public one). */
function keyInput(text: string, type: 'pkcs8' | 'spki') {
  const trimmed = text.trim();
  return trimmed.startsWith('-----BEGIN') ? { key: trimmed, format: 'pem' as const } : { key: Buffer.from(trimmed, 'base64'), format: 'der' as const, type };
}

function checkKeyType(key: KeyObject): KeyObject {
  const type = key.asymmetricKeyType;
  if (type !== 'ed25519' && type !== 'ec') throw verifierErrors.VERIFIER_ERR_CONFIG(`reference signing takes an Ed25519 or EC key, not ${type ?? 'a secret key'}`);
  return key;
}

/** The publisher's key (verifier `referencePush.signingKey`). Throws VERIFIER_ERR_CONFIG when unusable. */
export function parseReferenceSigningKey(text: string): KeyObject {
  try {
    return checkKeyType(createPrivateKey(keyInput(text, 'pkcs8') as PrivateKeyInput));
  } catch (err) {
    throw verifierErrors.VERIFIER_ERR_CONFIG(`reference signing key: ${(err as Error).message}`, err);
  }
}

/** What scanners check with (scanner `reference.push.publisherKey`): the public key (PEM or base64 SPKI DER). */
export function parseReferencePublisherKey(text: string): KeyObject {
  try {
    return checkKeyType(createPublicKey(keyInput(text, 'spki') as PublicKeyInput));
  } catch (err) {
    throw verifierErrors.VERIFIER_ERR_CONFIG(`reference publisher key: ${(err as Error).message}`, err);
  }
}

const digestOf = (key: KeyObject) => (key.asymmetricKeyType === 'ed25519' ? null : 'sha256');

export function sealReference(header: Omit<ReferenceHeader, 'sha256' | 'bytes'>, body: Buffer, signingKey: KeyObject): Buffer {
  const full: ReferenceHeader = { ...header, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length };
  const headerBytes = Buffer.from(JSON.stringify(full), 'utf8');
  const signed = Buffer.alloc(6 + headerBytes.length);
  MAGIC.copy(signed, 0);
  signed.writeUInt16BE(headerBytes.length, 4);
  headerBytes.copy(signed, 6);
  const signature = sign(digestOf(signingKey), signed, signingKey);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(signature.length, 0);
  return Buffer.concat([signed, length, signature, body]);
}

const refuse = (what: string, cause?: unknown) => verifierErrors.VERIFIER_ERR_REFERENCE_ENVELOPE(what, cause);

/**
 * Checks an envelope and returns its header and body; throws VERIFIER_ERR_REFERENCE_ENVELOPE naming
 * what failed. The signature is checked before the header is parsed, the digest before the body is
 * handed on: nothing of an unverified message reaches a parser.
 */
export function openReference(bytes: Buffer, publisherKey: KeyObject, maxBodyBytes: number): OpenedReference {
  if (bytes.length < 8 || !bytes.subarray(0, 4).equals(MAGIC)) throw refuse('not a reference envelope (no CRP1 magic)');
  const headerLength = bytes.readUInt16BE(4);
  if (headerLength > MAX_HEADER_BYTES || bytes.length < 8 + headerLength) throw refuse(`header of ${headerLength} bytes: truncated or over ${MAX_HEADER_BYTES}`);
  const signatureLength = bytes.readUInt16BE(6 + headerLength);
  const bodyStart = 8 + headerLength + signatureLength;
  if (signatureLength === 0 || signatureLength > MAX_SIGNATURE_BYTES || bytes.length < bodyStart) throw refuse('signature missing, truncated or too long');
  const signed = bytes.subarray(0, 6 + headerLength);
  let holds = false;
  try {
    holds = verify(digestOf(publisherKey), signed, publisherKey, bytes.subarray(8 + headerLength, bodyStart));
  } catch {
    holds = false;
  }
  if (!holds) throw refuse('the signature does not verify with the configured publisher key');
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(6, 6 + headerLength).toString('utf8'));
  } catch (err) {
    throw refuse('header is not JSON', err);
  }
  const problems = checkHeader(header);
  if (problems.length > 0) throw refuse(`header: ${problems.join('; ')}`);
  const h = header as ReferenceHeader;
  const body = bytes.subarray(bodyStart);
  if (body.length !== h.bytes || body.length > maxBodyBytes) throw refuse(`body of ${body.length} bytes, header says ${h.bytes} (at most ${maxBodyBytes})`);
  if (createHash('sha256').update(body).digest('hex') !== h.sha256) throw refuse('body does not match its digest');
  return { header: h, body };
}
