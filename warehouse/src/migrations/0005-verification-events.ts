import type { Migration } from './migration.ts';

/**
 * The verifier's audit trail: one row per verdict. The person appears only as `pseudonym`, an
 * HMAC-SHA256 of the subject under the verifier's secret key; never the raw code or subject.
 * Sorted by venue then time (the analyst's question: what happened at this door). Daily partitions
 * line up with the TTL so whole parts are dropped; 30 days is the starting point, the verifier sets
 * its configured retention with MODIFY TTL.
 */
export const verificationEventsMigration: Migration = {
  version: 5,
  name: 'create_verification_events',
  statements: [
    `CREATE TABLE IF NOT EXISTS verification_events (
      at DateTime64(3, 'UTC'),
      venue LowCardinality(String),
      kind LowCardinality(String),
      verdict LowCardinality(String),
      reason LowCardinality(String),
      issuer LowCardinality(String),
      pseudonym String,
      scanner String,
      transport LowCardinality(String),
      offline Bool,
      stale Bool
    )
    ENGINE = MergeTree
    PARTITION BY toYYYYMMDD(at)
    ORDER BY (venue, at)
    TTL toDateTime(at) + toIntervalDay(30)
    SETTINGS ttl_only_drop_parts = 1`,
  ],
};
