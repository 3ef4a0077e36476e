import type { Migration } from './migration.ts';

/**
 * Offline verdicts uploaded exactly once (issue 3). A scanner names each verdict it gives offline
 * (`event_id`, its boot id and a sequence); the verifier skips ids already in the table and inserts
 * the rest with an `insert_deduplication_token` made from them, so a resend, an overlapping upload
 * or a retried insert whose answer was lost adds no row, across verifier restarts too.
 *
 * - `event_id`: '' for the verifier's own (online) verdicts;
 * - a Bloom-filter skip index on it, for the "which of these ids are there already" lookup (the
 *   sort key is venue, time);
 * - a deduplication window on the table and on the per-minute rollup fed by its view (the verifier
 *   inserts with `deduplicate_blocks_in_dependent_materialized_views`), otherwise a non-replicated
 *   MergeTree ignores the token, and the rollup would count a deduplicated block again.
 *
 * ClickHouse server 18.16 (the transport tests' server) never gets this schema (migrate: false there).
 */
export const verificationEventIdsMigration: Migration = {
  version: 8,
  name: 'verification_event_ids',
  statements: [
    `ALTER TABLE verification_events ADD COLUMN IF NOT EXISTS event_id String DEFAULT ''`,
    'ALTER TABLE verification_events ADD INDEX IF NOT EXISTS verification_events_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 4',
    'ALTER TABLE verification_events MODIFY SETTING non_replicated_deduplication_window = 1000',
    'ALTER TABLE verification_events_1m MODIFY SETTING non_replicated_deduplication_window = 1000',
  ],
};
