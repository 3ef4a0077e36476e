import type { KeyObject } from 'node:crypto';
import { byteStringHead, declaredMapSize, Tag, type CborCodec } from './cbor-codec.ts';
import { codeErrors } from './code-errors.ts';
import type { CodeAlg, CodeSignature } from './code-types.ts';
import { describe } from './cwt-claims.ts';
import { algFromCoseId, COSE_ALG_IDS, signatureLengthFits, signWithAlg } from './cose-algorithms.ts';

/** RFC 9052 §4.2: the CBOR tag of a COSE_Sign1 message; RFC 8392 §6: the CWT tag that may wrap it. */
export const COSE_SIGN1_TAG = 18;
export const CWT_TAG = 61;

/** RFC 9052 §3.1 header labels. */
const ALG = 1;
const CRIT = 2;
const KID = 4;

export const MAX_KID_BYTES = 64;

export interface CoseSign1 {
  readonly alg: CodeAlg;
  readonly kid: Buffer;
  readonly payload: Buffer;
  readonly signature: CodeSignature;
}

export interface CoseReadRules {
  /** Refuse an untagged COSE_Sign1 (our own formats); HCERT leaves the tag optional. */
  readonly requireTag: boolean;
  /** Accept the CWT tag 61 around the COSE_Sign1 (RFC 8392 §6). */
  readonly allowCwtTag: boolean;
  /** Take alg from the unprotected header when the protected one has none (DCC: see readAlg). */
  readonly algMayBeUnprotected: boolean;
  readonly algs: readonly CodeAlg[];
}

const SIGNATURE1 = Buffer.from([0x84, 0x6a, ...Buffer.from('Signature1', 'ascii')]);
const EMPTY_BSTR = Buffer.from([0x40]);

function sigStructureParts(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array[] {
  return [SIGNATURE1, byteStringHead(protectedBytes.length), protectedBytes, EMPTY_BSTR, byteStringHead(payload.length), payload];
}

/**
 * RFC 9052 §4.4: the bytes a COSE_Sign1 signature covers, the CBOR array
 * ["Signature1", body_protected, external_aad (empty here), payload], written directly.
 */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Buffer {
  return Buffer.concat(sigStructureParts(protectedBytes, payload));
}

/**
 * The Sig_structure and the signature in one exact-size ArrayBuffer of their own (never Buffer's
 * shared 8 KiB pool): posting them to a worker copies these bytes and nothing of anyone else's.
 */
function signedBytes(protectedBytes: Uint8Array, payload: Uint8Array, signature: Uint8Array): CodeSignature {
  const parts = sigStructureParts(protectedBytes, payload);
  const tbsLength = parts.reduce((n, p) => n + p.length, 0);
  const own = Buffer.allocUnsafeSlow(tbsLength + signature.length);
  let at = 0;
  for (const part of parts) {
    own.set(part, at);
    at += part.length;
  }
  own.set(signature, at);
  return { toBeSigned: own.subarray(0, tbsLength), value: own.subarray(tbsLength) };
}

function isBytes(value: unknown): value is Buffer {
  return value instanceof Uint8Array;
}

function unwrapTags(item: unknown, rules: CoseReadRules): unknown {
  let value = item;
  if (value instanceof Tag && value.tag === CWT_TAG && rules.allowCwtTag) value = value.value;
  if (value instanceof Tag) {
    if (value.tag !== COSE_SIGN1_TAG) throw codeErrors.CODE_ERR_COSE(`CBOR tag ${value.tag} is not COSE_Sign1 (18)`);
    return value.value;
  }
  if (rules.requireTag) throw codeErrors.CODE_ERR_COSE('COSE_Sign1 tag 18 missing');
  return value;
}

function readProtectedHeader(bytes: Buffer, cbor: CborCodec): Map<unknown, unknown> {
  // RFC 9052 §3: an empty protected header is a zero-length byte string.
  if (bytes.length === 0) return new Map();
  const header = cbor.decode(bytes, 'protected header');
  if (!(header instanceof Map)) throw codeErrors.CODE_ERR_COSE('protected header is not a CBOR map');
  // RFC 9052 §3: labels in a header map are unique.
  if (declaredMapSize(bytes) > header.size) throw codeErrors.CODE_ERR_COSE('protected header repeats a label');
  return header;
}

function readAlg(protectedHeader: Map<unknown, unknown>, unprotected: Map<unknown, unknown>, rules: CoseReadRules): CodeAlg {
  // RFC 9052 §3: a label never sits in both buckets.
  if (unprotected.has(ALG) && protectedHeader.has(ALG)) throw codeErrors.CODE_ERR_ALG('alg is in both headers');
  // RFC 9052 §3.1 wants alg authenticated; our own formats insist. DCC issuers put it in the
  // unprotected header too (eHN dgc-testdata CO19: VALID), and it cannot change how a signature is
  // checked: the trusted key's type fixes the algorithm (keyFitsAlg), so it is taken there as well.
  if (unprotected.has(ALG) && !rules.algMayBeUnprotected) throw codeErrors.CODE_ERR_ALG('alg is in the unprotected header');
  const id = protectedHeader.has(ALG) ? protectedHeader.get(ALG) : unprotected.get(ALG);
  if (id === undefined) throw codeErrors.CODE_ERR_ALG('no alg in either header');
  const alg = algFromCoseId(id);
  if (alg === undefined) throw codeErrors.CODE_ERR_ALG(`COSE alg ${describe(id)} is not ES256 (-7), EdDSA (-8) or PS256 (-37)`);
  if (!rules.algs.includes(alg)) throw codeErrors.CODE_ERR_ALG(`${alg} is not allowed here (allowed: ${rules.algs.join(', ')})`);
  return alg;
}

function readKid(protectedHeader: Map<unknown, unknown>, unprotected: Map<unknown, unknown>): Buffer {
  // HCERT §3.2.3: kid may sit in either bucket; when in both, the protected one is used.
  const kid = protectedHeader.has(KID) ? protectedHeader.get(KID) : unprotected.get(KID);
  if (kid === undefined) throw codeErrors.CODE_ERR_KID('no kid in either header');
  if (!isBytes(kid)) throw codeErrors.CODE_ERR_KID('kid is not a byte string');
  if (kid.length === 0 || kid.length > MAX_KID_BYTES) throw codeErrors.CODE_ERR_KID(`kid is ${kid.length} bytes (1-${MAX_KID_BYTES})`);
  const own = Buffer.allocUnsafeSlow(kid.length);
  own.set(kid);
  return own;
}

/** Reads a decoded CBOR item as a COSE_Sign1 message (RFC 9052 §4.2) with alg and kid checked. */
export function readCoseSign1(item: unknown, cbor: CborCodec, rules: CoseReadRules): CoseSign1 {
  const message = unwrapTags(item, rules);
  // RFC 9052 §4.2: COSE_Sign1 = [protected: bstr, unprotected: map, payload: bstr / nil, signature: bstr].
  if (!Array.isArray(message) || message.length !== 4) throw codeErrors.CODE_ERR_COSE('not an array of 4 items');
  const [protectedBytes, unprotected, payload, signature] = message as unknown[];
  if (!isBytes(protectedBytes)) throw codeErrors.CODE_ERR_COSE('protected header is not a byte string');
  if (!(unprotected instanceof Map)) throw codeErrors.CODE_ERR_COSE('unprotected header is not a map');
  if (payload === null || payload === undefined) throw codeErrors.CODE_ERR_COSE('detached payload (nil) is not supported');
  if (!isBytes(payload)) throw codeErrors.CODE_ERR_COSE('payload is not a byte string');
  if (!isBytes(signature)) throw codeErrors.CODE_ERR_COSE('signature is not a byte string');
  const protectedHeader = readProtectedHeader(protectedBytes, cbor);
  // RFC 9052 §3.1: crit lists parameters the recipient must understand; we understand none beyond alg and kid.
  if (protectedHeader.has(CRIT) || unprotected.has(CRIT)) throw codeErrors.CODE_ERR_COSE('critical header parameters are not supported');
  const alg = readAlg(protectedHeader, unprotected, rules);
  const kid = readKid(protectedHeader, unprotected);
  if (!signatureLengthFits(alg, signature.length)) throw codeErrors.CODE_ERR_COSE(`a ${signature.length}-byte signature does not fit ${alg}`);
  return {
    alg,
    kid,
    payload,
    signature: signedBytes(protectedBytes, payload, signature),
  };
}

export interface CoseSigner {
  readonly alg: CodeAlg;
  readonly kid: Buffer;
  readonly privateKey: KeyObject;
}

/** Writes a tagged COSE_Sign1 with alg and kid in the protected header and an empty unprotected one. */
export function writeCoseSign1(signer: CoseSigner, payload: Buffer, cbor: CborCodec): Buffer {
  const protectedBytes = cbor.encode(
    new Map<number, unknown>([
      [ALG, COSE_ALG_IDS[signer.alg]],
      [KID, signer.kid],
    ]),
  );
  const signature = signWithAlg(signer.alg, signer.privateKey, sigStructure(protectedBytes, payload));
  return cbor.encode(new Tag([protectedBytes, new Map(), payload, signature], COSE_SIGN1_TAG));
}
