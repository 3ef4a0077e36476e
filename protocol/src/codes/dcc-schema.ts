import type { FromSchema } from 'json-schema-to-ts';

/**
 * The TypeScript shape of an EU Digital COVID Certificate payload (the `hcert` claim's `eu_dgc_v1`):
 * release 1.3.2's fields, loosened to what any published release allows (one or more of `v`, `t`,
 * `r`, arrays of any length), so that the type never promises more than the decoder checked.
 * Validation is not done with this: each payload is validated against the published release its
 * `ver` declares (`dcc-schemas/`, `dcc-schema-versions.ts`).
 */
const standardisedName = { type: 'string', pattern: '^[A-Z<]*$', maxLength: 80 } as const;
const freeName = { type: 'string', maxLength: 80 } as const;

export const dccPersonNameSchema = {
  type: 'object',
  anyOf: [{ required: ['fnt'] }, { required: ['gnt'] }],
  properties: {
    /** Surname(s) as written. */
    fn: freeName,
    /** Surname(s), transliterated ICAO 9303. */
    fnt: standardisedName,
    /** Forename(s) as written. */
    gn: freeName,
    /** Forename(s), transliterated ICAO 9303. */
    gnt: standardisedName,
  },
} as const;

const valueSetCode = { type: 'string' } as const;
const countryVt = { type: 'string', pattern: '[A-Z]{1,10}' } as const;
const certificateIssuer = { type: 'string', maxLength: 80 } as const;
/** UVCI, Annex 2 of the eHealth Network's vaccination-proof interoperability guidelines. */
const certificateId = { type: 'string', maxLength: 80 } as const;
const dosePosInt = { type: 'integer', minimum: 1 } as const;
const fullDate = { type: 'string', format: 'date' } as const;

export const dccVaccinationEntrySchema = {
  type: 'object',
  required: ['tg', 'vp', 'mp', 'ma', 'dn', 'sd', 'dt', 'co', 'is', 'ci'],
  properties: {
    tg: valueSetCode,
    vp: valueSetCode,
    mp: valueSetCode,
    ma: valueSetCode,
    dn: dosePosInt,
    sd: dosePosInt,
    dt: fullDate,
    co: countryVt,
    is: certificateIssuer,
    ci: certificateId,
  },
} as const;

export const dccTestEntrySchema = {
  type: 'object',
  required: ['tg', 'tt', 'sc', 'tr', 'co', 'is', 'ci'],
  properties: {
    tg: valueSetCode,
    tt: valueSetCode,
    nm: { type: 'string', maxLength: 80 },
    ma: valueSetCode,
    sc: { type: 'string', format: 'date-time' },
    tr: valueSetCode,
    tc: { type: 'string', maxLength: 80 },
    co: countryVt,
    is: certificateIssuer,
    ci: certificateId,
  },
} as const;

export const dccRecoveryEntrySchema = {
  type: 'object',
  required: ['tg', 'fr', 'co', 'is', 'df', 'du', 'ci'],
  properties: {
    tg: valueSetCode,
    fr: fullDate,
    co: countryVt,
    is: certificateIssuer,
    df: fullDate,
    du: fullDate,
    ci: certificateId,
  },
} as const;

export const dccPayloadSchema = {
  $id: 'https://id.uvci.eu/DCC.schema.json',
  type: 'object',
  required: ['ver', 'nam', 'dob'],
  // As a TypeScript type: at least one of the groups (a union of objects, each requiring one).
  oneOf: [{ required: ['v'] }, { required: ['t'] }, { required: ['r'] }],
  properties: {
    ver: { type: 'string', pattern: '^\\d+.\\d+.\\d+$' },
    nam: dccPersonNameSchema,
    /** 1900-2099, year, year-month or full date; empty when unknown. */
    dob: { type: 'string', pattern: '^((19|20)\\d\\d(-\\d\\d){0,2}){0,1}$' },
    v: { type: 'array', items: dccVaccinationEntrySchema, minItems: 1 },
    t: { type: 'array', items: dccTestEntrySchema, minItems: 1 },
    r: { type: 'array', items: dccRecoveryEntrySchema, minItems: 1 },
  },
} as const;

export type DccPayload = FromSchema<typeof dccPayloadSchema>;
export type DccVaccinationEntry = FromSchema<typeof dccVaccinationEntrySchema>;
export type DccTestEntry = FromSchema<typeof dccTestEntrySchema>;
export type DccRecoveryEntry = FromSchema<typeof dccRecoveryEntrySchema>;

/** The certificate type: vaccination, test or recovery, as the `v`, `t`, `r` groups. */
export type DccCertificateType = 'v' | 't' | 'r';
export const DCC_CERTIFICATE_TYPES: readonly DccCertificateType[] = ['v', 't', 'r'];
