import type { FromSchema } from 'json-schema-to-ts';
import { CODE_KINDS, compileSchemaCheck, DCC_CERTIFICATE_TYPES, HEALTH_COLOURS } from '@cityops/protocol';
import { verifierErrors } from './errors.ts';
import type { CodeKind, Colour, DccType } from './verdict.ts';

/**
 * What a venue accepts at its door. File format:
 *
 *   { "default": { "kinds": [...], "colours": [...], "dccTypes": [...] },
 *     "venues": { "<venue id>": { "colours": ["green", "yellow"] } } }
 *
 * A venue's missing fields come from `default`; `default`'s missing fields from the built-in city
 * default below. A request without a venue, or for a venue not listed, gets `default`.
 */
export const VENUE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;

const policyProperties = {
  kinds: { type: 'array', uniqueItems: true, items: { enum: CODE_KINDS } },
  colours: { type: 'array', uniqueItems: true, items: { enum: HEALTH_COLOURS } },
  dccTypes: { type: 'array', uniqueItems: true, items: { enum: DCC_CERTIFICATE_TYPES } },
} as const;

export const venuePoliciesSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    default: { type: 'object', additionalProperties: false, properties: policyProperties },
    venues: {
      type: 'object',
      maxProperties: 1_000_000,
      propertyNames: { pattern: VENUE_ID_PATTERN.source },
      additionalProperties: { type: 'object', additionalProperties: false, properties: policyProperties },
    },
  },
} as const;

export interface VenuePolicy {
  readonly kinds: ReadonlySet<CodeKind>;
  /** Health-code colours accepted. */
  readonly colours: ReadonlySet<Colour>;
  /** EU DCC certificate types accepted (v, t, r). */
  readonly dccTypes: ReadonlySet<DccType>;
}

export type VenuePoliciesFile = FromSchema<typeof venuePoliciesSchema>;
type PolicyFields = NonNullable<VenuePoliciesFile['default']>;

/** The city default when nothing is configured: any kind, green health codes, any DCC type. */
export const CITY_DEFAULT_POLICY: PolicyFields = Object.freeze({ kinds: [...CODE_KINDS], colours: ['green'], dccTypes: [...DCC_CERTIFICATE_TYPES] });

/** Accepts everything genuine (the CLI without --policies: validity, not a door). */
export const ACCEPT_ALL_POLICY: PolicyFields = Object.freeze({ kinds: [...CODE_KINDS], colours: [...HEALTH_COLOURS], dccTypes: [...DCC_CERTIFICATE_TYPES] });

export interface PolicySnapshot {
  readonly version: number;
  readonly venues: number;
  policyFor(venue: string | undefined): VenuePolicy;
}

function policyOf(fields: PolicyFields, base: PolicyFields): VenuePolicy {
  return Object.freeze({
    kinds: new Set(fields.kinds ?? base.kinds),
    colours: new Set(fields.colours ?? base.colours),
    dccTypes: new Set(fields.dccTypes ?? base.dccTypes),
  });
}

export function buildPolicySnapshot(file: VenuePoliciesFile, version: number, cityDefault: PolicyFields = CITY_DEFAULT_POLICY): PolicySnapshot {
  const baseFields: PolicyFields = { ...cityDefault, ...file.default };
  const base = policyOf(baseFields, cityDefault);
  const venues = new Map<string, VenuePolicy>();
  for (const [id, fields] of Object.entries(file.venues ?? {})) venues.set(id, policyOf(fields, baseFields));
  return Object.freeze({
    version,
    venues: venues.size,
    policyFor: (venue: string | undefined) => (venue === undefined ? base : (venues.get(venue) ?? base)),
  });
}

const checkPolicies = compileSchemaCheck(venuePoliciesSchema);

export function parseVenuePolicies(input: unknown, version: number, cityDefault?: PolicyFields): PolicySnapshot {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw verifierErrors.VERIFIER_ERR_POLICIES(`not JSON: ${(err as Error).message}`, err);
    }
  }
  const problems = checkPolicies(value);
  if (problems.length > 0) throw verifierErrors.VERIFIER_ERR_POLICIES(problems.slice(0, 20).join('; '));
  return buildPolicySnapshot(value as VenuePoliciesFile, version, cityDefault);
}
