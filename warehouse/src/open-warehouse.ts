import type { Backend } from './backend.ts';
import { openChdbBackend } from './chdb-backend.ts';
import { DEAD_LETTER_COLUMNS, deadLettersToJsonRows } from './dead-letter-rows.ts';
import { warehouseErrors } from './errors.ts';
import { insertDedupToken } from './insert-dedup-token.ts';
import { MIGRATIONS } from './migrations/migrations.ts';
import { runMigrations } from './migrations/run-migrations.ts';
import { buildReadingQuery, toReadingRow, type RawReadingRow } from './reading-query.ts';
import { applyRetention } from './retention.ts';
import { openServerBackend, type ClickhouseConnection } from './server-backend.ts';
import type { PackedBatch, StoredBatch, Warehouse } from './types.ts';
import { parseWarehouseConfig, type WarehouseConfig, type WarehouseConfigInput } from './warehouse-config.ts';

export interface WarehouseDeps {
  /** Clock for bookkeeping timestamps (migrations applied, schema changes). @default Date.now */
  readonly now?: () => number;
  /**
   * Server backend only: a @clickhouse/client Connection to use instead of HTTP to `url`, e.g.
   * chDB's `createChdbConnection()`, which runs the server code path against a current engine.
   */
  readonly serverConnection?: ClickhouseConnection;
}

/** Table names come from our code, never from a request: still, refuse anything but an identifier. */
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/**
 * Opens the warehouse: validates the config (all problems in one WAREHOUSE_ERR_CONFIG), connects,
 * checks the store answers with these credentials, then, unless `migrate: false`, applies pending
 * migrations and the configured retention. Rejects with WAREHOUSE_ERR_UNAVAILABLE / _AUTH when the
 * store cannot be used; nothing stays open then.
 */
export async function openWarehouse(config: WarehouseConfigInput, deps: WarehouseDeps = {}): Promise<Warehouse> {
  const cfg = parseWarehouseConfig(config);
  const now = deps.now ?? Date.now;
  const backend = cfg.backend === 'chdb' ? await openChdbBackend(cfg) : openServerBackend(cfg, deps.serverConnection);
  try {
    await backend.ping();
    if (cfg.migrate) {
      await runMigrations(backend, MIGRATIONS, now);
      await applyRetention(backend, cfg.retentionDays, now);
    }
  } catch (err) {
    await backend.close().catch(() => undefined);
    throw err;
  }
  return createWarehouse(backend, cfg);
}

function createWarehouse(backend: Backend, cfg: WarehouseConfig): Warehouse {
  const inFlight = new Set<Promise<unknown>>();
  let closing: Promise<void> | undefined;

  /** Every call goes through here: refused once close() began, tracked so close() can wait for it. */
  function track<T>(op: () => Promise<T>): Promise<T> {
    if (closing !== undefined) return Promise.reject(warehouseErrors.WAREHOUSE_ERR_CLOSED());
    // Through a microtask so a synchronous throw in op becomes a rejection like any other.
    const promise = Promise.resolve().then(op);
    inFlight.add(promise);
    const forget = () => inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  function checkTable(table: string): void {
    if (!TABLE_NAME.test(table)) throw warehouseErrors.WAREHOUSE_ERR_ARGUMENT(`invalid table name ${JSON.stringify(table)}`);
  }

  function pack(batch: StoredBatch): PackedBatch {
    return { device: batch.device, boot: batch.boot, seq: batch.seq, rows: batch.readings.length, data: backend.packReadings(batch) };
  }

  async function insertPacked(batches: readonly PackedBatch[]): Promise<void> {
    let rows = 0;
    for (const b of batches) rows += b.rows;
    if (rows === 0) return;
    if (rows > cfg.maxInsertRows) {
      throw warehouseErrors.WAREHOUSE_ERR_ARGUMENT(`${rows} readings in one insert exceed maxInsertRows ${cfg.maxInsertRows}`);
    }
    await backend.insertReadings(batches, rows, insertDedupToken(batches));
  }

  function release(batches: readonly PackedBatch[]): void {
    for (const b of batches) backend.releaseReadings(b.data);
  }

  return {
    backend: cfg.backend,
    insertBatches: (batches) =>
      track(async () => {
        const packed = batches.map(pack);
        await insertPacked(packed);
        release(packed);
      }),
    pack,
    insertPacked: (batches) => track(() => insertPacked(batches)),
    release,
    insertDeadLetters: (letters) =>
      track(async () => {
        if (letters.length === 0) return;
        await backend.insertJsonRows('dead_letters', deadLettersToJsonRows(letters), DEAD_LETTER_COLUMNS);
      }),
    insertRows: (table, rows) =>
      track(async () => {
        checkTable(table);
        if (rows.length === 0) return;
        await backend.insertJsonRows(table, rows);
      }),
    queryReadings: (query) =>
      track(async () => {
        const { sql, params } = buildReadingQuery(query, cfg.maxQueryRows);
        return (await backend.query<RawReadingRow>(sql, params)).map(toReadingRow);
      }),
    query: <T = Record<string, unknown>>(sql: string, params?: Parameters<Warehouse['query']>[1]) =>
      track(() => backend.query<T>(sql, params)),
    command: (sql, params) => track(() => backend.command(sql, params)),
    ping: () => track(() => backend.ping()),
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...inFlight]);
        await backend.close();
      })();
      return closing;
    },
  };
}
