import { codeErrors } from './code-errors.ts';
import { HEALTH_COLOURS, type HealthCodeClaims, type HealthColour } from './code-types.ts';
import { readCityEnvelope, type CityCodeEnvelope } from './city-code-envelope.ts';
import {
  CITYOPS_HEALTH_CODE_CLAIM,
  CWT_CLAIM,
  readEnum,
  readOptionalNumericDate,
  readText,
  refuseUnknownKeys,
  type ClaimsMap,
} from './cwt-claims.ts';

/**
 * The city health code, `CHC1:` + base45(COSE_Sign1(CWT)) (zlib only when shorter). Claims:
 *   1 iss  text   the issuing service
 *   2 sub  text   pseudonymous subject
 *   4 exp, 6 iat  NumericDate (whole seconds); the validity in minutes is (exp - iat) / 60
 *   7 cti  bstr   code id, 8 random bytes from our issuer
 *   -65537 map    {1: colour 0 green / 1 yellow / 2 red, 2?: last test, NumericDate}
 */
export const HEALTH_CODE_PREFIX = 'CHC1:';

const COLOUR = 1;
const LAST_TEST = 2;

export const SUBJECT_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

const KNOWN = [CWT_CLAIM.iss, CWT_CLAIM.sub, CWT_CLAIM.exp, CWT_CLAIM.iat, CWT_CLAIM.cti, CITYOPS_HEALTH_CODE_CLAIM];

export function readHealthCode(claims: ClaimsMap): CityCodeEnvelope & { readonly claims: HealthCodeClaims } {
  refuseUnknownKeys(claims, KNOWN, 'health code claims');
  const envelope = readCityEnvelope(claims);
  const subject = readText(claims, CWT_CLAIM.sub, 'sub', SUBJECT_PATTERN);
  const own = claims.get(CITYOPS_HEALTH_CODE_CLAIM);
  if (!(own instanceof Map)) throw codeErrors.CODE_ERR_CLAIMS(`claim ${CITYOPS_HEALTH_CODE_CLAIM} (health status) is not a map`);
  refuseUnknownKeys(own, [COLOUR, LAST_TEST], 'health status');
  const colour = readEnum(own, COLOUR, 'colour', HEALTH_COLOURS);
  const lastTestAt = readOptionalNumericDate(own, LAST_TEST, 'last test');
  return {
    ...envelope,
    subject,
    claims: lastTestAt === undefined ? { subject, colour } : { subject, colour, lastTestAt },
  };
}

export interface HealthCodeFields {
  readonly issuer: string;
  readonly subject: string;
  readonly colour: HealthColour;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
  readonly lastTest?: number | undefined;
  readonly cti: Buffer;
}

export function writeHealthCodeClaims(fields: HealthCodeFields): ClaimsMap {
  const own = new Map<number, unknown>([[COLOUR, HEALTH_COLOURS.indexOf(fields.colour)]]);
  if (fields.lastTest !== undefined) own.set(LAST_TEST, fields.lastTest);
  return new Map<number, unknown>([
    [CWT_CLAIM.iss, fields.issuer],
    [CWT_CLAIM.sub, fields.subject],
    [CWT_CLAIM.exp, fields.exp],
    [CWT_CLAIM.iat, fields.iat],
    [CWT_CLAIM.cti, fields.cti],
    [CITYOPS_HEALTH_CODE_CLAIM, own],
  ]);
}
