import type { Migration } from './migration.ts';

/**
 * Ratings of handled alerts (issue 23): a rating is an `alert_events` row of type `rated`, its
 * comment in `feedback` and its channel in `actor` (`rater:screen`, `rater:link`, `rater:console`:
 * never the rater's identity). These columns say what it was: `rating` good or bad, and
 * `rating_stage` the stage it rates (resolved or closed); both '' on every other row. A bad rating
 * that does not reopen the case adds a `flagged` row whose `flagged_for` names the supervising
 * department the escalation rules chose.
 */
export const alertRatingsMigration: Migration = {
  version: 14,
  name: 'add_alert_ratings',
  statements: [
    "ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS rating LowCardinality(String) DEFAULT ''",
    "ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS rating_stage LowCardinality(String) DEFAULT ''",
    "ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS flagged_for LowCardinality(String) DEFAULT ''",
  ],
};
