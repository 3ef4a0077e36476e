import type { HierarchyLevel } from '@cityops/protocol';
import type { IndicatorEngine, IndicatorEvaluation, PlaceValue } from '../indicator-engine.ts';
import type { IndicatorState } from '../indicator-schema.ts';

/** Worse first; a suppressed cell says nothing about the place, like no data. */
const RANK: Readonly<Record<IndicatorState, number>> = { critical: 3, warning: 2, normal: 1, no_data: 0, suppressed: 0 };

export interface IndicatorMark {
  readonly indicator: string;
  readonly title: string;
  readonly unit: string;
  readonly state: IndicatorState;
  readonly value: number | null;
  /** The value is the current window's so far (the last complete one had no data), over `samples`. */
  readonly partial?: true;
  readonly samples?: number | null;
}

export interface PlaceOverview {
  readonly place: string;
  /** The worst state over the indicators computed at this level. */
  readonly state: IndicatorState;
  /** Indicators in warning or critical, worst first. */
  readonly marks: readonly IndicatorMark[];
  readonly counts: Readonly<Record<'critical' | 'warning' | 'normal' | 'no_data', number>>;
  /** Indicators whose state here is the current window's so far (the last complete one had no data); absent: none. */
  readonly partial?: number;
}

export interface CityOverview {
  readonly level: HierarchyLevel;
  readonly place: string;
  readonly at: number;
  readonly places: readonly PlaceOverview[];
}

/**
 * The value an indicator shows at each place: the last complete window's, or where that has no data
 * (a city that just started, a sensor back after a gap) the current window's so far, marked partial.
 * Complete first, so a place with data does not flicker with every new reading of a young window.
 */
function shownValues(result: IndicatorEvaluation): Map<string, PlaceValue & { partial?: true }> {
  const shown = new Map<string, PlaceValue & { partial?: true }>();
  for (const p of result.windows[result.windows.length - 1]?.places ?? []) shown.set(p.place, p);
  for (const p of result.current?.places ?? []) {
    const complete = shown.get(p.place);
    if (p.state !== 'no_data' && (complete === undefined || complete.state === 'no_data')) shown.set(p.place, { ...p, partial: true });
  }
  return shown;
}

/**
 * Every place at `level` under `place`, coloured by its worst indicator state (shownValues), from the
 * indicator engine (one evaluation per indicator that has the level, its current window in the same query).
 */
export async function cityOverview(engine: IndicatorEngine, level: HierarchyLevel, place: string, at: number): Promise<CityOverview> {
  const defs = engine.definitions.filter((d) => (d.levels as readonly string[]).includes(level));
  // No `at`: the engine's clock is the same as the cache's, and only a request reaching now gets the current window.
  const results = await Promise.all(defs.map((d) => engine.evaluate({ name: d.name, level, place, partial: true })));
  const byPlace = new Map<string, { marks: IndicatorMark[]; counts: Record<'critical' | 'warning' | 'normal' | 'no_data', number>; worst: IndicatorState; partial: number }>();
  results.forEach((result, i) => {
    const def = defs[i]!;
    for (const p of shownValues(result).values()) {
      let entry = byPlace.get(p.place);
      if (entry === undefined) {
        entry = { marks: [], counts: { critical: 0, warning: 0, normal: 0, no_data: 0 }, worst: 'no_data', partial: 0 };
        byPlace.set(p.place, entry);
      }
      entry.counts[p.state === 'suppressed' ? 'no_data' : p.state]++;
      if (p.partial === true) entry.partial++;
      if (RANK[p.state] > RANK[entry.worst]) entry.worst = p.state;
      if (p.state === 'warning' || p.state === 'critical') {
        const partial = p.partial === true ? { partial: true as const, samples: p.samples } : {};
        entry.marks.push({ indicator: def.name, title: def.title, unit: def.unit, state: p.state, value: p.value, ...partial });
      }
    }
  });
  const places = [...byPlace.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([p, e]) => ({ place: p, state: e.worst, counts: e.counts, ...(e.partial > 0 ? { partial: e.partial } : {}), marks: e.marks.sort((a, b) => RANK[b.state] - RANK[a.state]) }));
  return { level, place, at, places };
}
