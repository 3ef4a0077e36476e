/** The hostile scenario's phases, its targets, and its charts from its figures. */
import type { Bar, Chart } from './chart-spec.ts';
import type { ChartSource } from './scenario-charts.ts';

/** The phases in the order they run, each as long as the others; figures are `<key>_puback_p99_ms` and so on. */
export const HOSTILE_PHASES = [
  { key: 'quiet', label: 'quiet (baseline)' },
  { key: 'oversized_connect', label: 'oversized CONNECT' },
  { key: 'oversized_publish', label: 'oversized PUBLISH, logged in' },
  { key: 'idle_one_address', label: 'idle sockets, one address' },
  { key: 'idle_many_addresses', label: 'idle sockets, many addresses' },
  { key: 'slowloris', label: 'slowloris CONNECT' },
  { key: 'failed_logins', label: 'failed logins, many addresses' },
  { key: 'recovery', label: 'quiet again' },
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

export function hostileCharts(source: ChartSource): Chart[] {
  const quietP99 = source.figures.quiet_puback_p99_ms;
  const quietRate = source.figures.quiet_acked_batches_per_second;
  const p99 = perPhase(source, 'puback_p99_ms');
  const rate = perPhase(source, 'acked_batches_per_second');
  const growth = perPhase(source, 'broker_rss_growth_mib');
  const target = (label: string, value: number | undefined): Bar[] => (value === undefined || !(value > 0) ? [] : [{ label, value, role: 'target' }]);
  const charts: Chart[] = [];
  if (p99.length > 1) {
    charts.push({ kind: 'bars', title: "Hostile: the legitimate gateway's PUBACK p99 in each phase", unit: 'ms', bars: [...p99, ...target(`target: ${HOSTILE_RATIO_TARGET} × quiet`, quietP99 === undefined ? undefined : HOSTILE_RATIO_TARGET * quietP99)] });
  }
  if (rate.length > 1) {
    charts.push({ kind: 'bars', title: "Hostile: the legitimate gateway's acknowledged batches/s in each phase", unit: 'batches/s', bars: [...rate, ...target(`target: quiet / ${HOSTILE_RATIO_TARGET}`, quietRate === undefined ? undefined : quietRate / HOSTILE_RATIO_TARGET)] });
  }
  if (growth.length > 0) {
    charts.push({ kind: 'bars', title: "Hostile: the broker's RSS growth within each phase (highest sample − phase start)", unit: 'MiB', bars: [...growth, ...target('target', HOSTILE_RSS_GROWTH_TARGET_MIB)] });
  }
  return charts;
}
