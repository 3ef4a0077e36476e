import type { HierarchyLevel } from '@cityops/protocol';
import { levelColumns, PLACE_COLUMNS, type PlaceColumn } from './hierarchy-levels.ts';
import type { IndicatorDefinition } from './indicator-schema.ts';
import type { WindowSpan } from './indicator-windows.ts';
import type { BuiltQuery } from './reading-indicator-sql.ts';

/** The fields a verifications indicator may match on: columns of verification_events_1m. */
const MATCH_FIELDS = ['verdict', 'reason', 'kind'] as const;

export interface VerificationQueryInput {
  readonly match: IndicatorDefinition['match'];
  readonly level: HierarchyLevel;
  readonly prefix: readonly string[];
  readonly span: WindowSpan;
}

export type VerificationValueRow = { readonly w: number; readonly samples: number; readonly matched: number } & Partial<Record<PlaceColumn, string>>;
export type ScannerPlaceRow = Partial<Record<PlaceColumn, string>>;

/**
 * A verdict's place is its scanner's place in the device registry (the verifier records the
 * scanner id, not a place). Events from scanners the registry does not know count for the city
 * only. The registry is small: a hash join against it is cheap.
 */
const SCANNER_PLACES = `SELECT id, ${PLACE_COLUMNS.join(', ')} FROM devices FINAL WHERE kind = 'scanner'`;

function placeFilter(prefix: readonly string[], level: HierarchyLevel): { sql: string; params: Record<string, string> } {
  const conditions: string[] = [];
  const params: Record<string, string> = {};
  prefix.forEach((segment, i) => {
    conditions.push(`${PLACE_COLUMNS[i]!} = {p${i}:String}`);
    params[`p${i}`] = segment;
  });
  const depth = levelColumns(level).length;
  // Below the city a place must be known: the deepest column of the level is not empty.
  if (depth > 0) conditions.push(`${PLACE_COLUMNS[depth - 1]!} != ''`);
  return { sql: conditions.map((c) => ` AND ${c}`).join(''), params };
}

/** Events and matching events per window and place, from the per-minute verification rollup. */
export function verificationValuesQuery(input: VerificationQueryInput): BuiltQuery {
  const group = levelColumns(input.level);
  const place = placeFilter(input.prefix, input.level);
  const matchParams: Record<string, readonly string[]> = {};
  const matchConditions: string[] = [];
  for (const field of MATCH_FIELDS) {
    const values = input.match?.[field];
    if (values === undefined) continue;
    matchConditions.push(`${field} IN {m_${field}:Array(String)}`);
    matchParams[`m_${field}`] = values;
  }
  const matched = matchConditions.length === 0 ? 'sum(events)' : `sumIf(events, ${matchConditions.join(' AND ')})`;
  const keys = ['w', ...group].join(', ');
  const { span } = input;
  const sql =
    `SELECT ${[keys, 'sum(events) AS samples', `${matched} AS matched`].join(', ')} FROM (` +
    `SELECT intDiv(toInt64(toUnixTimestamp(v.minute)) - {start:Int64}, {len:UInt32}) AS w, v.events AS events, ` +
    `v.verdict AS verdict, v.reason AS reason, v.kind AS kind${group.map((c) => `, d.${c} AS ${c}`).join('')} ` +
    `FROM verification_events_1m AS v LEFT JOIN (${SCANNER_PLACES}) AS d ON v.scanner = d.id ` +
    "WHERE v.minute >= toDateTime({start:Int64}, 'UTC') AND v.minute < toDateTime({end:Int64}, 'UTC')" +
    `) WHERE 1${place.sql} GROUP BY ${keys}`;
  return {
    sql,
    params: {
      ...place.params,
      ...matchParams,
      start: span.startMs / 1000,
      end: (span.startMs + span.count * span.lengthMs) / 1000,
      len: span.lengthMs / 1000,
    },
  };
}

/** Places at the level with a registered scanner: the places a drill-down lists, with or without events. */
export function scannerPlacesQuery(level: HierarchyLevel, prefix: readonly string[]): BuiltQuery {
  const group = levelColumns(level);
  const place = placeFilter(prefix, level);
  const columns = group.length === 0 ? "'' AS district" : group.join(', ');
  return { sql: `SELECT DISTINCT ${columns} FROM (${SCANNER_PLACES}) WHERE 1${place.sql}`, params: place.params };
}
