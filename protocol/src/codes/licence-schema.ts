import type { FromSchema } from 'json-schema-to-ts';
import { compileSchemaCheck } from '../schema-check.ts';

/** A licence type: lower-case words joined by hyphens (`food-business`, `food-handler-health`). */
export const LICENCE_TYPE_PATTERN = /^[a-z][a-z0-9-]{1,47}$/;
/** A region: an ISO 3166-2 subdivision code (CN-SH Shanghai, CN-JS Jiangsu) or a bare country code. */
export const LICENCE_REGION_PATTERN = /^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$/;
/** The holder: a business id (China's 18-character unified social credit code) or a person's pseudonym. */
export const LICENCE_HOLDER_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
/** The licence number as its authority writes it. */
export const LICENCE_NUMBER_PATTERN = /^[A-Za-z0-9-]{1,40}$/;
/** What a licence applies to: a venue id, as venue policies name venues. */
export const LICENCE_SCOPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;
/** The most single licences one comprehensive licence integrates (the claim is bounded, like every list). */
export const MAX_INTEGRATED_LICENCES = 32;

export const LICENCE_HOLDER_KINDS = ['business', 'person'] as const;
export const LICENCE_STATUSES = ['valid', 'suspended', 'withdrawn'] as const;

const licenceType = { type: 'string', pattern: LICENCE_TYPE_PATTERN.source } as const;

/**
 * What a licence code (`CLC1:`) says, as the decoder returns it and the issuer takes it. One schema
 * for both directions, so the decoder never returns what the issuer would refuse to make.
 */
export const licenceClaimsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['holder', 'holderKind', 'type', 'number', 'region', 'status'],
  properties: {
    /** CWT `sub`: a business id, or a person's pseudonym (never a name or an identity number). */
    holder: { type: 'string', pattern: LICENCE_HOLDER_PATTERN.source },
    holderKind: { enum: LICENCE_HOLDER_KINDS },
    /** The licence's own type; for a comprehensive industry licence, the industry licence. */
    type: licenceType,
    /** A comprehensive licence: the single licences it integrates, with the same force (never its own type). */
    integrates: { type: 'array', minItems: 1, maxItems: MAX_INTEGRATED_LICENCES, uniqueItems: true, items: licenceType },
    number: { type: 'string', pattern: LICENCE_NUMBER_PATTERN.source },
    /** The region the issuing authority issued it for. */
    region: { type: 'string', pattern: LICENCE_REGION_PATTERN.source },
    /** What it applies to (a venue); absent: the holder wherever it acts. */
    scope: { type: 'string', pattern: LICENCE_SCOPE_PATTERN.source },
    /** The status the authority issued it with; the status feed may change it later. */
    status: { enum: LICENCE_STATUSES },
  },
} as const;

export type LicenceClaims = FromSchema<typeof licenceClaimsSchema>;
export type LicenceHolderKind = (typeof LICENCE_HOLDER_KINDS)[number];
export type LicenceStatus = (typeof LICENCE_STATUSES)[number];

/** Checks licence claims against the schema and what it cannot say; every problem at once. */
export function createLicenceClaimsCheck(): (claims: unknown) => string[] {
  const check = compileSchemaCheck(licenceClaimsSchema);
  return (claims) => {
    const problems = check(claims);
    if (problems.length > 0) return problems;
    const { type, integrates } = claims as LicenceClaims;
    return integrates?.includes(type) ? [`/integrates lists the licence's own type ${type}`] : [];
  };
}

/** Every licence type a licence stands for: its own and, for a comprehensive licence, each it integrates. */
export function licenceTypesCovered(claims: Pick<LicenceClaims, 'type' | 'integrates'>): string[] {
  return [claims.type, ...(claims.integrates ?? [])];
}
