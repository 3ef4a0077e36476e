import { isCityopsError } from '../errors.ts';
import { formatPlace, parsePlace, type Place } from '../hierarchy.ts';
import { codeErrors } from './code-errors.ts';
import { SITE_RISKS, type SiteCodeClaims, type SiteRisk } from './code-types.ts';
import { CITYOPS_SITE_CODE_CLAIM, CWT_CLAIM, readEnum, readText, refuseUnknownKeys, type ClaimsMap } from './cwt-claims.ts';
import { readCityEnvelope, type CityCodeEnvelope } from './city-code-envelope.ts';

/**
 * A venue's site code, `CSC1:` + base45(COSE_Sign1(CWT)) (zlib only when shorter). Claims:
 *   1 iss  text   the issuing district office
 *   2 sub  text   venue id
 *   4 exp, 6 iat  NumericDate (whole seconds)
 *   7 cti  bstr   code id
 *   -65538 map    {1: place "district/subdistrict/grid[/building]", 2: risk 0 low / 1 medium / 2 high}
 */
export const SITE_CODE_PREFIX = 'CSC1:';

const PLACE = 1;
const RISK = 2;

export const VENUE_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const PLACE_TEXT = /^[a-z0-9/-]{5,200}$/;

const KNOWN = [CWT_CLAIM.iss, CWT_CLAIM.sub, CWT_CLAIM.exp, CWT_CLAIM.iat, CWT_CLAIM.cti, CITYOPS_SITE_CODE_CLAIM];

function readPlace(own: Map<unknown, unknown>): Place {
  const text = readText(own, PLACE, 'place', PLACE_TEXT);
  try {
    return parsePlace(text);
  } catch (err) {
    if (isCityopsError(err)) throw codeErrors.CODE_ERR_CLAIMS(`place: ${err.message}`, err);
    throw err;
  }
}

export function readSiteCode(claims: ClaimsMap): CityCodeEnvelope & { readonly claims: SiteCodeClaims } {
  refuseUnknownKeys(claims, KNOWN, 'site code claims');
  const envelope = readCityEnvelope(claims);
  const venue = readText(claims, CWT_CLAIM.sub, 'sub (venue)', VENUE_PATTERN);
  const own = claims.get(CITYOPS_SITE_CODE_CLAIM);
  if (!(own instanceof Map)) throw codeErrors.CODE_ERR_CLAIMS(`claim ${CITYOPS_SITE_CODE_CLAIM} (venue) is not a map`);
  refuseUnknownKeys(own, [PLACE, RISK], 'venue claim');
  const place = readPlace(own);
  const risk = readEnum(own, RISK, 'risk', SITE_RISKS);
  return { ...envelope, subject: venue, claims: { venue, place, risk } };
}

export interface SiteCodeFields {
  readonly issuer: string;
  readonly venue: string;
  readonly place: Place;
  readonly risk: SiteRisk;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
  readonly cti: Buffer;
}

export function writeSiteCodeClaims(fields: SiteCodeFields): ClaimsMap {
  return new Map<number, unknown>([
    [CWT_CLAIM.iss, fields.issuer],
    [CWT_CLAIM.sub, fields.venue],
    [CWT_CLAIM.exp, fields.exp],
    [CWT_CLAIM.iat, fields.iat],
    [CWT_CLAIM.cti, fields.cti],
    [
      CITYOPS_SITE_CODE_CLAIM,
      new Map<number, unknown>([
        [PLACE, formatPlace(fields.place)],
        [RISK, SITE_RISKS.indexOf(fields.risk)],
      ]),
    ],
  ]);
}
