import type { HierarchyLevel } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import { analyticsErrors } from './errors.ts';
import { levelColumns, levelDepth, parsePlacePrefix, type PlaceColumn } from './hierarchy-levels.ts';
import { thresholdsAt } from './indicator-definitions.ts';
import type { IndicatorDefinition, IndicatorState } from './indicator-schema.ts';
import { stateOf } from './indicator-state.ts';
import { windowsFor, withCurrentWindow, type WindowSpan } from './indicator-windows.ts';
import {
  knownSensorsQuery,
  readingValuesQuery,
  rollupDaysQuery,
  type KnownSensorsRow,
  type ReadingQueryInput,
  type ReadingValueRow,
} from './reading-indicator-sql.ts';
import { readRollupProgress, rolledUpThrough } from './rollup-progress.ts';
import { READINGS_ROLLUP_JOB } from './rollup-sql.ts';
import {
  scannerPlacesQuery,
  verificationValuesQuery,
  type ScannerPlaceRow,
  type VerificationValueRow,
} from './verification-indicator-sql.ts';
import { durationSeconds } from './window-duration.ts';

export interface IndicatorRequest {
  readonly name: string;
  readonly level: HierarchyLevel;
  /** Place path prefix (`pudong`, `pudong/pudong-s01`); empty or absent: the whole city. */
  readonly place?: string | undefined;
  /** One window: the last complete one ending at or before `at` (default: now). */
  readonly at?: number | undefined;
  /** A series: every complete window from the one holding `from` up to `to` (default: now). */
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  /**
   * Also the current, incomplete window (`current` in the answer) when the request reaches now: no
   * `at`, and a series `to` absent or not before now. @default false
   */
  readonly partial?: boolean | undefined;
}

export interface PlaceValue {
  /** `district[/subdistrict[/grid[/building]]]`; empty for the city. */
  readonly place: string;
  /** null when the window has no data at the place (state no_data) or the cell is suppressed. */
  readonly value: number | null;
  readonly state: IndicatorState;
  /** Readings (or verification events) in the window at the place; null when suppressed. */
  readonly samples: number | null;
  /** share_of_sensors_reporting only: the sensors known at the place (the denominator). */
  readonly sensorsKnown?: number;
}

export interface WindowValues {
  /** Window start and end (exclusive), ms since the epoch. */
  readonly from: number;
  readonly to: number;
  /** Every place at the level under the requested place that has sensors (or scanners), by path. */
  readonly places: readonly PlaceValue[];
}

/** The window that has not ended yet: values so far, over `samples` up to `asOf`; they still change. */
export interface PartialWindowValues extends WindowValues {
  readonly partial: true;
  /** The time the values were read at (now); `to` is when the window will end. */
  readonly asOf: number;
}

export interface IndicatorEvaluation {
  readonly indicator: string;
  readonly level: HierarchyLevel;
  readonly place: string;
  /** Complete windows only: a value here no longer changes for lack of time passed. */
  readonly windows: readonly WindowValues[];
  /** Asked for with `partial` and the request reaches now. */
  readonly current?: PartialWindowValues;
}

export interface IndicatorEngineDeps {
  readonly warehouse: Warehouse;
  readonly now?: () => number;
  /** Bound on the windows of one series. @default 1440 */
  readonly maxWindows?: number;
  /** Called when a read overlapped a rollup commit and was repeated. */
  readonly onRetry?: () => void;
  /**
   * Where the rollups end: every readings block at or below it is rolled up (a lower value is
   * safe, only slower). @default read from rollup_progress on every evaluation
   */
  readonly rolledUpThrough?: () => Promise<number>;
  /**
   * Privacy: a verification cell of fewer events than this (the window's events for `share`, the
   * matching events for `count` and `rate`) is suppressed. @default 5
   */
  readonly minCell?: number;
}

export interface IndicatorEngine {
  readonly definitions: readonly IndicatorDefinition[];
  definition(name: string): IndicatorDefinition | undefined;
  /**
   * The indicator at a level, for every place there under `place`, at one time or as a series.
   * Values come from the per-minute rollups plus the readings the rollup job has not reached, so
   * they equal the same aggregate over the raw readings at every moment.
   */
  evaluate(request: IndicatorRequest): Promise<IndicatorEvaluation>;
}

/** A read that overlapped a rollup commit is repeated; the job commits for milliseconds every few seconds. */
const MAX_ATTEMPTS = 5;

/** Per-window, per-place numbers before they become a value. */
interface Cell {
  samples: number;
  value: number | null;
  known?: number;
  suppressed?: boolean;
}

function placeOf(row: Partial<Record<PlaceColumn, string | number>>, columns: readonly PlaceColumn[]): string {
  return columns.map((c) => String(row[c] ?? '')).join('/');
}

/**
 * Seconds each window of the span has lasted by `now`: its length, except the current one, which has
 * lasted since its start (a rate over the part that passed, not diluted by the part to come).
 */
function secondsOf(span: WindowSpan, now: number): (w: number) => number {
  return (w) => Math.max(1, Math.min(span.lengthMs, now - (span.startMs + w * span.lengthMs)) / 1000);
}

/** Finishes a readings aggregation from the merged columns of one window and place. */
function readingValue(def: IndicatorDefinition, row: ReadingValueRow, windowSeconds: number): number | null {
  const samples = Number(row.samples ?? 0);
  if (samples === 0) return null;
  switch (def.aggregation) {
    case 'avg':
      return Number(row.value_sum) / samples;
    case 'rate':
      return Number(row.value_sum) / windowSeconds;
    case 'min':
      return Number(row.value_min);
    case 'max':
      return Number(row.value_max);
    case 'count':
      return samples;
    case 'p95':
      return Number(row.value_quantiles);
    default:
      return null;
  }
}

export function createIndicatorEngine(definitions: readonly IndicatorDefinition[], deps: IndicatorEngineDeps): IndicatorEngine {
  const { warehouse } = deps;
  const now = deps.now ?? Date.now;
  const maxWindows = deps.maxWindows ?? 1440;
  const minCell = deps.minCell ?? 5;
  const byName = new Map(definitions.map((d) => [d.name, d]));
  const watermark = deps.rolledUpThrough ?? (async () => rolledUpThrough(await readRollupProgress(warehouse, READINGS_ROLLUP_JOB)));

  /**
   * Rollup + raw tail. The tail starts above the job's last finished range; where a run has
   * committed a day's part but not its `done` mark (running now, or failed and waiting for its
   * redo), the tail starts above that part's blocks for that day. A read that sees rollup rows
   * beyond the bound it assumed overlapped a commit: it is read again with the bounds that commit
   * set. Exact at every moment, with no lock between the job and the readers.
   */
  async function readingCells(def: IndicatorDefinition, input: Omit<ReadingQueryInput, 'lo' | 'dayLo'>) {
    const share = def.aggregation === 'share_of_sensors_reporting';
    let dayLo: Map<number, number> | undefined;
    for (let attempt = 1; ; attempt++) {
      const lo = await watermark();
      if (dayLo !== undefined) {
        const days = rollupDaysQuery({ ...input, lo });
        const rows = await warehouse.query<{ day: number; hi: number }>(days.sql, days.params);
        dayLo = new Map(rows.filter((r) => Number(r.hi) > lo).map((r) => [Number(r.day), Number(r.hi)]));
      }
      const full: ReadingQueryInput = { ...input, lo, ...(dayLo === undefined ? {} : { dayLo }) };
      const values = readingValuesQuery(full);
      const known = knownSensorsQuery(full, durationSeconds(def.knownWithin), share);
      const [valueRows, knownRows] = await Promise.all([
        warehouse.query<ReadingValueRow>(values.sql, values.params),
        warehouse.query<KnownSensorsRow>(known.sql, known.params),
      ]);
      // Known sensors need no such check: presence is min/max, a sensor counted twice is one sensor.
      const bound = dayLo;
      const overlapped = valueRows.some((r) =>
        r.hi_by_day[0].some((day, i) => day !== 0 && Number(r.hi_by_day[1][i]) > (bound?.get(Number(day)) ?? lo)),
      );
      if (!overlapped) return { valueRows, knownRows };
      if (attempt >= MAX_ATTEMPTS) throw analyticsErrors.ANALYTICS_ERR_ROLLUP_BUSY(`${def.name} after ${attempt} reads`);
      deps.onRetry?.();
      dayLo ??= new Map();
    }
  }

  async function readingWindows(def: IndicatorDefinition, level: HierarchyLevel, prefix: readonly string[], span: WindowSpan, windowSeconds: (w: number) => number) {
    const columns = levelColumns(level);
    const { valueRows, knownRows } = await readingCells(def, { metric: def.metric ?? '', aggregation: def.aggregation, level, prefix, span });
    const cells = Array.from({ length: span.count }, () => new Map<string, Cell>());
    const share = def.aggregation === 'share_of_sensors_reporting';
    // Places with known sensors are listed in every window (per window for the share), with data or not.
    for (const row of knownRows) {
      const place = placeOf(row, columns);
      const targets = share ? [cells[Number(row.w)]] : cells;
      for (const map of targets) map?.set(place, { samples: 0, value: share ? 0 : null, known: Number(row.known) });
    }
    for (const row of valueRows) {
      const map = cells[Number(row.w)];
      if (map === undefined) continue;
      const place = placeOf(row, columns);
      const cell = map.get(place) ?? { samples: 0, value: null };
      cell.samples = Number(row.samples ?? 0);
      if (share) {
        const reporting = Number(row.sensors ?? 0);
        cell.value = cell.known !== undefined && cell.known > 0 ? reporting / cell.known : null;
      } else {
        cell.value = readingValue(def, row, windowSeconds(Number(row.w)));
      }
      map.set(place, cell);
    }
    return cells;
  }

  async function verificationWindows(def: IndicatorDefinition, level: HierarchyLevel, prefix: readonly string[], span: WindowSpan, windowSeconds: (w: number) => number) {
    const columns = levelColumns(level);
    const values = verificationValuesQuery({ match: def.match, level, prefix, span });
    const places = scannerPlacesQuery(level, prefix);
    const [valueRows, placeRows] = await Promise.all([
      warehouse.query<VerificationValueRow>(values.sql, values.params),
      level === 'city' ? Promise.resolve([{}] as ScannerPlaceRow[]) : warehouse.query<ScannerPlaceRow>(places.sql, places.params),
    ]);
    const cells = Array.from({ length: span.count }, () => new Map<string, Cell>());
    for (const row of placeRows) {
      const place = placeOf(row, columns);
      for (const map of cells) map.set(place, { samples: 0, value: null });
    }
    for (const row of valueRows) {
      const map = cells[Number(row.w)];
      if (map === undefined) continue;
      const samples = Number(row.samples);
      const matched = Number(row.matched);
      const value =
        samples === 0 ? null : def.aggregation === 'share' ? matched / samples : def.aggregation === 'rate' ? matched / windowSeconds(Number(row.w)) : matched;
      // A small cell says something about a few people (2 forgeries at one door in 5 minutes).
      const cellSize = def.aggregation === 'share' ? samples : matched;
      const suppressed = cellSize > 0 && cellSize < minCell;
      map.set(placeOf(row, columns), suppressed ? { samples, value: null, suppressed } : { samples, value });
    }
    return cells;
  }

  return {
    definitions,
    definition: (name) => byName.get(name),
    async evaluate(request) {
      const def = byName.get(request.name);
      if (def === undefined) throw analyticsErrors.ANALYTICS_ERR_INDICATOR_UNKNOWN(JSON.stringify(request.name));
      const { level } = request;
      if (!(def.levels as readonly string[]).includes(level)) {
        throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID(`${def.name} is computed at ${def.levels.join(', ')}, not ${level}`);
      }
      const place = request.place ?? '';
      const prefix = parsePlacePrefix(place);
      if (prefix.length > levelDepth(level)) {
        throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID(`place ${place} is below the ${level} level; ask for a finer level or a shorter place`);
      }
      const t = now();
      const complete = windowsFor(request, durationSeconds(def.window), t, maxWindows);
      // The current window is read in the same query as the complete ones, as one more window.
      const span = request.partial === true ? withCurrentWindow(request, complete, t) : { ...complete, partial: 0 };
      const seconds = secondsOf(span, t);
      const cells =
        span.count === 0
          ? []
          : def.source === 'verifications'
            ? await verificationWindows(def, level, prefix, span, seconds)
            : await readingWindows(def, level, prefix, span, seconds);
      const thresholds = thresholdsAt(def, level);
      const share = def.aggregation === 'share_of_sensors_reporting';
      // Too few samples to judge is no_data, except for the share of sensors reporting: none
      // reporting is its worst value, not a lack of data.
      const stateFor = (cell: Cell): IndicatorState =>
        cell.suppressed === true
          ? 'suppressed'
          : cell.samples < def.minSamples && !(share && cell.value !== null)
            ? 'no_data'
            : stateOf(cell.value, thresholds, def.direction);
      const windows = cells.map((map, k) => ({
        from: span.startMs + k * span.lengthMs,
        to: span.startMs + (k + 1) * span.lengthMs,
        places: [...map.entries()]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([path, cell]): PlaceValue => ({
            place: path,
            value: cell.value,
            state: stateFor(cell),
            samples: cell.suppressed === true ? null : cell.samples,
            ...(share && cell.known !== undefined ? { sensorsKnown: cell.known } : {}),
          })),
      }));
      if (span.partial === 0) return { indicator: def.name, level, place, windows };
      const current = windows.pop()!;
      return { indicator: def.name, level, place, windows, current: { ...current, partial: true, asOf: t } };
    },
  };
}
