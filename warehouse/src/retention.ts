import type { Backend } from './backend.ts';
import { formatDateTime64Utc } from './datetime64-text.ts';
import { warehouseErrors } from './errors.ts';

/** How the readings TTL reads back from system.tables (a bound parameter would show as `_CAST(n, …)`). */
const READINGS_TTL = /TTL toDateTime\(ts\) \+ toIntervalDay\((?:_CAST\()?(\d+)/;

export interface RetentionChange {
  /** The retention found on the table, or undefined when its TTL had another shape. */
  readonly fromDays: number | undefined;
  readonly toDays: number;
}

/** The retention in days the readings table currently applies, if it has our TTL. */
export async function readRetentionDays(backend: Backend): Promise<number | undefined> {
  const rows = await backend.query<{ engine_full: string }>(
    'SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {table:String}',
    { table: 'readings' },
  );
  const engine = rows[0]?.engine_full;
  if (engine === undefined) throw warehouseErrors.WAREHOUSE_ERR_MIGRATION('table readings does not exist; run with migrate: true');
  const match = READINGS_TTL.exec(engine);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Makes the readings TTL say `days`. Retention is configuration, not a schema version: when the
 * table's TTL differs, MODIFY TTL is applied (ClickHouse then re-evaluates existing parts, so a
 * shorter retention drops old data) and the change is logged in `schema_changes`.
 */
export async function applyRetention(backend: Backend, days: number, now: () => number): Promise<RetentionChange | undefined> {
  if (!Number.isSafeInteger(days) || days < 1) throw warehouseErrors.WAREHOUSE_ERR_CONFIG(`retentionDays must be a positive integer, got ${days}`);
  const fromDays = await readRetentionDays(backend);
  if (fromDays === days) return undefined;
  // DDL is the one place the value is written into the text: servers before 25.x do not substitute
  // parameters in ALTER (ClickHouse#76756), and `days` is a schema-validated integer.
  await backend.command(`ALTER TABLE readings MODIFY TTL toDateTime(ts) + toIntervalDay(${days})`);
  await backend.insertJsonRows('schema_changes', [
    {
      changed_at: formatDateTime64Utc(now()),
      object: 'readings',
      change: 'MODIFY TTL',
      detail: `retention ${fromDays === undefined ? 'unknown' : fromDays} -> ${days} days`,
    },
  ]);
  return { fromDays, toDays: days };
}
