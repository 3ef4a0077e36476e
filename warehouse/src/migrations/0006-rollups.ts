import type { Migration } from './migration.ts';

/**
 * Per-minute rollups for analytics (the logic lives in analytics; analytics/README.md has the
 * measurements that chose this design).
 *
 * Readings are rolled up by a periodic job, not a materialized view: a view on `readings` cost
 * 35-60% of the insert rate, the job none (it aggregates closed ranges of insert blocks with
 * INSERT … SELECT). The job's watermark is the insert block number: `enable_block_number_column`
 * keeps each row's `_block_number` through merges, and a plain MergeTree numbers blocks at commit,
 * under the parts lock, so every block at or below the newest committed one is already visible.
 * Measured: no cost on the insert rate (the column is written at merge time).
 *
 * - `readings_1m`: one row per minute, metric and place at the finest level (grid + building);
 *   coarser levels are merged at query time. `value_quantiles` is a DDSketch (quantileDD, 1%
 *   relative accuracy, mergeable exactly, so the p95 of merged minutes equals the p95 of the raw
 *   rows); `sensors` counts distinct (device, sensor) exactly. `hi_block` is the newest readings
 *   block a row covers: a query that sees a row beyond the watermark it read knows the job
 *   committed meanwhile. Rollups live longer than readings (730 days vs 90).
 * - `sensor_presence`: when each sensor was first and last seen, per metric and place: "known
 *   sensors" for the share of sensors reporting. min/max are idempotent, so re-adding rows is
 *   harmless.
 * - `rollup_progress`: the job's watermark, `started` before a range is rolled up and `done` after;
 *   a `started` range is redone with the same deduplication tokens after a crash.
 * - `verification_events_1m` and its view: verdicts per minute by venue, scanner, kind, verdict and
 *   reason, never a pseudonym. Verifications are few (thousands a second at most), so a view is
 *   cheap there. Rows in `verification_events` before this migration are not rolled up.
 */
export const rollupsMigration: Migration = {
  version: 6,
  name: 'create_rollups',
  statements: [
    'ALTER TABLE readings MODIFY SETTING enable_block_number_column = 1',
    `CREATE TABLE IF NOT EXISTS readings_1m (
      minute DateTime('UTC'),
      metric LowCardinality(String),
      district LowCardinality(String),
      subdistrict LowCardinality(String),
      grid LowCardinality(String),
      building LowCardinality(String),
      samples SimpleAggregateFunction(sum, UInt64),
      alarms SimpleAggregateFunction(sum, UInt64),
      value_min SimpleAggregateFunction(min, Float64),
      value_max SimpleAggregateFunction(max, Float64),
      value_sum SimpleAggregateFunction(sum, Float64),
      value_quantiles AggregateFunction(quantileDD(0.01, 0.95), Float64),
      sensors AggregateFunction(uniqExact, String, String),
      hi_block SimpleAggregateFunction(max, UInt64)
    )
    ENGINE = AggregatingMergeTree
    PARTITION BY toYYYYMMDD(minute)
    ORDER BY (metric, minute, district, subdistrict, grid, building)
    TTL minute + toIntervalDay(730)
    SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1`,
    `CREATE TABLE IF NOT EXISTS sensor_presence (
      metric LowCardinality(String),
      district LowCardinality(String),
      subdistrict LowCardinality(String),
      grid LowCardinality(String),
      building LowCardinality(String),
      device String,
      sensor String,
      first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
      last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
    )
    ENGINE = AggregatingMergeTree
    ORDER BY (metric, district, subdistrict, grid, building, device, sensor)`,
    `CREATE TABLE IF NOT EXISTS rollup_progress (
      job LowCardinality(String),
      from_block UInt64,
      to_block UInt64,
      state Enum8('started' = 1, 'done' = 2),
      at DateTime64(3, 'UTC'),
      version UInt64 MATERIALIZED to_block * 4 + toUInt8(state)
    )
    ENGINE = ReplacingMergeTree(version)
    ORDER BY job`,
    `CREATE TABLE IF NOT EXISTS verification_events_1m (
      minute DateTime('UTC'),
      venue LowCardinality(String),
      scanner LowCardinality(String),
      kind LowCardinality(String),
      verdict LowCardinality(String),
      reason LowCardinality(String),
      events SimpleAggregateFunction(sum, UInt64)
    )
    ENGINE = AggregatingMergeTree
    PARTITION BY toYYYYMMDD(minute)
    ORDER BY (minute, venue, scanner, kind, verdict, reason)
    TTL minute + toIntervalDay(730)
    SETTINGS ttl_only_drop_parts = 1`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS verification_events_1m_mv TO verification_events_1m AS
    SELECT toStartOfMinute(at) AS minute, venue, scanner, kind, verdict, reason, count() AS events
    FROM verification_events
    GROUP BY minute, venue, scanner, kind, verdict, reason`,
  ],
};
