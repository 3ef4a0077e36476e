import type { HierarchyLevel } from '@cityops/protocol';
import type { IndicatorEngine } from '../indicator-engine.ts';
import type { IndicatorState } from '../indicator-schema.ts';

/** Worse first; a suppressed cell says nothing about the place, like no data. */
const RANK: Readonly<Record<IndicatorState, number>> = { critical: 3, warning: 2, normal: 1, no_data: 0, suppressed: 0 };

export interface IndicatorMark {
  readonly indicator: string;
  readonly title: string;
  readonly unit: string;
  readonly state: IndicatorState;
  readonly value: number | null;
}

export interface PlaceOverview {
  readonly place: string;
  /** The worst state over the indicators computed at this level. */
  readonly state: IndicatorState;
  /** Indicators in warning or critical, worst first. */
  readonly marks: readonly IndicatorMark[];
  readonly counts: Readonly<Record<'critical' | 'warning' | 'normal' | 'no_data', number>>;
}

export interface CityOverview {
  readonly level: HierarchyLevel;
  readonly place: string;
  readonly at: number;
  readonly places: readonly PlaceOverview[];
}

/**
 * Every place at `level` under `place`, coloured by its worst indicator state in the last complete
 * window, from the indicator engine (one evaluation per indicator that has the level).
 */
export async function cityOverview(engine: IndicatorEngine, level: HierarchyLevel, place: string, at: number): Promise<CityOverview> {
  const defs = engine.definitions.filter((d) => (d.levels as readonly string[]).includes(level));
  const results = await Promise.all(defs.map((d) => engine.evaluate({ name: d.name, level, place, at })));
  const byPlace = new Map<string, { marks: IndicatorMark[]; counts: Record<'critical' | 'warning' | 'normal' | 'no_data', number>; worst: IndicatorState }>();
  results.forEach((result, i) => {
    const def = defs[i]!;
    const window = result.windows[result.windows.length - 1];
    for (const p of window?.places ?? []) {
      let entry = byPlace.get(p.place);
      if (entry === undefined) {
        entry = { marks: [], counts: { critical: 0, warning: 0, normal: 0, no_data: 0 }, worst: 'no_data' };
        byPlace.set(p.place, entry);
      }
      entry.counts[p.state === 'suppressed' ? 'no_data' : p.state]++;
      if (RANK[p.state] > RANK[entry.worst]) entry.worst = p.state;
      if (p.state === 'warning' || p.state === 'critical') {
        entry.marks.push({ indicator: def.name, title: def.title, unit: def.unit, state: p.state, value: p.value });
      }
    }
  });
  const places = [...byPlace.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([p, e]) => ({ place: p, state: e.worst, counts: e.counts, marks: e.marks.sort((a, b) => RANK[b.state] - RANK[a.state]) }));
  return { level, place, at, places };
}
