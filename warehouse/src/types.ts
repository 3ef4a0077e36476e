import type { Place, Reading } from '@cityops/protocol';

/** One accepted telemetry batch with what the server adds: the device, its place, the arrival time. */
export interface StoredBatch {
  readonly device: string;
  readonly place: Place;
  readonly boot: number;
  readonly seq: number;
  /** Milliseconds since the epoch when ingest accepted the batch. */
  readonly receivedAt: number;
  readonly readings: readonly Reading[];
}

/**
 * A batch already encoded in the store's insert format (`Warehouse.pack`): RowBinary bytes for the
 * embedded store, rows for a server. A writer that holds many batches keeps these instead of the
 * readings' objects, so what waits for an insert is compact and off the JS heap, and the decoded
 * objects die young. The key (device, boot, seq) and size stay readable.
 */
export interface PackedBatch {
  readonly device: string;
  readonly boot: number;
  readonly seq: number;
  readonly rows: number;
  readonly data: PackedReadings;
}

export type PackedReadings =
  | { readonly format: 'rowbinary'; readonly bytes: Buffer }
  | { readonly format: 'json'; readonly rows: readonly Record<string, unknown>[] };

/** A payload ingest could not accept, kept with its raw bytes and the reason. */
export interface DeadLetter {
  readonly receivedAt: number;
  readonly device: string;
  readonly topic: string;
  /** An error code, e.g. PROTOCOL_ERR_SCHEMA. */
  readonly reason: string;
  readonly detail: string;
  readonly payload: Uint8Array;
}

/** A stored reading as the API returns it. */
export interface ReadingRow {
  readonly device: string;
  readonly sensor: string;
  readonly metric: string;
  /** Milliseconds since the epoch. */
  readonly ts: number;
  readonly value: number;
  readonly alarm: boolean;
  readonly district: string;
  readonly subdistrict: string;
  readonly grid: string;
  readonly building: string;
  readonly boot: number;
  readonly seq: number;
  /** Position of the reading in its batch: (device, boot, seq, idx) names one reading. */
  readonly idx: number;
}

export interface ReadingQuery {
  readonly device?: string;
  readonly metric?: string;
  /** Inclusive lower bound on `ts`, ms since the epoch. */
  readonly from?: number;
  /** Exclusive upper bound on `ts`, ms since the epoch. */
  readonly to?: number;
  readonly limit: number;
}

/** Query parameters, bound server-side as `{name:Type}` placeholders; never spliced into SQL. */
export type QueryParams = Readonly<Record<string, string | number | boolean | readonly (string | number)[]>>;

export interface Warehouse {
  readonly backend: 'chdb' | 'server';
  /**
   * Inserts telemetry batches as one insert (one block: one part per day touched), in the backend's
   * fastest format. Retrying the same batches after a failure writes nothing twice.
   */
  insertBatches(batches: readonly StoredBatch[]): Promise<void>;
  /** Encodes one batch for `insertPacked` (RangeError-free: a value outside its column is WAREHOUSE_ERR_ARGUMENT). */
  pack(batch: StoredBatch): PackedBatch;
  /** insertBatches for batches packed by this warehouse: one insert, deduplicated on retry the same way. */
  insertPacked(batches: readonly PackedBatch[]): Promise<void>;
  /**
   * The caller is done with these batches (stored, never to be inserted again): the memory of their
   * packed bytes is reused by later `pack` calls. Not releasing is safe (the garbage collector takes
   * them); releasing bytes still to be inserted is not.
   */
  release(batches: readonly PackedBatch[]): void;
  insertDeadLetters(letters: readonly DeadLetter[]): Promise<void>;
  /** Low-volume inserts of plain rows (registry, events) through JSONEachRow. */
  insertRows(table: string, rows: readonly Record<string, unknown>[]): Promise<void>;
  queryReadings(query: ReadingQuery): Promise<ReadingRow[]>;
  /** A parameterised SELECT; rows as JSONEachRow objects. */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]>;
  /** A parameterised statement with no result (DDL, ALTER, OPTIMIZE). */
  command(sql: string, params?: QueryParams): Promise<void>;
  ping(): Promise<void>;
  /** Idempotent; waits for work in flight. */
  close(): Promise<void>;
}
