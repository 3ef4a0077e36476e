import type { Warehouse } from '@cityops/warehouse';
import { AUDIT_TABLE } from './audit-writer.ts';

/** How the TTL reads back from system.tables (a bound parameter shows as `_CAST(n, 'UInt32')`). */
const AUDIT_TTL = /TTL toDateTime\(at\) \+ toIntervalDay\((?:_CAST\()?(\d+)/;

/**
 * Makes verification_events keep `days` days: audit retention is configuration, not a schema
 * version. When the table's TTL differs, MODIFY TTL is applied (ClickHouse re-evaluates existing
 * parts, so a shorter retention drops old events) and logged in schema_changes. Returns the
 * previous retention when it changed it.
 */
export async function applyAuditRetention(warehouse: Warehouse, days: number, now: number): Promise<number | undefined> {
  const rows = await warehouse.query<{ engine_full: string }>(
    'SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {table:String}',
    { table: AUDIT_TABLE },
  );
  const engine = rows[0]?.engine_full;
  if (engine === undefined) throw new Error(`table ${AUDIT_TABLE} does not exist: open the warehouse with migrate: true`);
  const match = AUDIT_TTL.exec(engine);
  const fromDays = match === null ? undefined : Number(match[1]);
  if (fromDays === days) return undefined;
  await warehouse.command(`ALTER TABLE ${AUDIT_TABLE} MODIFY TTL toDateTime(at) + toIntervalDay({days:UInt32})`, { days });
  await warehouse.insertRows('schema_changes', [
    {
      changed_at: new Date(now).toISOString().replace('T', ' ').replace('Z', ''),
      object: AUDIT_TABLE,
      change: 'MODIFY TTL',
      detail: `retention ${fromDays ?? 'unknown'} -> ${days} days`,
    },
  ]);
  return fromDays ?? 0;
}
