import type { FromSchema } from 'json-schema-to-ts';
import { compileSchemaCheck } from '@cityops/protocol';
import { createBloomFilter, type BloomFilter } from './bloom-filter.ts';
import { verifierErrors } from './errors.ts';

/**
 * Revocation by code id and by subject, as SHA-256 digests (hex, see identifier-hashes.ts): the
 * list never holds a raw id. File or feed format:
 *
 *   { "codes": ["<sha256 hex of a code id>", ...], "subjects": ["<sha256 hex of a subject>", ...] }
 *
 * The service checks the exact sets; the Bloom filter built from them is what scanners download
 * for their offline copy (keys `code:<hex>` and `subject:<hex>`).
 */
export const revocationFileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    codes: { type: 'array', maxItems: 10_000_000, items: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
    subjects: { type: 'array', maxItems: 10_000_000, items: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
  },
} as const;

export interface RevocationSnapshot {
  readonly version: number;
  readonly codes: number;
  readonly subjects: number;
  isCodeRevoked(codeIdHash: string): boolean;
  isSubjectRevoked(subjectHash: string): boolean;
  /** The scanners' offline copy, built on first use and kept with the snapshot. */
  filter(): BloomFilter;
}

export const revocationFilterKey = {
  code: (codeIdHash: string) => `code:${codeIdHash}`,
  subject: (subjectHash: string) => `subject:${subjectHash}`,
} as const;

const checkRevocationFile = compileSchemaCheck(revocationFileSchema);

export type RevocationFile = FromSchema<typeof revocationFileSchema>;

export function buildRevocationSnapshot(file: RevocationFile, version: number, falsePositiveRate: number): RevocationSnapshot {
  const codes = new Set(file.codes ?? []);
  const subjects = new Set(file.subjects ?? []);
  let filter: BloomFilter | undefined;
  return Object.freeze({
    version,
    codes: codes.size,
    subjects: subjects.size,
    isCodeRevoked: (hash: string) => codes.has(hash),
    isSubjectRevoked: (hash: string) => subjects.has(hash),
    filter() {
      if (filter === undefined) {
        filter = createBloomFilter(codes.size + subjects.size, falsePositiveRate);
        for (const hash of codes) filter.add(revocationFilterKey.code(hash));
        for (const hash of subjects) filter.add(revocationFilterKey.subject(hash));
      }
      return filter;
    },
  });
}

export function parseRevocationList(input: unknown, version: number, falsePositiveRate: number): RevocationSnapshot {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw verifierErrors.VERIFIER_ERR_REVOCATION_LIST(`not JSON: ${(err as Error).message}`, err);
    }
  }
  const problems = checkRevocationFile(value);
  if (problems.length > 0) throw verifierErrors.VERIFIER_ERR_REVOCATION_LIST(problems.slice(0, 20).join('; '));
  return buildRevocationSnapshot(value as RevocationFile, version, falsePositiveRate);
}
