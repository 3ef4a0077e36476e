import { describe, expect, it } from 'vitest';
import type { BarChart } from '../src/charts/chart-spec.ts';
import { HOSTILE_PHASES, hostileCharts } from '../src/charts/hostile-charts.ts';

describe('hostile charts', () => {
  it('draws each phase against targets taken from the quiet phases, leaving out phases not measured', () => {
    const figures: Record<string, number> = { quiet_puback_p99_ms: 10, quiet_acked_batches_per_second: 200, quiet_broker_rss_growth_mib: 4 };
    for (const { key } of HOSTILE_PHASES.filter((p) => !p.quiet).slice(0, 2)) Object.assign(figures, { [`${key}_puback_p99_ms`]: 30, [`${key}_acked_batches_per_second`]: 198, [`${key}_broker_rss_growth_mib`]: 12 });
    figures.slowloris_puback_p99_ms = -1; // unknown: no bar
    const [p99, rate, growth] = hostileCharts({ figures }) as BarChart[];
    expect(p99!.bars.map((b) => [b.label, b.value, b.role])).toEqual([
      ['quiet (baseline)', 10, 'ours'],
      ['oversized CONNECT', 30, 'ours'],
      ['oversized PUBLISH, logged in', 30, 'ours'],
      ['target: 1.2 × quiet (mean)', 12, 'target'],
    ]);
    expect(rate!.bars.at(-1)).toEqual({ label: 'target: quiet (mean) / 1.2', value: 200 / 1.2, role: 'target' });
    expect(growth!.bars.at(-1)).toEqual({ label: "target: an attack's growth beyond its quiet neighbours'", value: 50, role: 'target' });
    // The target line from the quiet phases' mean: 10 and 20 ms -> 1.2 × 15.
    const [withSecond] = hostileCharts({ figures: { ...figures, quiet_2_puback_p99_ms: 20 } }) as BarChart[];
    expect(withSecond!.bars.at(-1)).toEqual({ label: 'target: 1.2 × quiet (mean)', value: 18, role: 'target' });
    expect(hostileCharts({ figures: {} })).toEqual([]);
  });
});
