import { protocolErrors } from './errors.ts';

/**
 * A place in the city's hierarchy below the municipality: district, sub-district (or town), grid
 * and, optionally, a community or building. Written as `district/subdistrict/grid[/building]`.
 */
export interface Place {
  readonly district: string;
  readonly subdistrict: string;
  readonly grid: string;
  /** Empty when the device is placed at grid level. */
  readonly building: string;
}

export const HIERARCHY_LEVELS = ['city', 'district', 'subdistrict', 'grid', 'building'] as const;
export type HierarchyLevel = (typeof HIERARCHY_LEVELS)[number];

const SEGMENT = /^[a-z0-9][a-z0-9-]{0,47}$/;

export function parsePlace(text: string): Place {
  const parts = text.split('/');
  if (parts.length < 3 || parts.length > 4 || !parts.every((p) => SEGMENT.test(p))) {
    throw protocolErrors.PROTOCOL_ERR_PLACE_INVALID(JSON.stringify(text));
  }
  const [district, subdistrict, grid, building = ''] = parts as [string, string, string, string?];
  return { district, subdistrict, grid, building };
}

export function formatPlace(place: Place): string {
  const base = `${place.district}/${place.subdistrict}/${place.grid}`;
  return place.building === '' ? base : `${base}/${place.building}`;
}
