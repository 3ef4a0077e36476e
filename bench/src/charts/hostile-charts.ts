/** The hostile scenario's phases, its targets, and its charts from its figures. */
import type { Bar, Chart } from './chart-spec.ts';
import type { ChartSource } from './scenario-charts.ts';

/**
 * The phases in the order they run, each as long as the others; figures are `<key>_puback_p99_ms`
 * and so on. Every attack sits between two quiet phases, and is judged against them: the store
 * under the broker grows through the run (5 million readings), and a quiet p99 of 9 ms at the start
 * was 20 ms at the end of one run (bench/results/2026-12-06T14-01-30Z.md), so one baseline at the
 * start made the later attacks look worse than they were.
 */
export const HOSTILE_PHASES = [
  { key: 'quiet', label: 'quiet (baseline)', quiet: true },
  { key: 'oversized_connect', label: 'oversized CONNECT', quiet: false },
  { key: 'quiet_2', label: 'quiet 2', quiet: true },
  { key: 'oversized_publish', label: 'oversized PUBLISH, logged in', quiet: false },
  { key: 'quiet_3', label: 'quiet 3', quiet: true },
  { key: 'idle_one_address', label: 'idle sockets, one address', quiet: false },
  { key: 'quiet_4', label: 'quiet 4', quiet: true },
  { key: 'idle_many_addresses', label: 'idle sockets, many addresses', quiet: false },
  { key: 'quiet_5', label: 'quiet 5', quiet: true },
  { key: 'slowloris', label: 'slowloris CONNECT', quiet: false },
  { key: 'quiet_6', label: 'quiet 6', quiet: true },
  { key: 'failed_logins', label: 'failed logins, many addresses', quiet: false },
  { key: 'recovery', label: 'quiet again', quiet: true },
] as const;

export type HostilePhaseKey = (typeof HOSTILE_PHASES)[number]['key'];

/** Issue 15: the gateway's rate and PUBACK p99 within this factor of the quiet baseline; the broker's RSS within this growth. */
export const HOSTILE_RATIO_TARGET = 1.2;
export const HOSTILE_RSS_GROWTH_TARGET_MIB = 50;

function perPhase(source: ChartSource, suffix: string): Bar[] {
  return HOSTILE_PHASES.flatMap(({ key, label }) => {
    const v = source.figures[`${key}_${suffix}`];
    return v === undefined || !Number.isFinite(v) || v < 0 ? [] : [{ label, value: v, role: 'ours' as const }];
  });
}

function quietMean(source: ChartSource, suffix: string): number | undefined {
  const values = HOSTILE_PHASES.filter((p) => p.quiet)
    .map((p) => source.figures[`${p.key}_${suffix}`])
    .filter((v): v is number => v !== undefined && Number.isFinite(v) && v >= 0);
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length;
}

export function hostileCharts(source: ChartSource): Chart[] {
  // The targets drawn against the quiet phases' mean (each attack is judged against its own two).
  const quietP99 = quietMean(source, 'puback_p99_ms');
  const quietRate = quietMean(source, 'acked_batches_per_second');
  const p99 = perPhase(source, 'puback_p99_ms');
  const rate = perPhase(source, 'acked_batches_per_second');
  const growth = perPhase(source, 'broker_rss_growth_mib');
  const target = (label: string, value: number | undefined): Bar[] => (value === undefined || !(value > 0) ? [] : [{ label, value, role: 'target' }]);
  const charts: Chart[] = [];
  if (p99.length > 1) {
    charts.push({ kind: 'bars', title: "Hostile: the legitimate gateway's PUBACK p99 in each phase", unit: 'ms', bars: [...p99, ...target(`target: ${HOSTILE_RATIO_TARGET} × quiet (mean)`, quietP99 === undefined ? undefined : HOSTILE_RATIO_TARGET * quietP99)] });
  }
  if (rate.length > 1) {
    charts.push({ kind: 'bars', title: "Hostile: the legitimate gateway's acknowledged batches/s in each phase", unit: 'batches/s', bars: [...rate, ...target(`target: quiet (mean) / ${HOSTILE_RATIO_TARGET}`, quietRate === undefined ? undefined : quietRate / HOSTILE_RATIO_TARGET)] });
  }
  if (growth.length > 0) {
    charts.push({ kind: 'bars', title: "Hostile: the broker's RSS growth within each phase (highest sample − phase start)", unit: 'MiB', bars: [...growth, ...target("target: an attack's growth beyond its quiet neighbours'", HOSTILE_RSS_GROWTH_TARGET_MIB)] });
  }
  return charts;
}
