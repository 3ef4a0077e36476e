import { declaredMapSize, type CborCodec } from './cbor-codec.ts';
import { codeErrors } from './code-errors.ts';

/** RFC 8392 §3.1 registered claim keys. */
export const CWT_CLAIM = Object.freeze({ iss: 1, sub: 2, aud: 3, exp: 4, nbf: 5, iat: 6, cti: 7 });

/** RFC 8392 §9.1.1: claim keys below -65536 are private use; ours start there. */
export const CITYOPS_HEALTH_CODE_CLAIM = -65537;
export const CITYOPS_SITE_CODE_CLAIM = -65538;
export const CITYOPS_LICENCE_CLAIM = -65539;

/** 9999-12-31T23:59:59Z: NumericDates beyond are refused rather than overflowing Date. */
const MAX_NUMERIC_DATE = 253402300799;

export type ClaimsMap = Map<unknown, unknown>;

/** Reads the COSE payload as a CWT claims set: one CBOR map with unique keys (RFC 8392 §7.2). */
export function readClaimsMap(payload: Buffer, cbor: CborCodec): ClaimsMap {
  const claims = cbor.decode(payload, 'CWT claims');
  if (!(claims instanceof Map)) throw codeErrors.CODE_ERR_CLAIMS('payload is not a CBOR map of claims');
  if (declaredMapSize(payload) > claims.size) throw codeErrors.CODE_ERR_CLAIMS('a claim key is repeated');
  return claims;
}

/**
 * Whole seconds (our own closed formats, CHC1/CSC1/CLC1) or any finite number (RFC 8392 §2 takes
 * NumericDate from RFC 7519 §2: "non-integer values can be represented"; a DCC's CBOR float
 * 1621262460.78 is one).
 */
export type NumericDateForm = 'whole-seconds' | 'fraction';

/** Reads an RFC 8392 §2 NumericDate (seconds, 1970 to 9999), returned in ms, fraction kept. */
export function readNumericDate(map: Map<unknown, unknown>, key: number, name: string, form: NumericDateForm = 'whole-seconds'): number {
  const value = map.get(key);
  const number = typeof value === 'number' && Number.isFinite(value) && (form === 'fraction' || Number.isInteger(value));
  if (!number || value < 0 || value > MAX_NUMERIC_DATE) {
    throw codeErrors.CODE_ERR_CLAIMS(`${name} is ${describe(value)}, not a NumericDate${form === 'fraction' ? '' : ' in whole seconds'}`);
  }
  return value * 1000;
}

export function readOptionalNumericDate(map: Map<unknown, unknown>, key: number, name: string): number | undefined {
  return map.has(key) ? readNumericDate(map, key, name) : undefined;
}

export function readText(map: Map<unknown, unknown>, key: number, name: string, pattern: RegExp): string {
  const value = map.get(key);
  if (typeof value !== 'string') throw codeErrors.CODE_ERR_CLAIMS(`${name} is ${describe(value)}, not a text string`);
  if (!pattern.test(value)) throw codeErrors.CODE_ERR_CLAIMS(`${name} ${JSON.stringify(value.slice(0, 80))} does not match ${pattern.source}`);
  return value;
}

export function readBytes(map: Map<unknown, unknown>, key: number, name: string, min: number, max: number): Buffer {
  const value = map.get(key);
  if (!(value instanceof Uint8Array)) throw codeErrors.CODE_ERR_CLAIMS(`${name} is ${describe(value)}, not a byte string`);
  if (value.length < min || value.length > max) throw codeErrors.CODE_ERR_CLAIMS(`${name} is ${value.length} bytes (${min}-${max})`);
  return Buffer.from(value);
}

/** Reads a small unsigned enumeration (`values[n]`). */
export function readEnum<T extends string>(map: Map<unknown, unknown>, key: number, name: string, values: readonly T[]): T {
  const value = map.get(key);
  const found = typeof value === 'number' && Number.isInteger(value) ? values[value] : undefined;
  if (found === undefined) throw codeErrors.CODE_ERR_CLAIMS(`${name} is ${describe(value)}, not one of 0-${values.length - 1}`);
  return found;
}

/** Refuses keys a closed claims layout does not define (our own formats: strict, versioned by prefix). */
export function refuseUnknownKeys(map: Map<unknown, unknown>, known: readonly number[], where: string): void {
  for (const key of map.keys()) {
    if (!known.includes(key as number)) throw codeErrors.CODE_ERR_CLAIMS(`${where} has an unknown key ${describe(key)}`);
  }
}

/** `exp` after `iat`: a code valid for no time at all is malformed, not merely expired. */
export function checkValidityWindow(issuedAt: number, expiresAt: number): void {
  if (expiresAt <= issuedAt) throw codeErrors.CODE_ERR_CLAIMS(`exp (${expiresAt / 1000}) is not after iat (${issuedAt / 1000})`);
}

export function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `a ${value.length}-byte byte string`;
  if (value instanceof Map) return 'a map';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the text ${JSON.stringify(value.slice(0, 40))}`;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return `a ${typeof value}`;
}
