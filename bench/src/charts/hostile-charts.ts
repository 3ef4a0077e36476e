/** The hostile scenario's attacks, its targets, and its charts from its figures. */
import type { Bar, Chart } from './chart-spec.ts';
import type { ChartSource } from './scenario-charts.ts';

/**
 * The attack windows of one round, in the order they run; a quiet window before the first and after
 * each. `none` is the control: a window like the others with no attack in it, judged against its
 * quiet neighbours the same way, so the report shows how far the machine alone moves the figures.
 * Each attack is judged by the median over the rounds of its window against the mean of the quiet
 * windows on either side (figures `<key>_p99_to_quiet` and so on): one 30 s phase against its two
 * neighbours was not judgeable here, since with every attack switched off those ratios came out at
 * up to 1.64× and an RSS growth 24 MiB beyond the neighbours (bench/profiles/2026-12-07-hostile-all-quiet).
 */
export const HOSTILE_ATTACKS = [
  { key: 'none', label: 'no attack (control)' },
  { key: 'oversized_connect', label: 'oversized CONNECT' },
  { key: 'oversized_publish', label: 'oversized PUBLISH, logged in' },
  { key: 'idle_one_address', label: 'idle sockets, one address' },
  { key: 'idle_many_addresses', label: 'idle sockets, many addresses' },
  { key: 'slowloris', label: 'slowloris CONNECT' },
  { key: 'failed_logins', label: 'failed logins, many addresses' },
] as const;

export type HostileAttackKey = (typeof HOSTILE_ATTACKS)[number]['key'];

/** Issue 15: the gateway's rate and PUBACK p99 within this factor of the quiet baseline; the broker's RSS within this growth. */
export const HOSTILE_RATIO_TARGET = 1.2;
export const HOSTILE_RSS_GROWTH_TARGET_MIB = 50;

function perAttack(source: ChartSource, suffix: string): Bar[] {
  return HOSTILE_ATTACKS.flatMap(({ key, label }) => {
    const v = source.figures[`${key}_${suffix}`];
    return v === undefined || !Number.isFinite(v) ? [] : [{ label, value: v, role: 'ours' as const }];
  });
}

export function hostileCharts(source: ChartSource): Chart[] {
  const p99 = perAttack(source, 'p99_to_quiet');
  const rate = perAttack(source, 'rate_to_quiet');
  const rss = perAttack(source, 'broker_rss_growth_beyond_quiet_mib').map((b) => ({ ...b, value: Math.max(0, b.value) }));
  const heap = perAttack(source, 'broker_heap_growth_mib');
  const charts: Chart[] = [];
  if (p99.length > 0) {
    charts.push({ kind: 'bars', title: "Hostile: the legitimate gateway's PUBACK p99, attack window / its quiet neighbours (median over the rounds)", unit: '×', bars: [...p99, { label: 'target', value: HOSTILE_RATIO_TARGET, role: 'target' }] });
  }
  if (rate.length > 0) {
    charts.push({ kind: 'bars', title: "Hostile: the legitimate gateway's acknowledged rate, attack window / its quiet neighbours (median)", unit: '×', bars: [...rate, { label: 'target (at least)', value: 1 / HOSTILE_RATIO_TARGET, role: 'target' }] });
  }
  if (rss.length > 0 || heap.length > 0) {
    const bars = [...rss.map((b) => ({ ...b, label: `${b.label}: RSS beyond quiet (median)` })), ...heap.map((b) => ({ ...b, label: `${b.label}: V8 heap (largest)` }))];
    charts.push({ kind: 'bars', title: "Hostile: the broker's memory growth in an attack window", unit: 'MiB', bars: [...bars, { label: 'target', value: HOSTILE_RSS_GROWTH_TARGET_MIB, role: 'target' }] });
  }
  return charts;
}
