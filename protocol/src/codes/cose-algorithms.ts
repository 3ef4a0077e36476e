import { constants, sign, verify, type KeyObject } from 'node:crypto';
import type { CodeAlg } from './code-types.ts';

/** COSE algorithm identifiers (IANA "COSE Algorithms"; RFC 9053 §2.1, §2.2; RFC 8230 §2). */
export const COSE_ALG_IDS: Readonly<Record<CodeAlg, number>> = Object.freeze({ ES256: -7, EdDSA: -8, PS256: -37 });

export function algFromCoseId(id: unknown): CodeAlg | undefined {
  if (id === -7) return 'ES256';
  if (id === -8) return 'EdDSA';
  if (id === -37) return 'PS256';
  return undefined;
}

/** RFC 8230 §5: RSA keys for COSE are at least 2048 bits. */
const MIN_RSA_BITS = 2048;

/**
 * Whether `key` (public or private) is a key of the algorithm's type: a P-256 key for ES256, an
 * Ed25519/Ed448 key for EdDSA, an RSA key of at least 2048 bits for PS256. Refusing other pairings
 * keeps a code from choosing how its own signature is checked.
 */
export function keyFitsAlg(key: KeyObject, alg: CodeAlg): boolean {
  const type = key.asymmetricKeyType;
  switch (alg) {
    case 'ES256':
      return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    case 'EdDSA':
      return type === 'ed25519' || type === 'ed448';
    case 'PS256':
      return (type === 'rsa' || type === 'rsa-pss') && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
  }
}

/** The signature length the algorithm produces, or the range for RSA (one modulus length each). */
export function signatureLengthFits(alg: CodeAlg, length: number): boolean {
  switch (alg) {
    // RFC 9053 §2.1: ES256 signatures are r || s, 32 bytes each.
    case 'ES256':
      return length === 64;
    // RFC 8032 §5.1.6 / §5.2.6: Ed25519 signatures are 64 bytes, Ed448 114.
    case 'EdDSA':
      return length === 64 || length === 114;
    // RFC 8017 §8.1.1: an RSASSA-PSS signature is as long as the modulus (2048 to 8192 bits here).
    case 'PS256':
      return length >= MIN_RSA_BITS / 8 && length <= 1024;
  }
}

/** RFC 8230 §2: PS256 is RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt. */
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;

export function signWithAlg(alg: CodeAlg, privateKey: KeyObject, data: Uint8Array): Buffer {
  switch (alg) {
    case 'ES256':
      return sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
      return sign(null, data, privateKey);
    case 'PS256':
      return sign('sha256', data, { key: privateKey, ...PSS });
  }
}

/** What `verifyCodeSignature` needs: plain bytes, so a structured-cloned copy in a worker works too. */
export interface SignedCode {
  readonly alg: CodeAlg;
  readonly signature: { readonly toBeSigned: Uint8Array; readonly value: Uint8Array };
}

/**
 * Checks a decoded code's COSE signature with a public key, synchronously and without decoding
 * anything again: made for worker threads holding `KeyObject`s parsed once per kid. False (never a
 * throw) for a wrong key, a key of another algorithm, or a signature that does not verify.
 */
export function verifyCodeSignature(decoded: SignedCode, key: KeyObject): boolean {
  const { alg, signature } = decoded;
  if (!keyFitsAlg(key, alg) || !signatureLengthFits(alg, signature.value.length)) return false;
  try {
    switch (alg) {
      case 'ES256':
        return verify('sha256', signature.toBeSigned, { key, dsaEncoding: 'ieee-p1363' }, signature.value);
      case 'EdDSA':
        return verify(null, signature.toBeSigned, key, signature.value);
      case 'PS256':
        return verify('sha256', signature.toBeSigned, { key, ...PSS }, signature.value);
    }
  } catch {
    return false;
  }
}
