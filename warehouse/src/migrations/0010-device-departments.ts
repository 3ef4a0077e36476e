import type { Migration } from './migration.ts';

/**
 * A department's console (device kind `console`) is bound to the departments whose alert topics it
 * may read (`cityops/v1/alerts/{department}`); other kinds have none. Rows written before this
 * migration read as an empty list.
 */
export const deviceDepartmentsMigration: Migration = {
  version: 10,
  name: 'add_device_departments',
  statements: ['ALTER TABLE devices ADD COLUMN IF NOT EXISTS departments Array(String) DEFAULT []'],
};
