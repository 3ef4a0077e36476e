import { checkValidityWindow, CWT_CLAIM, readBytes, readNumericDate, readText, type ClaimsMap } from './cwt-claims.ts';

/** Printable ASCII, 1-64 characters, no space at either end. */
export const ISSUER_PATTERN = /^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$/;
export const MIN_CTI_BYTES = 1;
export const MAX_CTI_BYTES = 32;
/** What our issuer puts in `cti`: 8 random bytes, 16 hex characters of code id. */
export const ISSUED_CTI_BYTES = 8;

/** What every city code (health code, site code) carries besides its own claim. */
export interface CityCodeEnvelope {
  readonly issuer: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly codeId: string;
  readonly subject: string;
}

/** The claims every city code shares: iss, iat, exp (after iat), cti (as hex: the code id). */
export function readCityEnvelope(claims: ClaimsMap): Omit<CityCodeEnvelope, 'subject'> {
  const issuer = readText(claims, CWT_CLAIM.iss, 'iss', ISSUER_PATTERN);
  const issuedAt = readNumericDate(claims, CWT_CLAIM.iat, 'iat');
  const expiresAt = readNumericDate(claims, CWT_CLAIM.exp, 'exp');
  checkValidityWindow(issuedAt, expiresAt);
  const codeId = readBytes(claims, CWT_CLAIM.cti, 'cti', MIN_CTI_BYTES, MAX_CTI_BYTES).toString('hex');
  return { issuer, issuedAt, expiresAt, codeId };
}
