import type { Place } from '@cityops/protocol';
import type { StoredBatch, Warehouse } from '@cityops/warehouse';
import type { AlertSignal } from '../src/index.ts';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

/** A PM2.5 threshold signal for a grid, verified by the grid's 5-minute average over `windows` windows. */
export function pmSignal(grid: string, at: number, extra: Partial<AlertSignal> = {}): AlertSignal {
  const place = `pudong/pudong-s01/${grid}`;
  return {
    key: `pm25_grid:${place}`,
    rule: 'pm25_grid',
    kind: 'threshold',
    severity: 'critical',
    place,
    level: 'grid',
    metric: 'pm25',
    value: 182,
    threshold: 150,
    summary: 'PM2.5 avg 182 µg/m³ > 150 for 2m',
    at,
    observedAt: at - 500,
    verification: { by: 'indicator', indicator: 'pm25_avg', level: 'grid', place, windows: 2 },
    ...extra,
  };
}

/** One reading of `value` every 30 s in [from, to) at a grid of pudong-s01. */
export async function insertPm25(warehouse: Warehouse, grid: string, from: number, to: number, value: number): Promise<void> {
  const place: Place = { district: 'pudong', subdistrict: 'pudong-s01', grid, building: '' };
  const readings = [];
  for (let ts = from; ts < to; ts += 30_000) readings.push({ sensor: 'pm-1', metric: 'pm25', ts, value });
  const batch: StoredBatch = { device: `gw-${grid}`, place, boot: 1, seq: from / 1000, receivedAt: from, readings };
  await warehouse.insertBatches([batch]);
}
