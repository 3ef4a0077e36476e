import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { FromSchema } from 'json-schema-to-ts';
import { CODE_KINDS, compileSchemaCheck, LICENCE_REGION_PATTERN, LICENCE_TYPE_PATTERN } from '@cityops/protocol';
import { verifierErrors } from './errors.ts';
import type { CodeKind } from './verdict.ts';

/** What a licensing authority may sign (see the trust-file format below). */
const licenceAuthoritySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['types', 'regions'],
  properties: {
    types: { type: 'array', minItems: 1, maxItems: 256, uniqueItems: true, items: { type: 'string', pattern: LICENCE_TYPE_PATTERN.source } },
    regions: { type: 'array', minItems: 1, maxItems: 256, uniqueItems: true, items: { type: 'string', pattern: LICENCE_REGION_PATTERN.source } },
    crossRegion: { type: 'boolean' },
  },
} as const;

/**
 * The trust-file format (issue 3): a JSON array of `{"kid": base64, "certificate": base64 DER X.509}`
 * or `{"kid": base64, "publicKey": base64 DER SPKI}`, with optional `issuer`, `kinds` (absent: every
 * kind) and `region`. Several entries may share a kid (DCC kids are 8 bytes and do collide): each is
 * tried in turn. A licensing authority's entry says what it may sign (issue 23):
 * `"licence": {"types": [...], "regions": ["CN-JS"], "crossRegion": true}`: those licence types, for
 * those regions; `crossRegion` (default false) recognises its licences for a region other than the
 * verifier's home region. Without `licence`, a key signs no licence type at all.
 */
export const trustFileSchema = {
  type: 'array',
  maxItems: 100_000,
  items: {
    type: 'object',
    required: ['kid'],
    oneOf: [{ required: ['certificate'] }, { required: ['publicKey'] }],
    properties: {
      kid: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9+/_-]+={0,2}$' },
      certificate: { type: 'string', minLength: 1, maxLength: 65536, pattern: '^[A-Za-z0-9+/_-]+={0,2}$' },
      publicKey: { type: 'string', minLength: 1, maxLength: 65536, pattern: '^[A-Za-z0-9+/_-]+={0,2}$' },
      issuer: { type: 'string', minLength: 1, maxLength: 200 },
      region: { type: 'string', minLength: 1, maxLength: 100 },
      kinds: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: CODE_KINDS } },
      licence: licenceAuthoritySchema,
    },
  },
} as const;

export type TrustFileEntry = FromSchema<typeof trustFileSchema>[number];
export type LicenceAuthority = FromSchema<typeof licenceAuthoritySchema>;

/** One trusted key, parsed once when the list is loaded. */
export interface TrustKey {
  /** Canonical base64 of the key id bytes. */
  readonly kid: string;
  readonly kinds: readonly CodeKind[];
  readonly issuer?: string;
  readonly region?: string;
  /** The licence types it may sign, for which regions; absent: none. */
  readonly licence?: LicenceAuthority;
  readonly publicKey: KeyObject;
  readonly certificate?: X509Certificate;
}

/** What the signature stage needs: the keys of a kid. Implemented by snapshots and by the workers' view. */
export interface TrustView {
  readonly version: number;
  keysFor(kid: string): readonly TrustKey[] | undefined;
}

/** An immutable trust list. A new list is a new snapshot; requests keep the one they started with. */
export interface TrustSnapshot extends TrustView {
  readonly size: number;
  readonly kids: number;
  /** The list as workers read it: a JSON table in shared memory, posted to workers by reference. */
  workerTable(): SharedArrayBuffer;
}

/** The serialisable form of one entry, as workers receive it (DER as base64). */
export interface TrustTableEntry {
  readonly kid: string;
  readonly kinds: readonly CodeKind[];
  readonly issuer?: string;
  readonly region?: string;
  readonly licence?: LicenceAuthority;
  readonly spki?: string;
  readonly certificate?: string;
}

const checkTrustFile = compileSchemaCheck(trustFileSchema);

/** Parses and checks a trust file (text or parsed JSON); every problem is reported together. */
export function parseTrustFile(input: unknown): TrustFileEntry[] {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw verifierErrors.VERIFIER_ERR_TRUST_LIST(`not JSON: ${(err as Error).message}`, err);
    }
  }
  const problems = checkTrustFile(value);
  if (problems.length > 0) throw verifierErrors.VERIFIER_ERR_TRUST_LIST(problems.slice(0, 20).join('; '));
  return value as TrustFileEntry[];
}

function canonicalBase64(text: string): string {
  return Buffer.from(text, 'base64').toString('base64');
}

/** A certificate the caller parsed already (while checking the list it came in), else undefined. */
export type ParsedCertificateOf = (entry: TrustFileEntry) => X509Certificate | undefined;

/** Parses one entry's key material; throws a plain Error with what is wrong. */
function parseKey(entry: TrustFileEntry, parsed: ParsedCertificateOf): { publicKey: KeyObject; certificate?: X509Certificate; row: TrustTableEntry } {
  const common = {
    kid: canonicalBase64(entry.kid),
    kinds: entry.kinds ?? CODE_KINDS,
    ...(entry.issuer === undefined ? {} : { issuer: entry.issuer }),
    ...(entry.region === undefined ? {} : { region: entry.region }),
    ...(entry.licence === undefined ? {} : { licence: entry.licence }),
  };
  if (entry.certificate !== undefined) {
    const der = Buffer.from(entry.certificate, 'base64');
    const certificate = parsed(entry) ?? new X509Certificate(der);
    return { publicKey: certificate.publicKey, certificate, row: { ...common, certificate: der.toString('base64') } };
  }
  const der = Buffer.from(entry.publicKey ?? '', 'base64');
  const publicKey = createPublicKey({ key: der, format: 'der', type: 'spki' });
  return { publicKey, row: { ...common, spki: der.toString('base64') } };
}

function frozenAuthority(licence: LicenceAuthority): LicenceAuthority {
  return Object.freeze({ ...licence, types: Object.freeze([...licence.types]), regions: Object.freeze([...licence.regions]) }) as LicenceAuthority;
}

function snapshotOf(keys: ReadonlyMap<string, readonly TrustKey[]>, rows: readonly TrustTableEntry[], version: number): TrustSnapshot {
  let table: SharedArrayBuffer | undefined;
  return Object.freeze({
    version,
    size: rows.length,
    kids: keys.size,
    keysFor: (kid: string) => keys.get(kid),
    workerTable() {
      if (table === undefined) {
        const bytes = Buffer.from(JSON.stringify({ version, entries: rows }), 'utf8');
        table = new SharedArrayBuffer(bytes.length);
        bytes.copy(Buffer.from(table));
      }
      return table;
    },
  });
}

/**
 * Builds a snapshot: every key (SPKI or certificate) is parsed here, once per entry, so that no
 * request ever parses a key. A list with any unusable entry is refused whole (the old one stays).
 */
export function buildTrustSnapshot(entries: readonly TrustFileEntry[], version: number, parsed: ParsedCertificateOf = () => undefined): TrustSnapshot {
  const keys = new Map<string, TrustKey[]>();
  const rows: TrustTableEntry[] = [];
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    try {
      const { publicKey, certificate, row } = parseKey(entry, parsed);
      const key: TrustKey = Object.freeze({
        kid: row.kid,
        kinds: Object.freeze([...row.kinds]),
        publicKey,
        ...(certificate === undefined ? {} : { certificate }),
        ...(row.issuer === undefined ? {} : { issuer: row.issuer }),
        ...(row.region === undefined ? {} : { region: row.region }),
        ...(row.licence === undefined ? {} : { licence: frozenAuthority(row.licence) }),
      });
      const list = keys.get(key.kid) ?? [];
      list.push(key);
      keys.set(key.kid, list);
      rows.push(row);
    } catch (err) {
      problems.push(`entry ${i} (kid ${entry.kid}): ${(err as Error).message}`);
    }
  });
  if (problems.length > 0) throw verifierErrors.VERIFIER_ERR_TRUST_LIST(problems.slice(0, 20).join('; '));
  for (const list of keys.values()) Object.freeze(list);
  return snapshotOf(keys, rows, version);
}

/** Text (or parsed JSON) of a trust file to a snapshot. */
export function parseTrustList(input: unknown, version: number): TrustSnapshot {
  return buildTrustSnapshot(parseTrustFile(input), version);
}
