/**
 * What a scenario asks the report to draw. Declarative, so the JSON report carries it and the
 * README generator can draw it again from a committed report.
 */

/** Whose figure a bar is: ours, a peer's (mosquitto, chDB), a physical limit, or a target we set. */
export type BarRole = 'ours' | 'peer' | 'limit' | 'target';

export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly role: BarRole;
  /** For a target: the label of the bar it applies to (otherwise every bar of ours). */
  readonly of?: string;
}

/** Horizontal bars on one axis in one unit: ours beside a peer, a limit or a target. */
export interface BarChart {
  readonly kind: 'bars';
  readonly title: string;
  /** The axis's unit, e.g. `readings/s`, `ms`, `MiB`. */
  readonly unit: string;
  readonly bars: readonly Bar[];
}

export interface LineSeries {
  readonly label: string;
  /** One value per `x`; a missing sample is `null` (the line breaks there). */
  readonly values: readonly (number | null)[];
}

/** A horizontal line across a line chart (a target). */
export interface ReferenceLine {
  readonly label: string;
  readonly value: number;
}

/** Series over time (or another numeric x) in one unit. */
export interface LineChart {
  readonly kind: 'lines';
  readonly title: string;
  readonly unit: string;
  /** The x axis's label with its unit, e.g. `time since start (s)`. */
  readonly xLabel: string;
  readonly x: readonly number[];
  readonly series: readonly LineSeries[];
  readonly references?: readonly ReferenceLine[];
}

export type Chart = BarChart | LineChart;
