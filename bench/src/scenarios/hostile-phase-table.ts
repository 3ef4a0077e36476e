import { HOSTILE_PHASES, type HostilePhaseKey } from '../charts/hostile-charts.ts';

export interface PhaseResult {
  readonly key: HostilePhaseKey;
  readonly seconds: number;
  readonly figures: Record<string, number>;
}

/** The table of the report: a row per phase, its figures against the quiet baseline. */
export function phaseTable(phases: readonly PhaseResult[], all: Record<string, number>) {
  const cell = (v: number | undefined) => (v === undefined || v < 0 ? '–' : v);
  return {
    title: 'Phases (each as long as the others; the attacks from their own addresses)',
    columns: ['phase', 'gateway batches/s', 'PUBACK p50 ms', 'PUBACK p99 ms', 'p99 / quiet (attacks: the quiet phases around; quiet: the first)', 'rate / quiet', 'broker RSS max MiB', 'RSS growth MiB (attacks: beyond the quiet phases around)', 'broker CPU cores', 'broker loop delay p99 ms', 'WAL append p99 ≤ ms (received → written)', 'store inserts, p99 ≤ ms', 'attack sockets/s', 'attacker CPU cores', 'refused packets', 'refused sockets (address, unauth., deadline)', 'refused CONNECT rate, failed logins', 'unauth. sockets mid-phase'],
    rows: phases.map((p) => {
      const f = p.figures;
      return [
        HOSTILE_PHASES.find((h) => h.key === p.key)!.label,
        f.acked_batches_per_second!,
        f.puback_p50_ms!,
        f.puback_p99_ms!,
        all[`${p.key}_p99_to_quiet`]!,
        all[`${p.key}_rate_to_quiet`]!,
        f.broker_rss_max_mib!,
        all[`${p.key}_broker_rss_growth_beyond_quiet_mib`] === undefined ? f.broker_rss_growth_mib! : `${f.broker_rss_growth_mib} (${all[`${p.key}_broker_rss_growth_beyond_quiet_mib`]})`,
        f.broker_cpu_cores!,
        f.broker_loop_delay_p99_ms!,
        cell(f.wal_append_p99_ms_at_most),
        `${f.store_flushes}, ${cell(f.store_flush_p99_ms_at_most)}`,
        cell(f.attack_sockets_per_second),
        f.attacker_cpu_cores!,
        f.refused_packets!,
        `${f.refused_sockets_address_connections}, ${f.refused_sockets_unauthenticated}, ${f.refused_sockets_connect_timeout}`,
        `${f.refused_connection_rate}, ${f.refused_logins}`,
        f.unauthenticated_sockets_mid!,
      ];
    }),
  };
}

