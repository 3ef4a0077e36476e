import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { describeSchemaErrors } from '../telemetry-codec.ts';
import { codeErrors } from './code-errors.ts';
import { dccPayloadSchema, DCC_CERTIFICATE_TYPES, type DccCertificateType, type DccPayload } from './dcc-schema.ts';
import { checkValidityWindow, CWT_CLAIM, describe, readNumericDate, readText, type ClaimsMap } from './cwt-claims.ts';

/**
 * The EU DCC inside its CWT (HCERT §3.2): 1 iss (optional: the issuing country), 4 exp, 6 iat,
 * -260 hcert -> {1: eu_dgc_v1, the DCC payload}.
 */
export const DCC_PREFIX = 'HC1:';
export const HCERT_CLAIM = -260;
export const EU_DGC_V1 = 1;

/** Any text without control characters (HCERT leaves iss free; ISO 3166-1 alpha-2 in practice). */
const DCC_ISSUER = /^[^\p{Cc}]{1,256}$/u;
/** The payload is a small JSON document: deeper nesting is an attack, not a certificate. */
const MAX_JSON_DEPTH = 16;

/** RFC 3339 §5.6 full-date, checked against the calendar. */
function isFullDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (m === null) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** RFC 3339 §5.6 date-time: full-date "T" time with seconds, optional fraction, Z or an offset. */
function isDateTime(text: string): boolean {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/.exec(text);
  return m !== null && isFullDate(m[1]!);
}

/** Converts the hcert claim's CBOR (maps with text keys) to the JSON value the schema describes. */
function cborToJson(value: unknown, path: string, depth: number): unknown {
  if (depth > MAX_JSON_DEPTH) throw codeErrors.CODE_ERR_CLAIMS(`${path} nests deeper than ${MAX_JSON_DEPTH}`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw codeErrors.CODE_ERR_CLAIMS(`${path} is ${value}`);
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => cborToJson(v, `${path}/${i}`, depth + 1));
  if (value instanceof Map) {
    const entries: [string, unknown][] = [];
    for (const [k, v] of value) {
      if (typeof k !== 'string') throw codeErrors.CODE_ERR_CLAIMS(`${path || '/'} has a key that is ${describe(k)}, not text`);
      entries.push([k, cborToJson(v, `${path}/${k}`, depth + 1)]);
    }
    // fromEntries defines own properties: a "__proto__" key stays data, never a prototype.
    return Object.fromEntries(entries);
  }
  throw codeErrors.CODE_ERR_CLAIMS(`${path} is ${describe(value)}: not a JSON value`);
}

/**
 * A stable pseudonymous subject for a DCC holder, for revocation by subject: SHA-256 over the
 * standardised surname, standardised forename and date of birth (the fields the DCC revocation
 * and business-rule work match holders on; the forename keeps twins apart), as lower-case hex.
 */
export function dccSubjectHash(payload: Pick<DccPayload, 'nam' | 'dob'>): string {
  const nam = payload.nam as { fnt?: string; gnt?: string };
  return createHash('sha256')
    .update(`cityops-dcc-subject-v1\n${nam.fnt ?? ''}\n${nam.gnt ?? ''}\n${payload.dob}`, 'utf8')
    .digest('hex');
}

export function dccCertificateType(payload: DccPayload): DccCertificateType {
  return DCC_CERTIFICATE_TYPES.find((t) => t in payload) ?? 'v';
}

export function dccCertificateId(payload: DccPayload): string {
  const group = (payload as Partial<Record<DccCertificateType, readonly { ci: string }[]>>)[dccCertificateType(payload)];
  return group?.[0]?.ci ?? '';
}

export interface DccPayloadCheck {
  /** Returns the payload typed, or throws CODE_ERR_SCHEMA with the first problems. */
  (value: unknown): DccPayload;
}

/** Compiles the DCC schema once (per decoder or issuer: no module-level state). */
export function createDccPayloadCheck(): DccPayloadCheck {
  // strictRequired off: the published oneOf/anyOf name required groups declared at the top level.
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, formats: { date: isFullDate, 'date-time': isDateTime } });
  const validate = ajv.compile<DccPayload>(dccPayloadSchema);
  return (value) => {
    if (!validate(value)) throw codeErrors.CODE_ERR_SCHEMA(describeSchemaErrors(validate.errors, 5));
    return value;
  };
}

export interface DecodedDccClaims {
  readonly issuer: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly codeId: string;
  readonly subject: string;
  readonly claims: DccPayload;
  readonly keyUsage: DccCertificateType;
}

/** Reads HCERT's CWT claims; other claims are left alone (HCERT §3: participants may extend). */
export function readDcc(claims: ClaimsMap, check: DccPayloadCheck): DecodedDccClaims {
  // HCERT §3.2.4: iss is optional.
  const issuer = claims.has(CWT_CLAIM.iss) ? readText(claims, CWT_CLAIM.iss, 'iss', DCC_ISSUER) : '';
  // HCERT §3.2.5, §3.2.6: exp and iat are integer NumericDates.
  const issuedAt = readNumericDate(claims, CWT_CLAIM.iat, 'iat');
  const expiresAt = readNumericDate(claims, CWT_CLAIM.exp, 'exp');
  checkValidityWindow(issuedAt, expiresAt);
  const hcert = claims.get(HCERT_CLAIM);
  if (!(hcert instanceof Map)) throw codeErrors.CODE_ERR_CLAIMS(`hcert (claim ${HCERT_CLAIM}) is ${describe(hcert)}, not a map`);
  const dgc: unknown = hcert.get(EU_DGC_V1);
  if (!(dgc instanceof Map)) throw codeErrors.CODE_ERR_CLAIMS(`hcert eu_dgc_v1 (key ${EU_DGC_V1}) is ${describe(dgc)}, not a map`);
  const payload = check(cborToJson(dgc, '', 0));
  return {
    issuer,
    issuedAt,
    expiresAt,
    codeId: dccCertificateId(payload),
    subject: dccSubjectHash(payload),
    claims: payload,
    keyUsage: dccCertificateType(payload),
  };
}

/** The CWT claims of a DCC as HCERT §3.2.1 lays them out. */
export function writeDccClaims(fields: { issuer: string; iat: number; exp: number; payload: DccPayload }): ClaimsMap {
  const claims = new Map<number, unknown>();
  if (fields.issuer !== '') claims.set(CWT_CLAIM.iss, fields.issuer);
  claims.set(CWT_CLAIM.iat, fields.iat);
  claims.set(CWT_CLAIM.exp, fields.exp);
  claims.set(HCERT_CLAIM, new Map<number, unknown>([[EU_DGC_V1, fields.payload]]));
  return claims;
}
