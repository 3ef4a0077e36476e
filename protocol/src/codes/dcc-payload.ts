import { createHash } from 'node:crypto';
import { describeSchemaErrors } from '../telemetry-codec.ts';
import { codeErrors } from './code-errors.ts';
import { DCC_CERTIFICATE_TYPES, type DccCertificateType, type DccPayload } from './dcc-schema.ts';
import { createDccSchemaSet, DCC_SCHEMA_VERSIONS, dccSchemaVersionFor, type DccSchemaVersion } from './dcc-schema-versions.ts';
import { CWT_CLAIM, describe, readNumericDate, readText, type ClaimsMap } from './cwt-claims.ts';

/**
 * The EU DCC inside its CWT (HCERT §3.2): 1 iss (optional: the issuing country), 4 exp, 6 iat,
 * -260 hcert -> {1: eu_dgc_v1, the DCC payload}.
 */
export const DCC_PREFIX = 'HC1:';
export const HCERT_CLAIM = -260;
export const EU_DGC_V1 = 1;

/**
 * RFC 8392 §3.1.1: iss is a text string; HCERT §3.2.4 leaves its content free (ISO 3166-1 alpha-2 in
 * practice). Bounded, and without control characters, to protect logs and verdict lines: ours.
 */
const DCC_ISSUER = /^[^\p{Cc}]{0,256}$/u;
/** The payload is a small JSON document: deeper nesting is an attack, not a certificate (ours). */
const MAX_JSON_DEPTH = 16;

/**
 * Converts the hcert claim's CBOR (maps with text keys) to the JSON value the schema describes.
 * ehn-dcc-schema README "CBOR Encoding": a date-time MAY be tagged 0 and validators MUST read both;
 * cbor-x turns tags 0 and 1 into a Date, written back here as RFC 3339 text.
 */
function cborToJson(value: unknown, path: string, depth: number): unknown {
  if (depth > MAX_JSON_DEPTH) throw codeErrors.CODE_ERR_CLAIMS(`${path} nests deeper than ${MAX_JSON_DEPTH}`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    // RFC 8259 §6: JSON has no NaN or Infinity.
    if (!Number.isFinite(value)) throw codeErrors.CODE_ERR_CLAIMS(`${path} is ${value}`);
    return value;
  }
  // cbor-x gives a 64-bit integer head as a bigint; within 2^53 it is an ordinary JSON number.
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw codeErrors.CODE_ERR_CLAIMS(`${path} is an integer beyond 2^53`);
    return Number(value);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw codeErrors.CODE_ERR_CLAIMS(`${path} is a tagged date that is not a time`);
    return value.toISOString();
  }
  if (Array.isArray(value)) return value.map((v, i) => cborToJson(v, `${path}/${i}`, depth + 1));
  if (value instanceof Map) {
    const entries: [string, unknown][] = [];
    for (const [k, v] of value) {
      // The payload is a JSON object (HCERT §3.2.7): its member names are text.
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

/** Every group the payload carries (one from 1.3.0 on; a 1.0.x-1.2.x payload may carry several). */
export function dccCertificateTypes(payload: DccPayload): DccCertificateType[] {
  return DCC_CERTIFICATE_TYPES.filter((t) => Array.isArray((payload as Record<string, unknown>)[t]));
}

export function dccCertificateType(payload: DccPayload): DccCertificateType {
  return dccCertificateTypes(payload)[0] ?? 'v';
}

export function dccCertificateId(payload: DccPayload): string {
  const group = (payload as Partial<Record<DccCertificateType, readonly { ci: string }[]>>)[dccCertificateType(payload)];
  return group?.[0]?.ci ?? '';
}

/** A payload that some published schema release allows, and how it was judged. */
export interface CheckedDccPayload {
  readonly payload: DccPayload;
  /** The release it was validated with: the one its `ver` selects, else the one that allowed it. */
  readonly schemaVersion: DccSchemaVersion;
  /** What the schemas treat as advisory and this payload misses; empty when it meets its own release. */
  readonly advisories: readonly string[];
  /** Of those, the RFC 3339 `format` misses (a date that is not a calendar date). */
  readonly formatMisses: readonly string[];
}

export interface DccPayloadCheck {
  /** Returns the payload typed, or throws CODE_ERR_SCHEMA with the declared release's first problems. */
  (value: unknown): CheckedDccPayload;
}

/**
 * Validates a payload against the release its `ver` declares (see dccSchemaVersionFor). A payload
 * its own release refuses is tried against every other published release, newest first: the
 * schemas relaxed patterns and bounds between releases (dob, dose numbers, name lengths, fnt/gnt),
 * and issuers wrote `ver` loosely, so only what no published release allows is refused (advisory
 * otherwise). Each release is compiled on first use, per check (no module-level state).
 */
export function createDccPayloadCheck(): DccPayloadCheck {
  const schemas = createDccSchemaSet();
  const newestFirst = [...DCC_SCHEMA_VERSIONS].reverse();
  return (value) => {
    const declared = dccSchemaVersionFor((value as { ver?: unknown } | null)?.ver);
    const own = schemas.check(declared, value);
    if (own.valid) return { payload: value as DccPayload, schemaVersion: declared, advisories: own.advisories, formatMisses: own.advisories };
    for (const version of newestFirst) {
      if (version === declared) continue;
      const other = schemas.check(version, value);
      if (other.valid) {
        const note = `does not meet its declared schema ${declared} (${describeSchemaErrors(own.errors, 2)}); meets ${version}`;
        return { payload: value as DccPayload, schemaVersion: version, advisories: [note, ...other.advisories], formatMisses: other.advisories };
      }
    }
    throw codeErrors.CODE_ERR_SCHEMA(`no published schema allows it; ${declared}: ${describeSchemaErrors(own.errors, 5)}`);
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
  readonly keyUsages: readonly DccCertificateType[];
  readonly schemaVersion: DccSchemaVersion;
  readonly advisories: readonly string[];
}

/** Reads HCERT's CWT claims; other claims are left alone (HCERT §3: participants may extend). */
export function readDcc(claims: ClaimsMap, check: DccPayloadCheck): DecodedDccClaims {
  // HCERT §3.2.4: iss is optional.
  const issuer = claims.has(CWT_CLAIM.iss) ? readText(claims, CWT_CLAIM.iss, 'iss', DCC_ISSUER) : '';
  // HCERT §3.2.5, §3.2.6: exp and iat SHALL be present (the validity limit is what stands in for
  // revocation, HCERT "Security Considerations"). RFC 8392 §2 NumericDate: fractions allowed.
  const issuedAt = readNumericDate(claims, CWT_CLAIM.iat, 'iat', 'fraction');
  const expiresAt = readNumericDate(claims, CWT_CLAIM.exp, 'exp', 'fraction');
  const hcert = claims.get(HCERT_CLAIM);
  if (!(hcert instanceof Map)) throw codeErrors.CODE_ERR_CLAIMS(`hcert (claim ${HCERT_CLAIM}) is ${describe(hcert)}, not a map`);
  const dgc: unknown = hcert.get(EU_DGC_V1);
  if (!(dgc instanceof Map)) throw codeErrors.CODE_ERR_CLAIMS(`hcert eu_dgc_v1 (key ${EU_DGC_V1}) is ${describe(dgc)}, not a map`);
  const { payload, schemaVersion, advisories } = check(cborToJson(dgc, '', 0));
  const keyUsages = dccCertificateTypes(payload);
  // Schemas 1.0.0-1.2.0 would take a payload with no group at all; it certifies nothing (Regulation
  // (EU) 2021/953 Art. 3(1): a vaccination, test or recovery certificate). Refused: ours.
  if (keyUsages.length === 0) throw codeErrors.CODE_ERR_SCHEMA('no vaccination (v), test (t) or recovery (r) entry');
  return {
    issuer,
    issuedAt,
    expiresAt,
    codeId: dccCertificateId(payload),
    subject: dccSubjectHash(payload),
    claims: payload,
    keyUsage: keyUsages[0]!,
    keyUsages,
    schemaVersion,
    advisories,
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
