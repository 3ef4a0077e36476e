import { HOSTILE_ATTACKS } from '../charts/hostile-charts.ts';
import type { HostileWindow } from './hostile-pairs.ts';

/** The table of the report: the quiet windows, then a row per attack, its windows against their quiet neighbours. */
export function attackTable(all: Readonly<Record<string, number>>, rounds: number, windowS: number) {
  const cell = (v: number | undefined) => (v === undefined || v < 0 ? '–' : v);
  // Differences from the quiet windows around, which may be below zero.
  const signed = (v: number | undefined) => (v === undefined ? '–' : v);
  const rows = [{ key: 'quiet', label: 'quiet windows' }, ...HOSTILE_ATTACKS].map(({ key, label }) => {
    const f = (name: string) => all[`${key}_${name}`];
    const quiet = key === 'quiet';
    return [
      label,
      cell(f('windows')),
      cell(f('acked_batches_per_second')),
      cell(f('puback_p99_ms')),
      quiet ? '–' : `${cell(f('p99_to_quiet'))} (${cell(f('p99_to_quiet_max'))})`,
      quiet ? '–' : cell(f('rate_to_quiet')),
      cell(f('broker_rss_growth_mib')),
      quiet ? '–' : `${signed(f('broker_rss_growth_beyond_quiet_mib'))} (${signed(f('broker_rss_growth_beyond_quiet_max_mib'))})`,
      cell(f('broker_heap_growth_mib')),
      quiet ? cell(f('broker_cpu_cores')) : `${cell(f('broker_cpu_cores'))} (${signed(f('broker_cpu_above_quiet_cores'))})`,
      cell(f('broker_loop_delay_p99_ms')),
      cell(f('wal_append_p99_ms_at_most')),
      cell(f('attack_sockets_per_second')),
      cell(f('attacker_cpu_cores')),
      cell(f('refused_packets')),
      `${cell(f('refused_sockets_address_connections'))}, ${cell(f('refused_sockets_unauthenticated'))}, ${cell(f('refused_sockets_connect_timeout'))}`,
      `${cell(f('refused_connection_rate'))}, ${cell(f('refused_logins'))}`,
      cell(f('unauthenticated_sockets_max')),
      `${cell(f('broker_gc_major'))}, ${cell(f('broker_gc_major_ms'))}`,
    ];
  });
  return {
    title: `Windows of ${windowS} s, ${rounds} rounds (medians over an attack's windows unless said; each attack window against the mean of the quiet windows on either side)`,
    columns: [
      'window', 'windows', 'gateway batches/s', 'PUBACK p99 ms', 'p99 / quiet around (largest)', 'rate / quiet around', 'broker RSS growth MiB',
      'RSS growth beyond quiet around, MiB (largest)', 'V8 heap growth MiB (largest)', 'broker CPU cores (above quiet around)', 'broker loop delay p99 ms (largest)',
      'WAL append p99 ≤ ms (largest)', 'attack sockets/s', 'attacker CPU cores', 'refused packets (all windows)', 'refused sockets (address, unauth., deadline)',
      'refused CONNECT rate, failed logins', 'unauth. sockets (largest)', 'broker major GCs, their ms (medians)',
    ],
    rows,
  };
}

/** Every window in the order run: what each round did, and where a p99 came from (the broker's GCs, loop, log and store). */
export function windowTable(windows: readonly HostileWindow[]) {
  const cell = (v: number | undefined) => (v === undefined || v < 0 ? '–' : v);
  const label = (kind: HostileWindow['kind']) => (kind === 'quiet' ? 'quiet' : HOSTILE_ATTACKS.find((a) => a.key === kind)!.label);
  return {
    title: 'Every window, in the order run',
    columns: ['#', 'window', 'PUBACK p99 ms', 'gateway batches/s', 'broker CPU cores', 'broker RSS growth MiB', 'V8 heap growth MiB', 'broker major GCs', 'major GC ms', 'all GC ms', 'loop delay p99 ms', 'WAL append p99 ≤ ms', 'store inserts, p99 ≤ ms', 'settle s'],
    rows: windows.map((w, i) => {
      const f = w.figures;
      return [
        i + 1, label(w.kind), cell(f.puback_p99_ms), cell(f.acked_batches_per_second), cell(f.broker_cpu_cores), cell(f.broker_rss_growth_mib), cell(f.broker_heap_growth_mib),
        cell(f.broker_gc_major), cell(f.broker_gc_major_ms), cell(f.broker_gc_ms), cell(f.broker_loop_delay_p99_ms), cell(f.wal_append_p99_ms_at_most),
        `${cell(f.store_flushes)}, ${cell(f.store_flush_p99_ms_at_most)}`, cell(f.settle_s),
      ];
    }),
  };
}
