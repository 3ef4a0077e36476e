import { defineErrors } from '../errors.ts';

/**
 * Why a QR code could not be read, one code per layer so that a verdict can say precisely where a
 * code broke: text -> prefix -> base45 -> zlib -> CBOR -> COSE_Sign1 (structure, alg, kid) -> CWT
 * claims -> payload schema. Expiry and trust are the verifier's reasons, not these.
 */
export const codeErrors = defineErrors({
  CODE_ERR_TOO_LARGE: { message: 'QR text is longer than the decoder accepts', statusCode: 413 },
  CODE_ERR_PREFIX: { message: 'QR text does not start with a known context identifier (HC1:, CHC1:, CSC1:, CLC1:)', statusCode: 400 },
  CODE_ERR_BASE45: { message: 'QR text is not valid base45 (RFC 9285)', statusCode: 400 },
  CODE_ERR_ZLIB: { message: 'Payload is not a valid zlib stream (RFC 1950)', statusCode: 400 },
  CODE_ERR_INFLATE_LIMIT: { message: 'Payload inflates beyond the size limit', statusCode: 413 },
  CODE_ERR_CBOR: { message: 'Payload is not well-formed CBOR (RFC 8949)', statusCode: 400 },
  CODE_ERR_COSE: { message: 'Payload is not a valid COSE_Sign1 structure (RFC 9052)', statusCode: 400 },
  CODE_ERR_ALG: { message: 'Signature algorithm is missing, unknown or not allowed for this code kind', statusCode: 400 },
  CODE_ERR_KID: { message: 'Key identifier (kid) is missing or malformed', statusCode: 400 },
  CODE_ERR_CLAIMS: { message: 'CWT claims are missing or of the wrong type (RFC 8392)', statusCode: 400 },
  CODE_ERR_SCHEMA: { message: 'Certificate payload does not match its schema', statusCode: 400 },
  CODE_ERR_ISSUE: { message: 'Cannot issue this code', statusCode: 400 },
  CODE_ERR_INTERNAL: { message: 'Decoder failed unexpectedly on this input (a defect: please report it)', statusCode: 500 },
});

export type CodeErrorCode = keyof typeof codeErrors;
export const CODE_ERROR_CODES = Object.keys(codeErrors) as CodeErrorCode[];
