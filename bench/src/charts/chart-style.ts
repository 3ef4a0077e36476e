/**
 * Colours and type for every chart: dark on white, each colour at least 4.5:1 against white
 * (WCAG AA for text), and lines also told apart by dash pattern, not colour alone.
 */
import type { BarRole } from './chart-spec.ts';

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
export const INK = '#1a1a1a';
export const MUTED_INK = '#4d4d4d';
export const GRID = '#d9d9d9';
export const BACKGROUND = '#ffffff';
export const TITLE_SIZE = 16;
export const TEXT_SIZE = 13;
/** Rough width of a character at TEXT_SIZE, for laying out labels without a font engine. */
export const CHAR_WIDTH = 7.2;

export const ROLE_STYLE: Readonly<Record<BarRole, { readonly fill: string; readonly legend: string }>> = {
  ours: { fill: '#1f4e79', legend: 'cityops' },
  peer: { fill: '#a84d00', legend: 'peer, same run' },
  limit: { fill: '#5c5c5c', legend: 'physical limit, same run' },
  target: { fill: '#2e6b1f', legend: 'target' },
};

/** Line series colours and dash patterns, in order; the pattern repeats with the colour. */
export const SERIES_STYLE: readonly { readonly stroke: string; readonly dash?: string }[] = [
  { stroke: '#1f4e79' },
  { stroke: '#a84d00', dash: '8 4' },
  { stroke: '#2e6b1f', dash: '2 3' },
  { stroke: '#7a2e8c', dash: '10 3 2 3' },
  { stroke: '#a11d2b', dash: '4 4' },
  { stroke: '#3d3d3d', dash: '12 6' },
];

export const REFERENCE_STROKE = '#a11d2b';
