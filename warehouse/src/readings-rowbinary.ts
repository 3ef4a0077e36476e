import type { RowBinaryWriter } from './rowbinary-encoder.ts';
import type { StoredBatch } from './types.ts';

/**
 * The readings' RowBinary layout. Columns that are the same for every reading of a batch come
 * first, so they are encoded once per batch and copied for the other rows; the insert names the
 * columns, so this order need not follow the table's. LowCardinality(String) is a plain String on
 * the wire; DateTime64(3) is Int64 milliseconds (no time zone: an instant is an instant).
 */
export const READINGS_ROWBINARY_COLUMNS = [
  ['district', 'String'],
  ['subdistrict', 'String'],
  ['grid', 'String'],
  ['building', 'String'],
  ['device', 'String'],
  ['boot', 'UInt32'],
  ['seq', 'UInt32'],
  ['received_at', 'DateTime64(3)'],
  ['sensor', 'String'],
  ['metric', 'String'],
  ['ts', 'DateTime64(3)'],
  ['value', 'Float64'],
  ['alarm', 'Bool'],
  ['idx', 'UInt16'],
] as const;

/** The `structure` argument of `file(path, 'RowBinary', structure)`. */
export const READINGS_ROWBINARY_STRUCTURE = READINGS_ROWBINARY_COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ');

/** The column list of the INSERT, in wire order. */
export const READINGS_ROWBINARY_COLUMN_LIST = READINGS_ROWBINARY_COLUMNS.map(([n]) => n).join(', ');

/**
 * Encodes every reading of the batches into the writer (after a reset) and returns the bytes: a
 * view onto the writer's buffer, valid until its next use.
 */
export function encodeReadingsRowBinary(writer: RowBinaryWriter, batches: readonly StoredBatch[]): Buffer {
  writer.reset();
  for (const batch of batches) appendBatchRowBinary(writer, batch);
  return writer.view();
}

/**
 * Appends one batch's readings to the writer. `idx` is the reading's position in its batch, so
 * (device, boot, seq, idx) names one reading.
 */
export function appendBatchRowBinary(writer: RowBinaryWriter, batch: StoredBatch): void {
  const { readings, place } = batch;
  if (readings.length === 0) return;
  const prefixStart = writer.length;
  writer.string(place.district);
  writer.string(place.subdistrict);
  writer.string(place.grid);
  writer.string(place.building);
  writer.string(batch.device);
  writer.uint32(batch.boot);
  writer.uint32(batch.seq);
  writer.dateTime64Ms(batch.receivedAt);
  const prefixEnd = writer.length;
  for (let idx = 0; idx < readings.length; idx++) {
    const r = readings[idx]!;
    if (idx > 0) writer.repeat(prefixStart, prefixEnd);
    writer.string(r.sensor);
    writer.string(r.metric);
    writer.dateTime64Ms(r.ts);
    writer.float64(r.value);
    writer.bool(r.alarm === true);
    writer.uint16(idx);
  }
}
