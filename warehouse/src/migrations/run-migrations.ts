import { isCityopsError } from '@cityops/protocol';
import type { Backend } from '../backend.ts';
import { formatDateTime64Utc } from '../datetime64-text.ts';
import { warehouseErrors } from '../errors.ts';
import type { Migration } from './migration.ts';

const CREATE_SCHEMA_MIGRATIONS = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version UInt32,
  name String,
  applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version`;

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
}

/** Checks the list is usable before touching the store: versions positive integers, strictly rising. */
export function checkMigrations(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.version) || m.version <= previous) {
      throw warehouseErrors.WAREHOUSE_ERR_MIGRATION(
        `migration ${JSON.stringify(m.name)} has version ${m.version}; versions must be integers above ${previous}`,
      );
    }
    if (m.statements.length === 0) throw warehouseErrors.WAREHOUSE_ERR_MIGRATION(`migration ${m.version} has no statements`);
    previous = m.version;
  }
}

/**
 * Applies, in order, every migration whose version is not yet in `schema_migrations`, recording
 * each one after its statements succeed. Returns the migrations applied by this call (none when the
 * schema is current). Failures of the store itself (unavailable, credentials) pass through as they
 * are; a statement the store rejects becomes WAREHOUSE_ERR_MIGRATION with that error as its cause.
 */
export async function runMigrations(
  backend: Backend,
  migrations: readonly Migration[],
  now: () => number,
): Promise<AppliedMigration[]> {
  checkMigrations(migrations);
  await backend.command(CREATE_SCHEMA_MIGRATIONS);
  // Two instances migrating at once may record a version twice; the statements are idempotent.
  const rows = await backend.query<{ version: number | string }>(
    'SELECT DISTINCT version FROM schema_migrations',
  );
  const done = new Set(rows.map((r) => Number(r.version)));
  const applied: AppliedMigration[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    try {
      for (const statement of m.statements) await backend.command(statement);
    } catch (err) {
      if (isCityopsError(err, 'WAREHOUSE_ERR_UNAVAILABLE') || isCityopsError(err, 'WAREHOUSE_ERR_AUTH')) throw err;
      throw warehouseErrors.WAREHOUSE_ERR_MIGRATION(
        `migration ${m.version} ${m.name}: ${err instanceof Error ? err.message : String(err)}`,
        err,
      );
    }
    await backend.insertJsonRows('schema_migrations', [
      { version: m.version, name: m.name, applied_at: formatDateTime64Utc(now()) },
    ]);
    applied.push({ version: m.version, name: m.name });
  }
  return applied;
}
