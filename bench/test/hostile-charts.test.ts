import { describe, expect, it } from 'vitest';
import type { BarChart } from '../src/charts/chart-spec.ts';
import { hostileCharts } from '../src/charts/hostile-charts.ts';

describe('hostile charts', () => {
  it('draws each attack\'s median ratios and memory against the targets, leaving out attacks not measured', () => {
    const figures: Record<string, number> = {
      none_p99_to_quiet: 1.05, none_rate_to_quiet: 1, none_broker_rss_growth_beyond_quiet_mib: -3, none_broker_heap_growth_mib: 4,
      oversized_connect_p99_to_quiet: 1.1, oversized_connect_rate_to_quiet: 0.99, oversized_connect_broker_rss_growth_beyond_quiet_mib: 12, oversized_connect_broker_heap_growth_mib: 6,
    };
    const [p99, rate, memory] = hostileCharts({ figures }) as BarChart[];
    expect(p99!.bars.map((b) => [b.label, b.value, b.role])).toEqual([
      ['no attack (control)', 1.05, 'ours'],
      ['oversized CONNECT', 1.1, 'ours'],
      ['target', 1.2, 'target'],
    ]);
    expect(rate!.bars.at(-1)).toEqual({ label: 'target (at least)', value: 1 / 1.2, role: 'target' });
    // A window that grew less than its neighbours is drawn at 0, not below the axis.
    expect(memory!.bars.map((b) => [b.label, b.value])).toEqual([
      ['no attack (control): RSS beyond quiet (median)', 0],
      ['oversized CONNECT: RSS beyond quiet (median)', 12],
      ['no attack (control): V8 heap (largest)', 4],
      ['oversized CONNECT: V8 heap (largest)', 6],
      ['target', 50],
    ]);
    expect(hostileCharts({ figures: {} })).toEqual([]);
  });
});
