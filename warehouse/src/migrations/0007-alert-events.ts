import type { Migration } from './migration.ts';

/**
 * The alert lifecycle's event log (the logic lives in analytics/src/alerts/): one row per
 * transition of an alert, numbered by `seq` within the alert. Current state is folded from these
 * rows, so they are the truth; each row repeats the alert's description (key, rule, place, …) and
 * carries the state and department after the event, so one alert's rows read alone rebuild it.
 * `feedback` holds the department's feedback (resolved) or the reason (reopened by an operator);
 * `verification` the JSON of how a resolution is checked against the data (opened rows).
 * No TTL: an alert's history is the record of who did what and when (monthly partitions let an
 * operator drop old months by hand).
 */
export const alertEventsMigration: Migration = {
  version: 7,
  name: 'create_alert_events',
  statements: [
    `CREATE TABLE IF NOT EXISTS alert_events (
      alert_id String,
      seq UInt32,
      at DateTime64(3, 'UTC'),
      type LowCardinality(String),
      actor String,
      state LowCardinality(String),
      key String,
      rule LowCardinality(String),
      kind LowCardinality(String),
      severity LowCardinality(String),
      place String,
      level LowCardinality(String),
      metric LowCardinality(String),
      subject String,
      department LowCardinality(String),
      parent_key String,
      summary String,
      feedback String,
      value Nullable(Float64),
      threshold Nullable(Float64),
      verification String
    )
    ENGINE = MergeTree
    PARTITION BY toYYYYMM(at)
    ORDER BY (alert_id, seq)`,
  ],
};
