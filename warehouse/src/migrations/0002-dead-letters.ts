import type { Migration } from './migration.ts';

/**
 * Payloads ingest could not accept, with their raw bytes. JSONEachRow cannot carry arbitrary bytes,
 * so inserts send base64 in the EPHEMERAL column `payload_b64` and the server stores the decoded
 * bytes in `payload` (a String holds any bytes). Kept 30 days.
 */
export const deadLettersMigration: Migration = {
  version: 2,
  name: 'create_dead_letters',
  statements: [
    `CREATE TABLE IF NOT EXISTS dead_letters (
      received_at DateTime64(3, 'UTC'),
      device String,
      topic String,
      reason LowCardinality(String),
      detail String,
      payload_b64 String EPHEMERAL '',
      payload String DEFAULT base64Decode(payload_b64)
    )
    ENGINE = MergeTree
    PARTITION BY toYYYYMM(received_at)
    ORDER BY (device, received_at)
    TTL toDateTime(received_at) + toIntervalDay(30)`,
  ],
};
