import { HIERARCHY_LEVELS, type HierarchyLevel } from '@cityops/protocol';
import { analyticsErrors } from './errors.ts';

/**
 * The place columns of `readings` and the rollups, coarsest first. These names are the only
 * identifiers a query takes from outside its own text, and they come from here, never a request.
 */
export const PLACE_COLUMNS = ['district', 'subdistrict', 'grid', 'building'] as const;
export type PlaceColumn = (typeof PLACE_COLUMNS)[number];

/** How many place columns name a place at each level: the city is 0, a building 4. */
export function levelDepth(level: HierarchyLevel): number {
  return HIERARCHY_LEVELS.indexOf(level);
}

/** The place columns that identify a place at `level` (none for the city). */
export function levelColumns(level: HierarchyLevel): readonly PlaceColumn[] {
  return PLACE_COLUMNS.slice(0, levelDepth(level));
}

export function isHierarchyLevel(text: string): text is HierarchyLevel {
  return (HIERARCHY_LEVELS as readonly string[]).includes(text);
}

/** One segment of a place path, as protocol's parsePlace accepts it. */
const SEGMENT = /^[a-z0-9][a-z0-9-]{0,47}$/;

/**
 * A place prefix: `pudong`, `pudong/pudong-s01`, … up to a building. Empty text is the whole city.
 * Returns the segments, which bind to the place columns in order.
 */
export function parsePlacePrefix(text: string): readonly string[] {
  if (text === '') return [];
  const segments = text.split('/');
  if (segments.length > PLACE_COLUMNS.length || !segments.every((s) => SEGMENT.test(s))) {
    throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID(
      `place ${JSON.stringify(text)} must be district[/subdistrict[/grid[/building]]], each segment 1-48 characters of a-z 0-9 -`,
    );
  }
  return segments;
}
