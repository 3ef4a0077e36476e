import { revocationFilterKey, type BloomFilter, type RevocationSnapshot } from '@cityops/verifier';

/**
 * The revocation lists as a scanner holds them offline: the verifier's Bloom filter
 * (`GET /v1/revocation/filter`), never the lists themselves. A code that is revoked is always
 * found; a code that is not is taken as revoked with the filter's false-positive rate (the
 * verifier's `filterFalsePositiveRate`, 1e-6 by default): offline errs on the side of the door.
 */
export function filterRevocationSnapshot(filter: BloomFilter, version: number): RevocationSnapshot {
  return Object.freeze({
    version,
    // The filter does not tell codes from subjects: its item count stands for both.
    codes: filter.items,
    subjects: 0,
    isCodeRevoked: (codeIdHash: string) => filter.has(revocationFilterKey.code(codeIdHash)),
    isSubjectRevoked: (subjectHash: string) => filter.has(revocationFilterKey.subject(subjectHash)),
    filter: () => filter,
  });
}
