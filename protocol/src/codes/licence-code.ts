import { codeErrors } from './code-errors.ts';
import { readCityEnvelope, type CityCodeEnvelope } from './city-code-envelope.ts';
import { CITYOPS_LICENCE_CLAIM, CWT_CLAIM, describe, readEnum, refuseUnknownKeys, type ClaimsMap } from './cwt-claims.ts';
import {
  LICENCE_HOLDER_KINDS,
  LICENCE_STATUSES,
  MAX_INTEGRATED_LICENCES,
  type LicenceClaims,
} from './licence-schema.ts';

/**
 * An electronic licence, `CLC1:` + base45(COSE_Sign1(CWT)) (zlib only when shorter). Claims:
 *   1 iss  text   the issuing authority
 *   2 sub  text   the holder: a business id or a person's pseudonym
 *   4 exp, 6 iat  NumericDate (whole seconds): the licence's validity
 *   7 cti  bstr   code id (of this code; the licence is named by its number)
 *   -65539 map    {1: holder kind 0 business / 1 person, 2: type, 3: number, 4: region,
 *                  5?: [integrated single types] (a comprehensive licence), 6?: scope (venue),
 *                  7: status 0 valid / 1 suspended / 2 withdrawn}
 * Patterns and bounds are licence-schema.ts's; this file only maps CBOR to and from that shape.
 */
export const LICENCE_CODE_PREFIX = 'CLC1:';

const HOLDER_KIND = 1;
const TYPE = 2;
const NUMBER = 3;
const REGION = 4;
const INTEGRATES = 5;
const SCOPE = 6;
const STATUS = 7;

const KNOWN = [CWT_CLAIM.iss, CWT_CLAIM.sub, CWT_CLAIM.exp, CWT_CLAIM.iat, CWT_CLAIM.cti, CITYOPS_LICENCE_CLAIM];
const KNOWN_OWN = [HOLDER_KIND, TYPE, NUMBER, REGION, INTEGRATES, SCOPE, STATUS];

export type LicenceClaimsCheck = (claims: unknown) => string[];

function textOrMissing(map: Map<unknown, unknown>, key: number, name: string): string | undefined {
  const value = map.get(key);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw codeErrors.CODE_ERR_CLAIMS(`${name} is ${describe(value)}, not a text string`);
  return value;
}

function readIntegrates(own: Map<unknown, unknown>): string[] | undefined {
  const value = own.get(INTEGRATES);
  if (value === undefined) return undefined;
  // Bounded before it is walked: the schema's maxItems would only count what was already copied.
  if (!Array.isArray(value) || value.length > MAX_INTEGRATED_LICENCES) {
    throw codeErrors.CODE_ERR_CLAIMS(`integrated licences are ${describe(value)}${Array.isArray(value) ? ` of ${value.length}` : ''}, not an array of 1-${MAX_INTEGRATED_LICENCES} types`);
  }
  return value.map((t, i) => {
    if (typeof t !== 'string') throw codeErrors.CODE_ERR_CLAIMS(`integrated licence ${i} is ${describe(t)}, not a text string`);
    return t;
  });
}

/** Reads a licence's claims; CODE_ERR_CLAIMS for the CBOR shape, CODE_ERR_SCHEMA for what the schema refuses. */
export function readLicenceCode(claims: ClaimsMap, check: LicenceClaimsCheck): CityCodeEnvelope & { readonly claims: LicenceClaims } {
  refuseUnknownKeys(claims, KNOWN, 'licence claims');
  const envelope = readCityEnvelope(claims);
  const holder = textOrMissing(claims, CWT_CLAIM.sub, 'sub (holder)');
  const own = claims.get(CITYOPS_LICENCE_CLAIM);
  if (!(own instanceof Map)) throw codeErrors.CODE_ERR_CLAIMS(`claim ${CITYOPS_LICENCE_CLAIM} (licence) is not a map`);
  refuseUnknownKeys(own, KNOWN_OWN, 'licence claim');
  const integrates = readIntegrates(own);
  const scope = textOrMissing(own, SCOPE, 'scope');
  const licence = {
    holder,
    holderKind: readEnum(own, HOLDER_KIND, 'holder kind', LICENCE_HOLDER_KINDS),
    type: textOrMissing(own, TYPE, 'type'),
    ...(integrates === undefined ? {} : { integrates }),
    number: textOrMissing(own, NUMBER, 'number'),
    region: textOrMissing(own, REGION, 'region'),
    ...(scope === undefined ? {} : { scope }),
    status: readEnum(own, STATUS, 'status', LICENCE_STATUSES),
  };
  const problems = check(licence);
  if (problems.length > 0) throw codeErrors.CODE_ERR_SCHEMA(`licence: ${problems.slice(0, 5).join('; ')}`);
  const valid = licence as LicenceClaims;
  // Revocation by code id names the licence (its number), as a DCC's names its UVCI: re-issued
  // codes of a revoked licence stay revoked.
  return { ...envelope, codeId: valid.number, subject: valid.holder, claims: valid };
}

export interface LicenceCodeFields {
  readonly issuer: string;
  readonly licence: LicenceClaims;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
  readonly cti: Buffer;
}

export function writeLicenceClaims(fields: LicenceCodeFields): ClaimsMap {
  const { licence } = fields;
  const own = new Map<number, unknown>([
    [HOLDER_KIND, LICENCE_HOLDER_KINDS.indexOf(licence.holderKind)],
    [TYPE, licence.type],
    [NUMBER, licence.number],
    [REGION, licence.region],
  ]);
  if (licence.integrates !== undefined) own.set(INTEGRATES, [...licence.integrates]);
  if (licence.scope !== undefined) own.set(SCOPE, licence.scope);
  own.set(STATUS, LICENCE_STATUSES.indexOf(licence.status));
  return new Map<number, unknown>([
    [CWT_CLAIM.iss, fields.issuer],
    [CWT_CLAIM.sub, licence.holder],
    [CWT_CLAIM.exp, fields.exp],
    [CWT_CLAIM.iat, fields.iat],
    [CWT_CLAIM.cti, fields.cti],
    [CITYOPS_LICENCE_CLAIM, own],
  ]);
}
