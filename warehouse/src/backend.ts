import type { PackedBatch, PackedReadings, QueryParams, StoredBatch } from './types.ts';

/**
 * What the two stores (embedded chDB, a ClickHouse server) do differently. Everything else (the
 * Warehouse API, migrations, retention, SQL) is written once on top. Every method rejects with a
 * coded warehouse error only.
 */
export interface Backend {
  readonly kind: 'chdb' | 'server';
  query<T>(sql: string, params?: QueryParams): Promise<T[]>;
  command(sql: string, params?: QueryParams): Promise<void>;
  /** JSONEachRow insert; `columns` names the columns when some are EPHEMERAL or defaulted. */
  insertJsonRows(table: string, rows: readonly Record<string, unknown>[], columns?: readonly string[]): Promise<void>;
  /** One batch's readings in this backend's insert format; throws WAREHOUSE_ERR_ARGUMENT for a value outside its column. */
  packReadings(batch: StoredBatch): PackedReadings;
  /** The caller is done with `data` (stored, never retried): its memory may serve a later packReadings. */
  releaseReadings(data: PackedReadings): void;
  /** All readings of the packed batches as one insert (one block), deduplicated on retry by `dedupToken`. */
  insertReadings(batches: readonly PackedBatch[], rows: number, dedupToken: string): Promise<void>;
  /** Resolves when the store answers a query with these credentials. */
  ping(): Promise<void>;
  /** Releases the connection. Called once, after every operation has settled. */
  close(): Promise<void>;
}
