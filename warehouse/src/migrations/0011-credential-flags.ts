import type { Migration } from './migration.ts';

/**
 * Credentials the verifier throttled for sending more checks than a door can see (issue 16): at most
 * one row per credential per the verifier's `rates.flagWindowMs`, so a flood writes a trickle.
 * Analytics' `scanner_flood` rule reads it and places the alert at the scanner's registered place.
 *
 * - `credential`: a scanner id, or `venue-token:<name>`; `scanner`: the request's scanner ('' for a
 *   venue token); `venue`: the request's venue as the verifier took it; `transport`: http, batch, mqtt, offline (an upload over what a door can check).
 *
 * No personal data (a device, never a person); kept 90 days, whole daily parts dropped.
 */
export const credentialFlagsMigration: Migration = {
  version: 11,
  name: 'create_credential_flags',
  statements: [
    `CREATE TABLE IF NOT EXISTS credential_flags (
      at DateTime64(3, 'UTC'),
      credential String,
      scanner String,
      venue String,
      transport LowCardinality(String)
    )
    ENGINE = MergeTree
    PARTITION BY toYYYYMMDD(at)
    ORDER BY (at, credential)
    TTL toDateTime(at) + toIntervalDay(90)
    SETTINGS ttl_only_drop_parts = 1`,
  ],
};
