import type { Migration } from './migration.ts';

/**
 * Remote configuration of devices (issue 18); the logic lives in ingest.
 *
 * - `device_configs`: every desired configuration ever set, one row per (device, version), never
 *   replaced: the history is the audit of who changed what a gateway samples. `body` is the JSON the
 *   operator sent (at most protocol's MAX_DEVICE_CONFIG_BYTES).
 * - `device_config_reports`: what the device said about a version (applied or rejected, and why),
 *   one row per report as ingest received it; the newest per device is its reported state.
 */
export const deviceConfigsMigration: Migration = {
  version: 13,
  name: 'create_device_configs',
  statements: [
    `CREATE TABLE IF NOT EXISTS device_configs (
      device String,
      version UInt32,
      body String,
      author String,
      created_at DateTime64(3, 'UTC')
    )
    ENGINE = MergeTree
    ORDER BY (device, version)`,
    `CREATE TABLE IF NOT EXISTS device_config_reports (
      device String,
      version UInt32,
      state LowCardinality(String),
      reason String,
      reported_at DateTime64(3, 'UTC')
    )
    ENGINE = MergeTree
    ORDER BY (device, reported_at)`,
  ],
};
