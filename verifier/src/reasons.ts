/**
 * Every reason a verdict can carry, in the order the checks run. A verdict's `reason` is always one
 * of these; `detail` may add the underlying code (the decoder's `CODE_ERR_*` for MALFORMED_*).
 */
export const REASONS = {
  OK: 'every check passed (allow)',
  MALFORMED_REQUEST: 'a CLI line or MQTT request that is unusable (not JSON, no qr, an unreadable `at`); HTTP answers 400 instead',
  NO_CODE_IN_IMAGE: 'an image (cityops verify --image) in which no QR code could be read',
  MALFORMED_TOO_LARGE: 'the QR text is longer than the decoder accepts',
  MALFORMED_PREFIX: 'the QR text has no known prefix (HC1:, CHC1:, CSC1:, CLC1:)',
  MALFORMED_BASE45: 'the text is not strict base45 (RFC 9285)',
  MALFORMED_ZLIB: 'the zlib stream is corrupt',
  MALFORMED_INFLATE_LIMIT: 'decompression would exceed the configured bound (a decompression bomb)',
  MALFORMED_CBOR: 'the payload is not valid CBOR',
  MALFORMED_COSE: 'the CBOR is not a COSE_Sign1 structure (RFC 9052) with the headers required',
  MALFORMED_ALG: 'the COSE algorithm is missing or not allowed for this format',
  MALFORMED_KID: 'the COSE key id is missing or malformed',
  MALFORMED_CLAIMS: 'the CWT claims are missing or of the wrong type (RFC 8392)',
  MALFORMED_SCHEMA: 'the payload does not match its schema (e.g. the DCC JSON schema)',
  MALFORMED_INPUT: 'any other decoding failure (the decoder threw something it does not document)',
  UNKNOWN_KEY: 'no trusted key has the code’s key id',
  KEY_NOT_ALLOWED_FOR_KIND: 'the key is trusted, but not for this kind of code',
  ISSUER_MISMATCH: 'the code names another issuer than the trust entry of its key',
  BAD_SIGNATURE: 'the signature does not verify with any trusted key of that key id',
  KEY_USAGE_MISMATCH: 'the DCC signer certificate’s extended key usage does not cover this certificate type',
  SIGNER_NOT_VALID_AT_ISSUE: 'the DCC was issued (iat) outside its signer certificate’s validity (HCERT §3.2.6)',
  LICENCE_TYPE_NOT_ALLOWED: 'the licence (or a single licence it integrates) is of a type its signer’s trust entry may not issue',
  LICENCE_REGION_NOT_ALLOWED: 'the licence is issued for a region its signer’s trust entry may not issue for',
  NOT_YET_VALID: 'issued in the future, beyond the allowed clock skew',
  EXPIRED: 'expired, beyond the allowed clock skew',
  REVOKED: 'the code id or the subject is on the revocation list',
  LICENCE_WITHDRAWN: 'the licence was withdrawn (as issued, or by the status feed)',
  LICENCE_SUSPENDED: 'the licence is suspended (as issued, or by the status feed since before this code was issued)',
  LICENCE_NOT_RECOGNISED: 'the licence is for another region, and the trust list does not recognise its authority’s licences here',
  COLOUR_DOWNGRADED: 'the status feed downgraded the subject’s colour after issuance, to one the venue refuses',
  POLICY_DENIED: 'the venue does not accept this kind, colour, certificate type or licence (detail: licence, licence-scope)',
  STALE_DATA: 'trust or revocation data is older than its maximum age, and the stale action is deny',
  OVERLOADED: 'the verification queue is full; nothing was checked (retry, or verify offline)',
  THROTTLED: 'the credential sent more checks than a door can see (rates.checksPerSecond); nothing was checked nor recorded',
  INTERNAL_ERROR: 'the verifier failed; nothing was concluded about the code',
} as const;

export type Reason = keyof typeof REASONS;
export const REASON_CODES = Object.keys(REASONS) as Reason[];

/** Reasons that say nothing against the code itself: it is genuine, current and not revoked. */
const CODE_VALID_REASONS: ReadonlySet<Reason> = new Set(['OK', 'COLOUR_DOWNGRADED', 'POLICY_DENIED', 'STALE_DATA']);

export function isCodeValid(reason: Reason): boolean {
  return CODE_VALID_REASONS.has(reason);
}

/** What the decoder's error codes become (the code itself travels in `detail`). */
const MALFORMED_BY_DECODER_CODE: Readonly<Record<string, Reason>> = {
  CODE_ERR_TOO_LARGE: 'MALFORMED_TOO_LARGE',
  CODE_ERR_PREFIX: 'MALFORMED_PREFIX',
  CODE_ERR_BASE45: 'MALFORMED_BASE45',
  CODE_ERR_ZLIB: 'MALFORMED_ZLIB',
  CODE_ERR_INFLATE_LIMIT: 'MALFORMED_INFLATE_LIMIT',
  CODE_ERR_CBOR: 'MALFORMED_CBOR',
  CODE_ERR_COSE: 'MALFORMED_COSE',
  CODE_ERR_ALG: 'MALFORMED_ALG',
  CODE_ERR_KID: 'MALFORMED_KID',
  CODE_ERR_CLAIMS: 'MALFORMED_CLAIMS',
  CODE_ERR_SCHEMA: 'MALFORMED_SCHEMA',
};

export function malformedReason(decoderCode: string | undefined): Reason {
  return (decoderCode === undefined ? undefined : MALFORMED_BY_DECODER_CODE[decoderCode]) ?? 'MALFORMED_INPUT';
}
