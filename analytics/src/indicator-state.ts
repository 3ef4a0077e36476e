import type { IndicatorDefinition, IndicatorState, IndicatorThresholds } from './indicator-schema.ts';

/**
 * Maps a value to its state. Reaching a threshold counts: with `above`, a value equal to critical
 * is critical; with `below`, a value equal to critical is critical too.
 */
export function stateOf(
  value: number | null,
  thresholds: IndicatorThresholds | undefined,
  direction: IndicatorDefinition['direction'],
): IndicatorState {
  if (value === null || thresholds === undefined) return 'no_data';
  if (direction === 'above') {
    if (value >= thresholds.critical) return 'critical';
    if (value >= thresholds.warning) return 'warning';
    return 'normal';
  }
  if (value <= thresholds.critical) return 'critical';
  if (value <= thresholds.warning) return 'warning';
  return 'normal';
}
