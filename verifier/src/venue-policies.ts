import type { FromSchema } from 'json-schema-to-ts';
import { CODE_KINDS, compileSchemaCheck, DCC_CERTIFICATE_TYPES, HEALTH_COLOURS, LICENCE_HOLDER_KINDS, LICENCE_TYPE_PATTERN } from '@cityops/protocol';
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
 *
 * `licences` (issue 23): what a licence shown at this door must be, as a list of requirements, one
 * met being enough: `{"types": ["food-handler-health"], "holder": "person"}` for staff,
 * `{"types": ["food-business"], "holder": "business", "scope": "venue"}` for the venue's own licence
 * (scoped to this very venue). A licence meets `types` when it stands for every one of them: its own
 * type or a single its comprehensive licence integrates. Absent: any genuine, current licence passes.
 */
export const VENUE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;

const policyProperties = {
  kinds: { type: 'array', uniqueItems: true, items: { enum: CODE_KINDS } },
  colours: { type: 'array', uniqueItems: true, items: { enum: HEALTH_COLOURS } },
  dccTypes: { type: 'array', uniqueItems: true, items: { enum: DCC_CERTIFICATE_TYPES } },
  licences: {
    type: 'array',
    maxItems: 16,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['types'],
      properties: {
        types: { type: 'array', minItems: 1, maxItems: 32, uniqueItems: true, items: { type: 'string', pattern: LICENCE_TYPE_PATTERN.source } },
        holder: { enum: LICENCE_HOLDER_KINDS },
        /** `venue`: the licence must be scoped to the venue asking; `any` (default): wherever it applies. */
        scope: { enum: ['venue', 'any'] },
      },
    },
  },
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
  /** What a licence must meet (one requirement of them); undefined: any genuine licence. */
  readonly licences?: readonly LicenceRequirement[];
}

export type LicenceRequirement = NonNullable<PolicyFields['licences']>[number];

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
  const licences = fields.licences ?? base.licences;
  return Object.freeze({
    kinds: new Set(fields.kinds ?? base.kinds),
    colours: new Set(fields.colours ?? base.colours),
    dccTypes: new Set(fields.dccTypes ?? base.dccTypes),
    ...(licences === undefined ? {} : { licences: Object.freeze(licences.map((r) => Object.freeze({ ...r, types: Object.freeze([...r.types]) }))) }),
  }) as VenuePolicy;
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
