import { readingsMigration } from './0001-readings.ts';
import { deadLettersMigration } from './0002-dead-letters.ts';
import { devicesMigration } from './0003-devices.ts';
import { schemaChangesMigration } from './0004-schema-changes.ts';
import { verificationEventsMigration } from './0005-verification-events.ts';
import { rollupsMigration } from './0006-rollups.ts';
import { alertEventsMigration } from './0007-alert-events.ts';
import { verificationEventIdsMigration } from './0008-verification-event-ids.ts';
import { auditReadsMigration } from './0009-audit-reads.ts';
import { deviceDepartmentsMigration } from './0010-device-departments.ts';
import { credentialFlagsMigration } from './0011-credential-flags.ts';
import { deviceSensorsMigration } from './0012-device-sensors.ts';
import { deviceConfigsMigration } from './0013-device-configs.ts';
import { alertRatingsMigration } from './0014-alert-ratings.ts';
import type { Migration } from './migration.ts';

/** Every migration, in version order. Append only. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  readingsMigration,
  deadLettersMigration,
  devicesMigration,
  schemaChangesMigration,
  verificationEventsMigration,
  rollupsMigration,
  alertEventsMigration,
  verificationEventIdsMigration,
  auditReadsMigration,
  deviceDepartmentsMigration,
  credentialFlagsMigration,
  deviceSensorsMigration,
  deviceConfigsMigration,
  alertRatingsMigration,
]);
