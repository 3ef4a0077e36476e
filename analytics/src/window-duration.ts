const UNIT_SECONDS = { m: 60, h: 3600, d: 86_400 } as const;

/** A window or look-back length: a whole number of minutes, hours or days (`5m`, `1h`, `1d`). */
export const DURATION_PATTERN = '^[1-9][0-9]{0,3}[mhd]$';

/** Seconds in a duration that matched DURATION_PATTERN; always a whole number of minutes. */
export function durationSeconds(text: string): number {
  const unit = text.slice(-1) as keyof typeof UNIT_SECONDS;
  return Number(text.slice(0, -1)) * UNIT_SECONDS[unit];
}
