import { formatDateTime64Utc } from './datetime64-text.ts';
import type { StoredBatch } from './types.ts';

/** One `readings` row for JSONEachRow inserts (the server backend, and the benchmark's JSON path). */
// A type alias, not an interface: it must fit Record<string, unknown> for the insert calls.
export type ReadingJsonRow = {
  readonly district: string;
  readonly subdistrict: string;
  readonly grid: string;
  readonly building: string;
  readonly device: string;
  readonly sensor: string;
  readonly metric: string;
  readonly ts: string;
  readonly value: number;
  readonly alarm: boolean;
  readonly boot: number;
  readonly seq: number;
  readonly idx: number;
  readonly received_at: string;
};

export function readingsToJsonRows(batches: readonly StoredBatch[]): ReadingJsonRow[] {
  const rows: ReadingJsonRow[] = [];
  for (const batch of batches) {
    const { place } = batch;
    const receivedAt = formatDateTime64Utc(batch.receivedAt);
    batch.readings.forEach((r, idx) => {
      rows.push({
        district: place.district,
        subdistrict: place.subdistrict,
        grid: place.grid,
        building: place.building,
        device: batch.device,
        sensor: r.sensor,
        metric: r.metric,
        ts: formatDateTime64Utc(r.ts),
        value: r.value,
        alarm: r.alarm === true,
        boot: batch.boot,
        seq: batch.seq,
        idx,
        received_at: receivedAt,
      });
    });
  }
  return rows;
}
