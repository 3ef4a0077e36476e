import type { HierarchyLevel } from '@cityops/protocol';
import type { IndicatorEngine } from '../indicator-engine.ts';
import { cityOverview, type CityOverview } from './city-overview.ts';

/**
 * One overview computation per (level, place) per `ttlMs`, however many pages ask: every open page
 * re-reads its drill-down on each snapshot, and one overview is an evaluation of every indicator at
 * that level (~0.3 s for the 16 districts). At most `maxEntries` keys; the oldest goes first.
 */
export function createOverviewCache(engine: IndicatorEngine, ttlMs: number, maxEntries: number, now: () => number) {
  const entries = new Map<string, { at: number; value: Promise<CityOverview> }>();
  return {
    get(level: HierarchyLevel, place: string): Promise<CityOverview> {
      const key = `${level}:${place}`;
      const t = now();
      const hit = entries.get(key);
      if (hit !== undefined && t - hit.at < ttlMs) return hit.value;
      entries.delete(key);
      const value = cityOverview(engine, level, place, t);
      entries.set(key, { at: t, value });
      // A failure is not kept: the next request tries again.
      value.catch(() => {
        if (entries.get(key)?.value === value) entries.delete(key);
      });
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
      return value;
    },
  };
}
