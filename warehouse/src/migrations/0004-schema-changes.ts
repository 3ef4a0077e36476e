import type { Migration } from './migration.ts';

/** A log of schema changes made outside migrations, such as a retention applied with MODIFY TTL. */
export const schemaChangesMigration: Migration = {
  version: 4,
  name: 'create_schema_changes',
  statements: [
    `CREATE TABLE IF NOT EXISTS schema_changes (
      changed_at DateTime64(3, 'UTC'),
      object LowCardinality(String),
      change LowCardinality(String),
      detail String
    )
    ENGINE = MergeTree
    ORDER BY changed_at`,
  ],
};
