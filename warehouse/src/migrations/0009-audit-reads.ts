import type { Migration } from './migration.ts';

/**
 * Every read of personal data is itself audited (issue 6, item 3): one row per read of the
 * verification audit trail (`GET /v1/audit` on the verifier), written before the rows are returned.
 *
 * - `reader`, `role`: the token's name and role (never the token);
 * - `filter`: the request's filter as JSON (venue, from, to, limit), `rows`: how many were returned;
 * - `address`: the client's address as the verifier saw it.
 *
 * No TTL: the record of who looked is kept longer than what they looked at. ClickHouse server 18.16
 * (the transport tests' server, migrate: false) never gets it.
 */
export const auditReadsMigration: Migration = {
  version: 9,
  name: 'create_audit_reads',
  statements: [
    `CREATE TABLE IF NOT EXISTS audit_reads (
      at DateTime64(3, 'UTC'),
      reader String,
      role LowCardinality(String),
      route LowCardinality(String),
      filter String,
      rows UInt32,
      address String
    )
    ENGINE = MergeTree
    PARTITION BY toYYYYMM(at)
    ORDER BY (at, reader)`,
  ],
};
