import type { Migration } from './migration.ts';

/**
 * The device registry every ingest instance shares (the logic lives in ingest). A change is a new
 * row; ReplacingMergeTree keeps the newest per id (read with FINAL).
 */
export const devicesMigration: Migration = {
  version: 3,
  name: 'create_devices',
  statements: [
    `CREATE TABLE IF NOT EXISTS devices (
      id String,
      kind LowCardinality(String),
      district LowCardinality(String),
      subdistrict LowCardinality(String),
      grid LowCardinality(String),
      building LowCardinality(String),
      secret_hash String,
      revoked Bool,
      updated_at DateTime64(3, 'UTC')
    )
    ENGINE = ReplacingMergeTree(updated_at)
    ORDER BY id`,
  ],
};
