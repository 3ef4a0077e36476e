import type { Migration } from './migration.ts';

/**
 * Telemetry readings. The sort key walks the hierarchy (district → building), then metric, device,
 * sensor and time: an indicator over a grid and a metric reads one contiguous range. Daily
 * partitions line up with the TTL, so `ttl_only_drop_parts` drops whole parts instead of rewriting
 * them. The 90-day TTL is the starting point only: openWarehouse sets the configured retention
 * with MODIFY TTL. The deduplication window lets a retried insert (same token) be a no-op.
 */
export const readingsMigration: Migration = {
  version: 1,
  name: 'create_readings',
  statements: [
    `CREATE TABLE IF NOT EXISTS readings (
      district LowCardinality(String),
      subdistrict LowCardinality(String),
      grid LowCardinality(String),
      building LowCardinality(String),
      device String,
      sensor String,
      metric LowCardinality(String),
      ts DateTime64(3, 'UTC'),
      value Float64,
      alarm Bool,
      boot UInt32,
      seq UInt32,
      idx UInt16,
      received_at DateTime64(3, 'UTC')
    )
    ENGINE = MergeTree
    PARTITION BY toYYYYMMDD(ts)
    ORDER BY (district, subdistrict, grid, building, metric, device, sensor, ts)
    TTL toDateTime(ts) + toIntervalDay(90)
    SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1`,
  ],
};
