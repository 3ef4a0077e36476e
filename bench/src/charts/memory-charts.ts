/** The memory scenario's charts, from its figures and its per-second samples. */
import type { BarChart, Chart, LineChart } from './chart-spec.ts';
import type { ChartSource } from './scenario-charts.ts';

/** The phases in the order they run; figures are `<phase>_rss_max_mib` and so on. */
export const MEMORY_PHASES = [
  { key: 'idle', label: 'idle' },
  { key: 'ingest', label: 'ingest at saturation' },
  { key: 'verify', label: 'verify (batch) at saturation' },
  { key: 'both', label: 'ingest and verify' },
  { key: 'slow', label: 'slow warehouse, ingest at saturation' },
  { key: 'after', label: 'warehouse fast again, load off' },
] as const;

export const MEMORY_TARGET_RSS_MIB = 1024;

function series(samples: readonly Readonly<Record<string, number>>[], key: string): (number | null)[] {
  return samples.map((s) => {
    const v = s[key];
    return v === undefined || !Number.isFinite(v) || v < 0 ? null : v;
  });
}

function lines(title: string, unit: string, samples: readonly Readonly<Record<string, number>>[], list: readonly (readonly [string, string])[], references: LineChart['references'] = []): LineChart[] {
  const present = list.filter(([, key]) => samples.some((s) => s[key] !== undefined));
  if (present.length === 0 || samples.length < 2) return [];
  return [
    {
      kind: 'lines',
      title,
      unit,
      xLabel: 'time since the idle phase began (s); phases in the notes',
      x: samples.map((s) => s.t_s ?? 0),
      series: present.map(([label, key]) => ({ label, values: series(samples, key) })),
      references,
    },
  ];
}

export function memoryCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  const samples = source.samples ?? [];
  const perPhase: BarChart['bars'] = MEMORY_PHASES.flatMap(({ key, label }) => {
    const v = f[`${key}_rss_max_mib`];
    return v === undefined || v < 0 ? [] : [{ label, value: v, role: 'ours' as const }];
  });
  const phases = MEMORY_PHASES.map((p) => p.key).join(' → ');
  return [
    ...(perPhase.length === 0 ? [] : [{ kind: 'bars' as const, title: 'Memory: cityops up RSS, highest sample of each phase', unit: 'MiB', bars: [...perPhase, { label: 'target', value: MEMORY_TARGET_RSS_MIB, role: 'target' as const }] }]),
    ...lines(`Memory: cityops up RSS and V8 heap, every second (${phases})`, 'MiB', samples, [
      ['RSS (VmRSS)', 'rss_mib'],
      ['V8 heap total', 'heap_total_mib'],
      ['V8 heap used', 'heap_used_mib'],
      ['external (Buffers, chDB results)', 'external_mib'],
      ['chDB tracked (its own account)', 'engine_tracked_mib'],
    ], [{ label: 'target', value: MEMORY_TARGET_RSS_MIB }]),
    ...lines(`Memory: ingest's buffered rows (admitted, buffered, in flight) (${phases})`, 'rows', samples, [['cityops_ingest_buffered_rows', 'buffered_rows']]),
  ];
}
