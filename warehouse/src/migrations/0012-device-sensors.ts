import type { Migration } from './migration.ts';

/**
 * Each device's sensor set (issue 17): a reading is stored only for a sensor the registry knows,
 * declared by an operator or learned on first sight up to the device's cap.
 *
 * - `device_sensors`: one row per change of (device, sensor). ReplacingMergeTree by `version`: a row
 *   ingest learned has version 0, so it never replaces an operator's act (a decommission written a
 *   moment before another instance learned the same sensor stays a decommission); an operator's act
 *   has its time in ms as version, so the later act wins. Read with FINAL or newest-version-first.
 * - `devices.max_sensors`: the device's own cap, 0 for the configured default. A column of the device,
 *   not of the sensor table: provisioning writes it in the same row, and every instance already
 *   re-reads `devices` on each refresh, so a changed cap reaches them without another query.
 */
export const deviceSensorsMigration: Migration = {
  version: 12,
  name: 'create_device_sensors',
  statements: [
    `CREATE TABLE IF NOT EXISTS device_sensors (
      device String,
      sensor String,
      metric LowCardinality(String),
      origin LowCardinality(String),
      state LowCardinality(String),
      version UInt64,
      changed_at DateTime64(3, 'UTC')
    )
    ENGINE = ReplacingMergeTree(version)
    ORDER BY (device, sensor)`,
    'ALTER TABLE devices ADD COLUMN IF NOT EXISTS max_sensors UInt32 DEFAULT 0',
  ],
};
