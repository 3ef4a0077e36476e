const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A rule duration: `0s`, `500ms`, `30s`, `2m`, `1h`, `1d`. */
export const RULE_DURATION_PATTERN = '^(0|[1-9][0-9]{0,5})(ms|s|m|h|d)$';

/** Milliseconds in a duration that matched RULE_DURATION_PATTERN. */
export function ruleDurationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (match === null) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}
