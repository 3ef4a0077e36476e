import { isCityopsError } from '@cityops/protocol';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend.ts';
import { warehouseErrors } from '../src/errors.ts';
import type { Migration } from '../src/migrations/migration.ts';
import { MIGRATIONS } from '../src/migrations/migrations.ts';
import { runMigrations } from '../src/migrations/run-migrations.ts';

/** A backend that records statements and keeps schema_migrations rows in memory. */
function fakeBackend(fail?: (sql: string) => Error | undefined) {
  const statements: string[] = [];
  const recorded: { version: number; name: string; applied_at: string }[] = [];
  const backend: Backend = {
    kind: 'chdb',
    query<T>(sql: string): Promise<T[]> {
      if (sql.includes('FROM schema_migrations')) return Promise.resolve(recorded.map((r) => ({ version: r.version })) as T[]);
      return Promise.resolve([]);
    },
    command(sql) {
      const err = fail?.(sql);
      if (err !== undefined) return Promise.reject(err);
      statements.push(sql);
      return Promise.resolve();
    },
    insertJsonRows(table, rows) {
      if (table === 'schema_migrations') recorded.push(...(rows as typeof recorded));
      return Promise.resolve();
    },
    packReadings: () => ({ format: 'rowbinary', bytes: Buffer.alloc(0) }),
    releaseReadings: () => undefined,
    insertReadings: () => Promise.resolve(),
    ping: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  return { backend, statements, recorded };
}

const m = (version: number, name: string, ...statements: string[]): Migration => ({ version, name, statements });

describe('runMigrations', () => {
  it('applies pending migrations in order, records each, and skips recorded ones', async () => {
    const { backend, statements, recorded } = fakeBackend();
    const list = [m(1, 'one', 'CREATE 1a', 'CREATE 1b'), m(2, 'two', 'CREATE 2')];
    expect(await runMigrations(backend, list, () => 0)).toEqual([
      { version: 1, name: 'one' },
      { version: 2, name: 'two' },
    ]);
    expect(statements.filter((s) => !s.includes('schema_migrations'))).toEqual(['CREATE 1a', 'CREATE 1b', 'CREATE 2']);
    expect(recorded).toEqual([
      { version: 1, name: 'one', applied_at: '1970-01-01 00:00:00.000' },
      { version: 2, name: 'two', applied_at: '1970-01-01 00:00:00.000' },
    ]);
    statements.length = 0;
    expect(await runMigrations(backend, [...list, m(3, 'three', 'CREATE 3')], () => 0)).toEqual([{ version: 3, name: 'three' }]);
    expect(statements.filter((s) => !s.includes('schema_migrations'))).toEqual(['CREATE 3']);
  });

  it('refuses a list whose versions do not rise', async () => {
    const { backend, statements } = fakeBackend();
    const err: unknown = await runMigrations(backend, [m(2, 'b', 'X'), m(2, 'c', 'Y')], () => 0).catch((e: unknown) => e);
    expect(isCityopsError(err, 'WAREHOUSE_ERR_MIGRATION')).toBe(true);
    expect(statements).toEqual([]);
  });

  it('stops at a rejected statement with WAREHOUSE_ERR_MIGRATION and does not record it', async () => {
    const rejected = warehouseErrors.WAREHOUSE_ERR_QUERY('ClickHouse code 62: Syntax error');
    const { backend, recorded } = fakeBackend((sql) => (sql === 'BROKEN' ? rejected : undefined));
    const err: unknown = await runMigrations(backend, [m(1, 'ok', 'FINE'), m(2, 'bad', 'BROKEN'), m(3, 'later', 'NEVER')], () => 0).catch(
      (e: unknown) => e,
    );
    expect(isCityopsError(err, 'WAREHOUSE_ERR_MIGRATION')).toBe(true);
    expect((err as Error).message).toContain('migration 2 bad');
    expect((err as Error).cause).toBe(rejected);
    expect(recorded.map((r) => r.version)).toEqual([1]);
  });

  it('lets an unavailable store through as it is', async () => {
    const down = warehouseErrors.WAREHOUSE_ERR_UNAVAILABLE('connect ECONNREFUSED');
    const { backend } = fakeBackend((sql) => (sql === 'CREATE 1' ? down : undefined));
    await expect(runMigrations(backend, [m(1, 'one', 'CREATE 1')], () => 0)).rejects.toBe(down);
  });

  it('ships migrations with rising versions and idempotent statements', () => {
    expect(MIGRATIONS.map((x) => x.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    // Each statement can run twice: created or added only if missing, or a setting set to a fixed value.
    for (const x of MIGRATIONS) {
      for (const s of x.statements) {
        expect(s).toMatch(/^(CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS |ALTER TABLE \w+ ADD (COLUMN|INDEX) IF NOT EXISTS |ALTER TABLE \w+ MODIFY SETTING \w+ = \w+$)/);
      }
    }
  });
});
