/** A linear axis from a data range: round bounds and 4–7 ticks at 1, 2 or 5 × 10^k. */

export interface AxisScale {
  readonly min: number;
  readonly max: number;
  readonly ticks: readonly number[];
  /** Data value → pixel between `from` and `to`. */
  position(value: number, from: number, to: number): number;
}

function niceStep(span: number, wanted: number): number {
  const raw = span / wanted;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const r = raw / magnitude;
  return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * magnitude;
}

/**
 * An axis covering `lo..hi` and 0 (bars and rates start at zero), widened to whole ticks; a `tight`
 * axis (time) ends at the data instead, its ticks inside.
 */
export function linearScale(lo: number, hi: number, wantedTicks = 5, tight = false): AxisScale {
  let min = Math.min(0, lo);
  let max = Math.max(0, hi);
  if (max === min) max = min + 1;
  const step = niceStep(max - min, wantedTicks);
  const first = Math.floor(min / step) * step;
  const last = tight ? Math.floor(max / step) * step : Math.ceil(max / step) * step;
  if (!tight) [min, max] = [first, last];
  const ticks: number[] = [];
  // Integer steps, so 0.1 + 0.2 does not become a tick of 0.30000000000000004.
  for (let i = 0; first + i * step <= last + step / 1e6; i++) ticks.push(Number((first + i * step).toPrecision(12)));
  return {
    min,
    max,
    ticks,
    position: (value, from, to) => from + ((value - min) / (max - min)) * (to - from),
  };
}
