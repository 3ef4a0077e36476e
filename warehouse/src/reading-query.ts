import { warehouseErrors } from './errors.ts';
import type { QueryParams, ReadingQuery, ReadingRow } from './types.ts';

const MAX_TS = 253402300799999;

/** A readings row as the SELECT below returns it (64-bit integers may arrive as strings). */
interface RawReadingRow {
  device: string;
  sensor: string;
  metric: string;
  ts_ms: number | string;
  value: number | string;
  alarm: boolean | number;
  district: string;
  subdistrict: string;
  grid: string;
  building: string;
  boot: number | string;
  seq: number | string;
  idx: number | string;
}

function checkMs(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0 || value > MAX_TS)) {
    throw warehouseErrors.WAREHOUSE_ERR_ARGUMENT(`${name} must be milliseconds since the epoch, got ${value}`);
  }
}

/**
 * The SQL and parameters for queryReadings. Only fixed fragments enter the text; every value is a
 * `{name:Type}` parameter. The order is ts, device, sensor, then the reading key as a tiebreaker.
 */
export function buildReadingQuery(query: ReadingQuery, maxRows: number): { sql: string; params: QueryParams } {
  if (!Number.isSafeInteger(query.limit) || query.limit < 1 || query.limit > maxRows) {
    throw warehouseErrors.WAREHOUSE_ERR_ARGUMENT(`limit must be an integer from 1 to ${maxRows}, got ${query.limit}`);
  }
  checkMs('from', query.from);
  checkMs('to', query.to);
  const where: string[] = [];
  const params: Record<string, string | number> = { limit: query.limit };
  if (query.device !== undefined) {
    where.push('device = {device:String}');
    params.device = query.device;
  }
  if (query.metric !== undefined) {
    where.push('metric = {metric:String}');
    params.metric = query.metric;
  }
  if (query.from !== undefined) {
    where.push("ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')");
    params.from = query.from;
  }
  if (query.to !== undefined) {
    where.push("ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')");
    params.to = query.to;
  }
  const sql =
    'SELECT device, sensor, metric, toUnixTimestamp64Milli(ts) AS ts_ms, value, alarm, ' +
    'district, subdistrict, grid, building, boot, seq, idx FROM readings' +
    (where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`) +
    ' ORDER BY ts, device, sensor, boot, seq, idx LIMIT {limit:UInt32}';
  return { sql, params };
}

export function toReadingRow(raw: RawReadingRow): ReadingRow {
  return {
    device: raw.device,
    sensor: raw.sensor,
    metric: raw.metric,
    ts: Number(raw.ts_ms),
    value: Number(raw.value),
    alarm: raw.alarm === true || raw.alarm === 1,
    district: raw.district,
    subdistrict: raw.subdistrict,
    grid: raw.grid,
    building: raw.building,
    boot: Number(raw.boot),
    seq: Number(raw.seq),
    idx: Number(raw.idx),
  };
}

export type { RawReadingRow };
