import type { QueryParams } from '@cityops/warehouse';
import type { HierarchyLevel } from '@cityops/protocol';
import { levelColumns, PLACE_COLUMNS, type PlaceColumn } from './hierarchy-levels.ts';
import type { IndicatorAggregation } from './indicator-schema.ts';
import type { WindowSpan } from './indicator-windows.ts';
import { ABOVE_WATERMARK, ROLLUP_AGGREGATES, ROLLUP_MERGES, type RollupColumn } from './rollup-sql.ts';

/** The rollup columns each readings aggregation needs (always `samples`, for minSamples and the answer). */
const NEEDS: Readonly<Record<IndicatorAggregation, readonly RollupColumn[]>> = {
  avg: ['samples', 'value_sum'],
  rate: ['samples', 'value_sum'],
  min: ['samples', 'value_min'],
  max: ['samples', 'value_max'],
  count: ['samples'],
  p95: ['samples', 'value_quantiles'],
  share_of_sensors_reporting: ['samples', 'sensors'],
  share: ['samples'],
};

export interface ReadingQueryInput {
  readonly metric: string;
  readonly aggregation: IndicatorAggregation;
  readonly level: HierarchyLevel;
  /** Place path segments that must match, coarsest first; never deeper than the level. */
  readonly prefix: readonly string[];
  readonly span: WindowSpan;
  /** Readings blocks at or below this are in the rollups (the job's last finished range). */
  readonly lo: number;
  /**
   * Days (YYYYMMDD) whose rollup partition holds more: a run that committed some of its days and
   * not yet its `done` mark. There, blocks up to the value are in the rollups too.
   */
  readonly dayLo?: ReadonlyMap<number, number>;
}

export interface BuiltQuery {
  readonly sql: string;
  readonly params: QueryParams;
}

/** Row of the values query: window index, place columns, merged aggregates, newest block seen per day. */
export type ReadingValueRow = {
  readonly w: number;
  /** maxMap result: [days (YYYYMMDD), newest rollup block of each]; day 0 is the raw tail. */
  readonly hi_by_day: readonly [readonly number[], readonly number[]];
} & Partial<Record<RollupColumn | PlaceColumn, number | string>>;

function joinList(items: readonly string[]): string {
  return items.join(', ');
}

/** Equality on the prefix's place columns (names from the whitelist, values as parameters). */
function placeFilter(prefix: readonly string[], level: HierarchyLevel): { sql: string; params: Record<string, string> } {
  const conditions: string[] = [];
  const params: Record<string, string> = {};
  prefix.forEach((segment, i) => {
    conditions.push(`${PLACE_COLUMNS[i]!} = {p${i}:String}`);
    params[`p${i}`] = segment;
  });
  // Devices placed at grid level have no building: at building level they are no place.
  if (level === 'building') conditions.push("building != ''");
  return { sql: conditions.map((c) => ` AND ${c}`).join(''), params };
}

function commonParams(input: ReadingQueryInput, extra: Record<string, string>): QueryParams {
  const { span } = input;
  const dayLo = [...(input.dayLo ?? new Map<number, number>()).entries()];
  return {
    ...extra,
    days: dayLo.map(([day]) => day),
    day_los: dayLo.map(([, lo]) => lo),
    metric: input.metric,
    start: span.startMs / 1000,
    end: (span.startMs + span.count * span.lengthMs) / 1000,
    len: span.lengthMs / 1000,
    lo: input.lo,
  };
}

/**
 * Values per window and place: the rollup rows of the windows, plus the readings the rollup job has
 * not reached (blocks above `lo`, or above a day's own bound) aggregated into the same states,
 * merged together. Windows are whole minutes, so a reading's window is its minute's window.
 * `hi_by_day` lets the caller check that no rollup row covers blocks beyond the bound it assumed
 * for its day (the job committed meanwhile: the halves may overlap, read again).
 */
export function readingValuesQuery(input: ReadingQueryInput): BuiltQuery {
  const group = levelColumns(input.level);
  const needs = NEEDS[input.aggregation];
  const place = placeFilter(input.prefix, input.level);
  const windowOf = (time: string) => `intDiv(toInt64(toUnixTimestamp(${time})) - {start:Int64}, {len:UInt32}) AS w`;
  const rollupBranch =
    `SELECT ${joinList([windowOf('minute'), ...group, ...needs, 'toUInt32(toYYYYMMDD(minute)) AS day', 'hi_block'])} FROM readings_1m ` +
    "WHERE metric = {metric:String} AND minute >= toDateTime({start:Int64}, 'UTC') AND minute < toDateTime({end:Int64}, 'UTC')" +
    place.sql;
  const tailBranch =
    `SELECT ${joinList([windowOf('ts'), ...group, ...needs.map((c) => `${ROLLUP_AGGREGATES[c]} AS ${c}`), 'toUInt32(0) AS day', 'toUInt64(0) AS hi_block'])} ` +
    `FROM readings WHERE ${ABOVE_WATERMARK} ` +
    'AND _block_number > transform(toUInt32(toYYYYMMDD(ts)), {days:Array(UInt32)}, {day_los:Array(UInt64)}, {lo:UInt64}) ' +
    "AND metric = {metric:String} AND ts >= toDateTime({start:Int64}, 'UTC') AND ts < toDateTime({end:Int64}, 'UTC')" +
    place.sql +
    ` GROUP BY ${joinList(['w', ...group])}`;
  const sql =
    `SELECT ${joinList(['w', ...group, ...needs.map((c) => `${ROLLUP_MERGES[c]} AS ${c}`), 'maxMap([day], [hi_block]) AS hi_by_day'])} ` +
    `FROM (${rollupBranch} UNION ALL ${tailBranch}) GROUP BY ${joinList(['w', ...group])}`;
  return { sql, params: commonParams(input, place.params) };
}

/** The newest block the rollup rows of the query's metric, windows and places cover, per day. */
export function rollupDaysQuery(input: ReadingQueryInput): BuiltQuery {
  const place = placeFilter(input.prefix, input.level);
  const sql =
    'SELECT toUInt32(toYYYYMMDD(minute)) AS day, max(hi_block) AS hi FROM readings_1m ' +
    "WHERE metric = {metric:String} AND minute >= toDateTime({start:Int64}, 'UTC') AND minute < toDateTime({end:Int64}, 'UTC')" +
    `${place.sql} GROUP BY day`;
  return { sql, params: commonParams(input, place.params) };
}

/** Row of the known-sensors query: window index (or 0 for every window), place columns, sensors known. */
export type KnownSensorsRow = { readonly w: number; readonly known: number } & Partial<Record<PlaceColumn, string>>;

/**
 * Sensors known per place: first seen before a window's end, last seen at most `knownWithinS`
 * before it. With `perWindow` (the share of sensors reporting divides by it) the count is per
 * window and includes the readings the job has not reached, so a sensor new since the last run
 * counts as known where it counts as reporting. Without, one row per place with a sensor known in
 * any window, from sensor_presence alone (one table read less): the places a drill-down lists with
 * or without data. A place whose every sensor is newer than the last run shows up there once the
 * job has run; with data in the window it is listed anyway.
 */
export function knownSensorsQuery(input: ReadingQueryInput, knownWithinS: number, perWindow: boolean): BuiltQuery {
  const group = levelColumns(input.level);
  const place = placeFilter(input.prefix, input.level);
  const sensorKey = [...PLACE_COLUMNS, 'device', 'sensor'];
  const presence =
    `SELECT ${joinList([...sensorKey, 'first_seen', 'last_seen'])} FROM sensor_presence WHERE metric = {metric:String}${place.sql}` +
    (perWindow
      ? ` UNION ALL SELECT ${joinList([...sensorKey, 'min(ts) AS first_seen', 'max(ts) AS last_seen'])} FROM readings ` +
        `WHERE ${ABOVE_WATERMARK} AND metric = {metric:String}${place.sql} GROUP BY ${joinList(sensorKey)}`
      : '');
  const sensors = `SELECT ${joinList([...sensorKey, 'min(first_seen) AS f', 'max(last_seen) AS l'])} FROM (${presence}) GROUP BY ${joinList(sensorKey)}`;
  const windowEnd = '({start:Int64} + (w + 1) * {len:UInt32})';
  const sql = perWindow
    ? `SELECT ${joinList(['w', ...group, 'count() AS known'])} FROM (${sensors}) ARRAY JOIN range({windows:UInt32}) AS w ` +
      `WHERE f < toDateTime64(${windowEnd}, 3, 'UTC') AND l >= toDateTime64(${windowEnd} - {known:UInt32}, 3, 'UTC') ` +
      `GROUP BY ${joinList(['w', ...group])}`
    : `SELECT ${joinList(['0 AS w', ...group, 'count() AS known'])} FROM (${sensors}) ` +
      "WHERE f < toDateTime64({end:Int64}, 3, 'UTC') AND l >= toDateTime64({start:Int64} + {len:UInt32} - {known:UInt32}, 3, 'UTC')" +
      (group.length === 0 ? '' : ` GROUP BY ${joinList(group)}`);
  return { sql, params: { ...commonParams(input, place.params), known: knownWithinS, windows: input.span.count } };
}
