/** Numbers as a reader wants them on a chart or in a table: grouped thousands, few digits. */

function group(integer: string): string {
  return integer.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * 508112 → `508,112`; 20.25 → `20.3`; 0.5271 → `0.53`; 0.004 → `0.004`. Deterministic (no locale).
 */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(value);
  let digits: number;
  if (abs >= 100 || Number.isInteger(abs)) digits = 0;
  else if (abs >= 10) digits = 1;
  else if (abs >= 0.1) digits = 2;
  else digits = Math.min(6, 1 - Math.floor(Math.log10(abs))); // two significant digits
  const fixed = abs.toFixed(digits);
  const [integer = '0', fraction] = fixed.split('.');
  const trimmed = fraction?.replace(/0+$/, '') ?? '';
  const out = trimmed === '' ? group(integer) : `${group(integer)}.${trimmed}`;
  return out === '0' ? '0' : `${sign}${out}`;
}

/** A ratio: `0.43×`, `2.6×`. */
export function formatRatio(ratio: number): string {
  return `${formatNumber(Number(ratio.toFixed(ratio >= 10 ? 0 : 2)))}×`;
}
